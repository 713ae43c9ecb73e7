"""Benchmarks: each prints its figures beside an anchor measured in the same run.

`python -m benchmarks DATA` (`make bench`) runs them all and prints one table.
"""
