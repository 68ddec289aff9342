"""`python -m benchmarks.freshness`: how fresh a live stream stays while the API grows by
100,000 records a second.

The API is `rest_stream.demo.DemoApi` (`shape="nested"`) on loopback, in this process. An
appender thread grows it at `--rate` records/s (default 100,000) for `--duration` seconds
(default 30): every `--tick` (10 ms) it appends the records due by then in one
`DemoApi.append`, each carrying `appended`, the wall time (`time.time()`) just before that
append (the records are served from the end of the append, a few ms later at most).

The stream is the one a user writes for a live feed with increasing ids:
`offsetType=incremental` over `/items?limit=1000&since_id=…` (1000: the API's largest page),
a `latestOffsetUrl` probe (`/latest`, `$.max_id`) for each batch's end,
`streamingInterval` 0.5 s, `trigger(processingTime="0.5 seconds")` (`--trigger`), the
nested records' schema plus `appended`, on `local[2]` (`harness.session`). The sink is
`foreachBatch`: it collects the micro-batch's `id` and `appended` columns (`toArrow`) and notes
the wall time when it has them; a record's lag is that time minus its `appended`.
(`clock_stamps` timestamps are not used: they space the records of one append 1 ms apart,
so at 100,000 records/s they run ahead of the clock, and a millisecond timestamp offset
cannot page through 100 records stamped in the same millisecond.)

The query starts first; once its first trigger has run, 1,000 warm-up records are appended
and the run waits until the sink has them (Spark starts the readers' Python workers at the
first batch with data), so Spark's start-up is not counted as lag. Then the appender runs
for `--duration` seconds; when it stops, the query runs until the sink has every record (or
`--drain` seconds pass), then stops. The warm-up records are checked (exactly once) but are
not in the lag and rate figures.

Printed per rate (`--rates` runs several, one after the other, each on a fresh API):

- appended/s: records appended over the appender's wall time (below `--rate` when the
  appender itself cannot keep up);
- delivered/s: records in the sink over the time from the first append to the last record
  in the sink;
- lag p50 / p95 / max (s), over every record; first ¼ / last ¼: the median lag of the
  records appended in the first and the last quarter of the append window. "keeps up":
  every record delivered exactly once, the appender at ≥ 95 % of `--rate`, and the last
  quarter's median lag at most 1 s above the first quarter's (the backlog does not grow);
- lost / duplicated: ids 1 … N (N = records appended) missing from the sink, or in it twice;
- where time goes: micro-batches, their median input rows, and from Spark's progress
  (`durationMs`) the median `triggerExecution`, `latestOffset` (the probe, in the source's
  process) and `addBatch` (reading the batch and the sink) per micro-batch;
- CPU seconds over the run (`harness.load`): this process (the API, the appender, the sink),
  the JVM, the Python processes under it (the stream's source runner and the readers), and
  the share of the cores other processes on the machine used; under the table the same per
  record appended (the appender's own CPU, `time.thread_time`, apart), the share of the
  cores the run used, and Spark's own time per micro-batch (`triggerExecution` −
  `addBatch`): together, what limits the rate.

With `streamingInterval` equal to the trigger's interval (both 0.5 s), the stream is polled
at every trigger: the interval runs from the start of one poll to the start of the next, less
a tenth of it (`PollSchedule`).

JSON: `benchmarks/results/freshness.json` (`--output`).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.harness.config import ROOT

RESULTS = ROOT / "benchmarks" / "results" / "freshness.json"
PAGE_SIZE = 1000  # DemoApi's largest page
RATE = 100_000.0  # records appended per second
DURATION = 30.0  # seconds of appending


class Appender(threading.Thread):
    """Grows `api` by `rate` records/s for `duration` s, one `append` every `tick` s, each
    record stamped `appended` (module docstring)."""

    def __init__(self, api: Any, rate: float, duration: float, tick: float = 0.01) -> None:
        super().__init__(name="freshness-appender", daemon=True)
        self.api, self.rate, self.duration, self.tick = api, rate, duration, tick
        self.appended = 0
        self.appends = 0
        self.started_at = self.ended_at = 0.0  # time.time()
        self.cpu_s = 0.0
        self.behind = 0  # most records due and not yet appended at one tick
        self._stop_event = threading.Event()

    def run(self) -> None:
        cpu = time.thread_time()
        start = time.perf_counter()
        self.started_at = time.time()
        while not self._stop_event.is_set():
            elapsed = min(time.perf_counter() - start, self.duration)
            due = int(elapsed * self.rate) - self.appended
            if due > 0:
                self.behind = max(self.behind, due)
                self.api.append(due, fields={"appended": time.time()})
                gc.freeze()  # records live on: keep the collector's full passes off them
                self.appended += due
                self.appends += 1
            if elapsed >= self.duration:
                break
            time.sleep(max(0.0, self.tick - (time.perf_counter() - start - elapsed)))
        self.ended_at = time.time()
        self.cpu_s = time.thread_time() - cpu

    def stop(self) -> None:
        self._stop_event.set()


@dataclass
class Freshness:
    """One run at one rate."""

    rate: float
    duration: float
    trigger: str
    warm_records: int  # ids 1 … warm_records: the warm-up, out of the lag figures
    appended: int  # by the appender: ids warm_records + 1 on
    append_s: float
    appender_cpu_s: float
    appender_behind: int
    delivered: int
    distinct: int
    lost: int
    duplicated: int
    first_append: float
    last_delivery: float
    lag: dict[str, float]
    batches: int
    progress: dict[str, float | None]
    cpu: dict[str, float]
    error: str = ""
    batch_lags: list[tuple[int, float, int]] = field(default_factory=list)

    @property
    def appended_per_s(self) -> float:
        return self.appended / self.append_s if self.append_s else 0.0

    @property
    def delivered_per_s(self) -> float:
        span = self.last_delivery - self.first_append
        return (self.delivered - self.warm_records) / span if span > 0 else 0.0

    @property
    def exactly_once(self) -> bool:
        return not self.error and self.lost == 0 and self.duplicated == 0

    @property
    def keeps_up(self) -> bool:
        first, last = self.lag.get("first_quarter_p50"), self.lag.get("last_quarter_p50")
        steady = first is not None and last is not None and last <= first + 1.0
        return self.exactly_once and self.appended_per_s >= 0.95 * self.rate and steady

    def cpu_us_per_record(self) -> dict[str, float]:
        """CPU microseconds per record appended, by part (`cpu`; the appender apart from
        the rest of this process: serving the API and the sink)."""
        n = self.appended
        if not n or not self.cpu:
            return {}
        return {
            "appender": self.appender_cpu_s / n * 1e6,
            "api_serving_and_sink": (self.cpu["this_process"] - self.appender_cpu_s) / n * 1e6,
            "jvm": self.cpu["jvm"] / n * 1e6,
            "python_workers": self.cpu["python_workers"] / n * 1e6,
        }

    def to_json(self) -> dict[str, Any]:
        extra = {"appended_per_s": self.appended_per_s, "delivered_per_s": self.delivered_per_s}
        extra["cpu_us_per_record"] = self.cpu_us_per_record()
        return asdict(self) | extra | {"exactly_once": self.exactly_once, "keeps_up": self.keeps_up}


def stream_options(base: str, interval: float) -> dict[str, str]:
    """What a user writes to follow a live feed with increasing ids."""
    return {
        "url": f"{base}/items?limit={PAGE_SIZE}&since_id={{since_id}}",
        "offsetType": "incremental",
        "offsetField": "since_id",
        "initialOffset": "1",
        "latestOffsetUrl": f"{base}/latest",
        "latestOffsetPath": "$.max_id",
        "recordsPath": "$.data",
        "streamingInterval": f"{interval:g}",
    }


def _percentile(sorted_values: Any, q: float) -> float:
    import numpy as np

    return float(np.percentile(sorted_values, q)) if len(sorted_values) else float("nan")


def _median_ms(progress: list[dict[str, Any]], name: str) -> float | None:
    values = [p["durationMs"][name] for p in progress if name in p.get("durationMs", {})]
    return statistics.median(values) / 1000 if values else None


def measure(
    spark: Any,
    rate: float,
    duration: float,
    *,
    trigger_s: float = 0.5,
    interval_s: float = 0.5,
    tick_s: float = 0.01,
    drain_s: float = 60.0,
    warm_records: int = 1000,
) -> Freshness:
    """One run at `rate` records/s for `duration` s on `spark` (module docstring)."""
    import numpy as np
    import pyarrow as pa
    from pyspark.sql.types import DoubleType, StructField, StructType

    from benchmarks.harness.config import SCHEMAS
    from benchmarks.harness.load import CpuWatch, cpu_by_kind, own_cpu_s
    from rest_stream.demo import DemoApi

    schema = StructType([*SCHEMAS["nested"].fields, StructField("appended", DoubleType())])
    api = DemoApi(0, shape="nested").start()
    arrived: list[tuple[int, float, pa.Table]] = []
    lock = threading.Lock()

    def sink(df: Any, batch_id: int) -> None:
        table = df.select("id", "appended").toArrow()
        now = time.time()
        with lock:
            arrived.append((batch_id, now, table))

    def delivered() -> int:
        with lock:
            return sum(t.num_rows for _, _, t in arrived)

    def total() -> int:
        return warm_records + appender.appended

    appender = Appender(api, rate, duration, tick_s)
    trigger = f"{trigger_s:g} seconds"
    error = ""
    spark.conf.set("spark.sql.streaming.numRecentProgressUpdates", "100000")
    progress: list[dict[str, Any]] = []
    cpu: dict[str, float] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="freshness-") as checkpoint:
            frame = spark.readStream.format("rest").options(**stream_options(api.url, interval_s))
            query = (
                frame.schema(schema)
                .load()
                .writeStream.foreachBatch(sink)
                .trigger(processingTime=trigger)
                .option("checkpointLocation", checkpoint)
                .start()
            )
            try:
                deadline = time.monotonic() + 120
                while not query.recentProgress and time.monotonic() < deadline:
                    time.sleep(0.05)  # the first trigger has run: the source is up
                # warm-up: Spark starts the readers' Python workers at the first batch
                # with data; those records are checked but not in the lag figures
                api.append(warm_records, fields={"appended": time.time()})
                while delivered() < warm_records and time.monotonic() < deadline:
                    time.sleep(0.05)
                warm = len(query.recentProgress)
                watch, own, kinds = CpuWatch(), own_cpu_s(), cpu_by_kind()
                wall = time.perf_counter()
                appender.start()
                appender.join()
                deadline = time.monotonic() + drain_s
                while delivered() < total() and time.monotonic() < deadline:
                    if query.exception() is not None:
                        break
                    time.sleep(0.05)
                wall = time.perf_counter() - wall
                after = cpu_by_kind()
                cpu = {
                    "this_process": own_cpu_s() - own,
                    "jvm": after["jvm"] - kinds["jvm"],
                    "python_workers": after["python"] - kinds["python"],
                    "wall": wall,
                    "other_share": watch.other_share(wall),
                }
                progress = [json.loads(p.json) for p in query.recentProgress[warm:]]
                exc = query.exception()
                if exc is not None:
                    error = f"{type(exc).__name__}: {str(exc)[:300]}"
            finally:
                appender.stop()
                query.stop()
    finally:
        api.stop()
        gc.unfreeze()
    total = warm_records + appender.appended
    with lock:
        batches = list(arrived)
    ids = [t.column("id").to_numpy() for _, _, t in batches if t.num_rows]
    stamps = [t.column("appended").to_numpy() for _, _, t in batches if t.num_rows]
    lags = [now - s for (_, now, t), s in zip([b for b in batches if b[2].num_rows], stamps)]
    all_ids = np.concatenate(ids) if ids else np.array([], dtype=np.int64)
    all_stamps = np.concatenate(stamps) if stamps else np.array([])
    all_lags = np.concatenate(lags) if lags else np.array([])
    unique, counts = np.unique(all_ids, return_counts=True)
    expected = np.arange(1, total + 1)
    lost = int(np.setdiff1d(expected, unique).size)
    duplicated = int((counts > 1).sum()) + int(np.setdiff1d(unique, expected).size)
    measured = all_ids > warm_records  # the appender's records, not the warm-up's
    all_lags, all_stamps = all_lags[measured], all_stamps[measured]
    lag: dict[str, float] = {}
    if all_lags.size:
        lag = {
            "p50": _percentile(all_lags, 50),
            "p95": _percentile(all_lags, 95),
            "max": float(all_lags.max()),
            "min": float(all_lags.min()),
        }
        window = appender.ended_at - appender.started_at
        first = all_lags[all_stamps < appender.started_at + window / 4]
        last = all_lags[all_stamps >= appender.ended_at - window / 4]
        if first.size and last.size:
            lag["first_quarter_p50"] = _percentile(first, 50)
            lag["last_quarter_p50"] = _percentile(last, 50)
    batch_lags = [
        (batch_id, float(np.median(now - s)), len(s))
        for (batch_id, now, t), s in zip([b for b in batches if b[2].num_rows], stamps)
    ]
    rows = [p.get("numInputRows", 0) for p in progress]
    return Freshness(
        rate=rate,
        duration=duration,
        trigger=trigger,
        warm_records=warm_records,
        appended=appender.appended,
        append_s=appender.ended_at - appender.started_at,
        appender_cpu_s=appender.cpu_s,
        appender_behind=appender.behind,
        delivered=int(all_ids.size),
        distinct=int(unique.size),
        lost=lost,
        duplicated=duplicated,
        first_append=appender.started_at,
        last_delivery=max((now for _, now, t in batches if t.num_rows), default=0.0),
        lag=lag,
        batches=sum(1 for _, _, t in batches if t.num_rows),
        progress={
            "micro_batches": float(len(progress)),
            "rows_per_batch_p50": statistics.median(rows) if rows else None,
            "trigger_execution_s_p50": _median_ms(progress, "triggerExecution"),
            "latest_offset_s_p50": _median_ms(progress, "latestOffset"),
            "add_batch_s_p50": _median_ms(progress, "addBatch"),
            "wal_commit_s_p50": _median_ms(progress, "walCommit"),
            "commit_offsets_s_p50": _median_ms(progress, "commitOffsets"),
        },
        cpu=cpu,
        error=error,
        batch_lags=batch_lags,
    )


# --- the report -------------------------------------------------------------------------------


def _s(value: float | None, spec: str = ".2f") -> str:
    return "–" if value is None else format(value, spec)


def table(runs: list[Freshness]) -> str:
    lines = [
        "| rate/s | appended/s | delivered/s | lag p50 / p95 / max s | first ¼ / last ¼ p50 s "
        "| lost / dup | keeps up | batches (rows p50) | trigger / latestOffset / addBatch s p50 "
        "| CPU s: API process / JVM / Python workers (wall s, other load) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        g, p, c = r.lag, r.progress, r.cpu
        lines.append(
            f"| {r.rate:,.0f} | {r.appended_per_s:,.0f} | {r.delivered_per_s:,.0f} "
            f"| {_s(g.get('p50'))} / {_s(g.get('p95'))} / {_s(g.get('max'))} "
            f"| {_s(g.get('first_quarter_p50'))} / {_s(g.get('last_quarter_p50'))} "
            f"| {r.lost} / {r.duplicated} | {'yes' if r.keeps_up else 'NO'} "
            f"| {r.batches} ({_s(p.get('rows_per_batch_p50'), ',.0f')}) "
            f"| {_s(p.get('trigger_execution_s_p50'))} / {_s(p.get('latest_offset_s_p50'))} / "
            f"{_s(p.get('add_batch_s_p50'))} "
            f"| {_s(c.get('this_process'), '.1f')} / {_s(c.get('jvm'), '.1f')} / "
            f"{_s(c.get('python_workers'), '.1f')} ({_s(c.get('wall'), '.1f')}, "
            f"{_s(c.get('other_share'), '.0%')}) |"
        )
    for r in runs:
        lines.append(describe_limits(r))
        if r.error:
            lines.append(f"{r.rate:,.0f}/s: {r.error}")
    return "\n".join(lines)


def describe_limits(r: Freshness) -> str:
    """Where the CPU went, per record, and how busy the machine was: what limits the rate."""
    per = r.cpu_us_per_record()
    if not per:
        return f"{r.rate:,.0f}/s: no CPU figures"
    wall, cores = r.cpu["wall"], psutil_cores()
    ours = (r.cpu["this_process"] + r.cpu["jvm"] + r.cpu["python_workers"]) / (wall * cores)
    overhead = [
        r.progress.get("trigger_execution_s_p50"),
        r.progress.get("add_batch_s_p50"),
    ]
    spark = (
        f"; per micro-batch, triggerExecution − addBatch (Spark's own: offset log, commit, "
        f"planning) {overhead[0] - overhead[1]:.2f} s"
        if overhead[0] is not None and overhead[1] is not None
        else ""
    )
    return (
        f"{r.rate:,.0f}/s: CPU µs per record: appender {per['appender']:.1f}, API serving + "
        f"sink {per['api_serving_and_sink']:.1f}, JVM {per['jvm']:.1f}, Python workers "
        f"(reader) {per['python_workers']:.1f}; of {cores} cores this run used "
        f"{ours:.0%}, other processes {r.cpu['other_share']:.0%}{spark}"
    )


def psutil_cores() -> int:
    import psutil

    return psutil.cpu_count() or 1


def write_json(path: Path, args: argparse.Namespace, runs: list[Freshness]) -> Path:
    payload = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "runs": [r.to_json() for r in runs],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
    return path


def _floats(text: str) -> list[float]:
    return [float(part) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.freshness", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--rates", "--rate", type=_floats, default=[RATE], help="records/s, comma-separated"
    )
    parser.add_argument("--duration", type=float, default=DURATION, help="seconds of appending")
    parser.add_argument("--trigger", type=float, default=0.5, help="processingTime trigger, s")
    parser.add_argument("--interval", type=float, default=0.5, help="streamingInterval, s")
    parser.add_argument("--tick", type=float, default=0.01, help="seconds between appends")
    parser.add_argument("--drain", type=float, default=60.0, help="most seconds to catch up")
    parser.add_argument("--output", type=Path, default=RESULTS, help="JSON path")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from benchmarks.harness.session import create_session

    spark = create_session()
    runs = []
    try:
        for rate in args.rates:
            runs.append(
                measure(
                    spark,
                    rate,
                    args.duration,
                    trigger_s=args.trigger,
                    interval_s=args.interval,
                    tick_s=args.tick,
                    drain_s=args.drain,
                )
            )
            print(f"  {rate:,.0f}/s done", flush=True)
    finally:
        spark.stop()
    print(
        f"\nfreshness: incremental ids with a /latest probe, {PAGE_SIZE} records a page, "
        f"processingTime {args.trigger:g} s, streamingInterval {args.interval:g} s, "
        f"{args.duration:g} s of appends every {args.tick * 1000:g} ms, local[2]"
    )
    print(table(runs))
    print(f"JSON: {write_json(args.output, args, runs)}")
    return 0 if all(r.exactly_once for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
