#!/usr/bin/env python
"""How long installing fastmlp from source takes, and what the wheel and sdist ship.

    python bench/build_time.py

Copies the checkout's tracked files to a temporary directory and there builds the wheel
with `pip wheel . --no-deps --no-build-isolation` (Cython translates csrc/*.pyx to C and
the C compiler builds three extension modules: the compile itself, without downloading
the build requirements) and the sdist with `setup.py sdist`, timing each; then lists
LICENSE's presence in both.  Prints the CPU model and core count.  A real
`pip install .` also downloads and installs its build requirements (setuptools, Cython,
numpy, scipy) into an isolated environment first, which this leaves out.
"""
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

from _common import cpu_model, usage_if_asked

REPO = Path(__file__).resolve().parents[1]



def main():
    usage_if_asked(__doc__)
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        for name in files:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, src / name)
        out = Path(tmp) / "dist"
        t0 = time.perf_counter()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps",
                        "--no-build-isolation", "-q", "-w", str(out)], cwd=src, check=True)
        t_wheel = time.perf_counter() - t0
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_wheel = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d", str(out)], cwd=src,
                       check=True, capture_output=True)
        t_sdist = time.perf_counter() - t0
        wheel = next(out.glob("*.whl"))
        sdist = next(out.glob("*.tar.gz"))
        in_wheel = [n for n in zipfile.ZipFile(wheel).namelist() if "LICENSE" in n]
        in_sdist = [n for n in tarfile.open(sdist).getnames() if n.endswith("LICENSE")]
    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.1f}")
    print(f"wheel (Cython + C compiler, 3 extension modules): {t_wheel:.0f} s wall-clock, "
          f"{cpu_wheel:.0f} s of CPU time")
    print(f"sdist: {t_sdist:.0f} s")
    print(f"LICENSE in the wheel: {in_wheel or 'MISSING'}")
    print(f"LICENSE in the sdist: {in_sdist or 'MISSING'}")


if __name__ == "__main__":
    main()
