"""``make bench``: run every ``benchmarks/bench_*.py`` (or the ones named on the command line)."""

import importlib
import pkgutil
import sys
import time

import benchmarks


def main(argv: list[str]) -> int:
    names = argv or sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_"))
    status = 0
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        t0 = time.perf_counter()
        status |= importlib.import_module(f"benchmarks.{name}").main() or 0
        print(f"({name}: {time.perf_counter() - t0:.1f} s)", flush=True)
    return status


sys.exit(main(sys.argv[1:]))
