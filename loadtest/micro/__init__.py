"""Micro-benchmarks: one mechanism measured alone (script calls, SQL writes, SQLite sync)."""
