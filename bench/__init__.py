"""Benchmarks at company scale: ``python -m bench.run [--quick] [--only NAME ...] [--database-url URL]``.

They print figures and write them into bench/RESULTS.md; they are not timed tests (tests/test_bench.py only
runs the quick path at a tiny size so that the harness does not rot).
"""
