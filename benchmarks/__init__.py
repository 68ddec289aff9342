"""Benchmarks of rest_stream: `python -m benchmarks.run --preset smoke|full` (repo root).

`harness` runs things (presets, orchestration, Spark session, the loopback API, report,
charts), `measurements` times rest_stream itself, `comparators` are the references it is
compared with (seed-style baseline, the honest limit, Spark's floor) and `diagnostics` explain
where time and memory go. See `benchmarks/README.md`.
"""
