"""Benchmarks: each ``benchmarks/bench_*.py`` has ``main() -> int`` and prints figures beside baselines."""
