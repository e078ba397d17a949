"""The report's CSV files: runs.csv (one row per worker result) and summary.csv (one per point).

Column order is stable (DESIGN §3 and §5 first, in the documented order);
fields nobody documented are appended, sorted, so nothing collected is lost.
"""
from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .. import metrics
from . import model

RESULT_FIELDS = [
    "schema",
    "workload",
    "run_id",
    "index",
    "count",
    "node",
    "pod",
    "t_start_ns",
    "t_end_ns",
    "compute_s",
    "samples",
    "inside",
    "seed",
    "kernel",
    "segment",
    "frames_in",
    "frames_out",
    "media_s",
    "bytes_out",
]
RUN_FIELDS = [
    "run_id",
    "repetition",
    "mode",
    "warmup",
    "workers",
    "order",
    "work",
    "t_e2e_s",
    "valid",
    "throttled",
    "oversubscribed",
]
# run fields first (they identify the row), then the result-line fields
RUNS_COLUMNS = RUN_FIELDS + [f for f in RESULT_FIELDS if f not in RUN_FIELDS]

# one definition of the summary's column order: metrics (DESIGN §5's stable fields first)
SUMMARY_COLUMNS = list(metrics.STABLE_SUMMARY_FIELDS)
SUMMARY_EXTRA_COLUMNS = [f for f in metrics.SUMMARY_FIELDS if f not in metrics.STABLE_SUMMARY_FIELDS]


def cell(value: Any) -> str:
    """CSV text of a value: empty for None, lower-case booleans, repr-exact floats, JSON for containers."""
    return model.text_of(value, none="", yes="true", no="false",
                         number=lambda v: repr(v) if math.isfinite(v) else "")


def run_rows(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One flat row per worker result (run fields + result fields); a run without results gives one row."""
    rows: list[dict[str, Any]] = []
    for run in runs:
        run_part = {k: v for k, v in run.items() if k != "results"}
        results = run.get("results") or [{}]
        for result in results:
            row = dict(result)
            row.update(run_part)  # the run's identity wins (run_id, workload, mode...)
            rows.append(row)
    return rows


def columns(rows: Iterable[Mapping[str, Any]], stable: Sequence[str]) -> list[str]:
    """The stable columns, then every other key seen in rows, sorted."""
    seen: set[str] = set()
    for row in rows:
        seen.update(row)
    return list(stable) + sorted(seen - set(stable))


def to_csv(rows: Sequence[Mapping[str, Any]], stable: Sequence[str]) -> str:
    header = columns(rows, stable)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([cell(row.get(name)) for name in header])
    return buffer.getvalue()


def runs_csv(runs: Sequence[Mapping[str, Any]]) -> str:
    return to_csv(run_rows(runs), RUNS_COLUMNS)


def summary_csv(summary: Sequence[Mapping[str, Any]]) -> str:
    return to_csv(summary, SUMMARY_COLUMNS + SUMMARY_EXTRA_COLUMNS)
