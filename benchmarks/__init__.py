"""Benchmarks of rest_stream: `python -m benchmarks.run --preset smoke|full` from the repo root.

Modules: `config` (presets, schema), `server` (the loopback benchmark API), `baseline` (the
seed-style `SimpleDataSourceStreamReader`), `limit` (async httpx, no Spark: the ceiling),
`variants` (one timed run of each variant), `rss` (worker memory sampling), `report` (medians,
table, JSON), `floor` (Spark's own per-query cost, a one-row source), `memory` (1M records in
one task) and `profile` (where rest_stream's time goes).
"""
