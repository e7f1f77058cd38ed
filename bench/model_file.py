#!/usr/bin/env python
"""Memory and time of loading a model file (fastmlp.io.load), in a fresh process.

    python bench/model_file.py              a 160 MB float32 model (40M parameters)
    python bench/model_file.py --small      a 16 MB one (4M parameters)

Prints the file size, the loading process's peak RSS before and after the load
(VmHWM of /proc/self/status, Linux), the increase as a multiple of the file size,
and the load time; also the time to refuse the hostile corpus' 300,000-layer file.
No timing is compared with anything: these are absolute numbers of this machine.
"""
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import cpu_model, usage_if_asked

_LOAD = """
import sys, time
import fastmlp
def peak():     # VmHWM: this process's peak RSS (ru_maxrss would carry the parent's over exec)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmHWM:"))
before = peak()
t = time.perf_counter()
net = fastmlp.Network.load(sys.argv[1])
seconds = time.perf_counter() - t
print(before, peak(), seconds)
"""


def main():
    usage_if_asked(__doc__)
    import fastmlp
    from fastmlp import Network
    small = "--small" in sys.argv
    sizes = [1000, 2000, 1000, 10] if small else [2000, 10000, 2000, 10]
    print(f"fastmlp {fastmlp.__version__}, Python {platform.python_version()}, "
          f"CPU: {cpu_model()}, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.npz"
        Network(sizes, dtype=np.float32, seed=0).save(path)
        size = path.stat().st_size
        before, after, seconds = map(float, subprocess.run(
            [sys.executable, "-c", _LOAD, str(path)], capture_output=True, text=True,
            check=True).stdout.split())
        print(f"model {sizes}, float32: file {size / 2**20:.1f} MiB")
        print(f"load: peak RSS {before / 2**20:.1f} MiB before, {after / 2**20:.1f} MiB after; "
              f"increase {(after - before) / 2**20:.1f} MiB = {(after - before) / size:.2f}x "
              f"the file; {seconds:.2f} s")

        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        import hostile_files
        os.mkdir(Path(tmp) / "corpus")
        corpus = dict((p.name, p) for p, _ in hostile_files.model_corpus(Path(tmp) / "corpus"))
        deep = corpus["layers_300k.npz"]
        t = time.perf_counter()
        try:
            fastmlp.io.load(deep)
        except ValueError:
            pass
        print(f"a {deep.stat().st_size / 1024:.0f} KiB file declaring 300,000 layers: "
              f"refused in {time.perf_counter() - t:.2f} s")


if __name__ == "__main__":
    main()
