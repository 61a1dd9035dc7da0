"""doccount benchmarks: ``python -m bench [NAME ...] [--quick]`` (``make bench`` runs all).

Benchmarks are not tests: they run only when asked, never under ``make test``.
"""
