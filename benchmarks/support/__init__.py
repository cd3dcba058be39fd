"""Helpers shared by the benchmark scripts (not benchmarks themselves: `make bench` runs only
the top-level ``benchmarks/*.py``)."""
