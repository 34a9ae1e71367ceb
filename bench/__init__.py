"""coursehub benchmarks: `make bench` (python -m bench) measures on its own isolated stack and
prints one table; each figure sits beside its baseline, measured in the same run."""
