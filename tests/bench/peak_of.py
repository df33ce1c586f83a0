"""`python -m tests.bench.peak_of FILE MODULE ARGS...`: run MODULE as `python -m MODULE
ARGS...` would, then write this process's peak RSS in MB to FILE.

The peak is VmHWM, not the rusage `ru_maxrss` that `os.wait4` gives the parent: Linux
carries ru_maxrss across exec, so a CLI started late in a `make bench` run reported the
bench process's own peak (223 MB for an export whose own peak is about 75 MB), while
VmHWM belongs to the new program image alone.
"""

from __future__ import annotations

import atexit
import runpy
import sys
from pathlib import Path


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main() -> None:
    out, module, *args = sys.argv[1:]
    atexit.register(lambda: Path(out).write_text(f"{vm_hwm_mb():.1f}"))
    sys.argv = [module, *args]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
