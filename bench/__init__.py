"""Benchmarks of async_qexp (``python -m bench`` or ``nox -s bench``); see ``bench/README.md``.

Benchmarks are never tests: they assert nothing; the tables they print are the output.
"""
