"""Benchmark harness: synthetic source payloads at scale, run through the pipeline's own stages.

Why a package of its own: speed and memory are measured here and only here (tests never
assert on timing). ``python -m benchmarks SIZE`` builds a throw-away warehouse with the real
COG, generates deterministic payloads whose distributions come from the real sources
(``benchmarks.distributions``), runs parse → normalise → geography → dedupe → publish →
validate → lookup in separate processes (as Dagster's executor runs assets), and prints one
table with seconds, rows/s, peak RSS and the targets of issue 8. See ``benchmarks/README.md``.
"""
