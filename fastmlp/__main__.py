"""`python -m fastmlp COMMAND`: the command line in fastmlp.cli."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
