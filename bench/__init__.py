"""Benchmarks: ``python -m bench <name>``. Not part of the test suite; they print numbers."""
