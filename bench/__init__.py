"""Benchmarks: ``make bench`` (or ``python -m bench [NAME ...] [--smoke]``).

Each measures the real services, started as operators start them, against a
baseline measured in the same run, prints a table and appends it to
``bench/results.md`` with the date, the machine and the commit. Not tests: they
report. CI runs only ``--smoke`` (tiny sizes) to keep them working.
"""
