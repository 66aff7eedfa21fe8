"""Benchmark scripts; run them directly, e.g. ``python bench/speed.py``."""
