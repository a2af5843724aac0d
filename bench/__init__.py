"""Benchmarks of Processing Dock: `python -m bench` (see bench/README.md). Not part of the test run."""
