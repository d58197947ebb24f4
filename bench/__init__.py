"""Throughput and latency benchmark: raw aiokafka against the outbox -> relay -> consumer -> inbox pipeline.

Run with `python -m bench` (or `make bench`); see bench/README.md. Not part of the test suite.
"""
