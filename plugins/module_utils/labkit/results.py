"""Parsing worker output: DESIGN §3 RESULT lines and seed 001's legacy log lines.

Workers print exactly one `RESULT <json>` line; nothing else is parsed. Old
`kubectl logs` from seed 001 (`Node <host>: π ≈ <estimate>, Time: <seconds>s`)
are accepted as legacy records so that they can be analysed honestly.
"""
from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import metrics

SCHEMA = 1
MAX_MALFORMED_EXAMPLES = 5
MAX_EXAMPLE_CHARS = 200
MAX_SKIPPED_SHOWN = 100  # a report lists this many skipped lines; the counts cover them all

# `kubectl logs --prefix` puts "[pod/<name>/<container>] " before every line.
KUBECTL_PREFIX = re.compile(r"^\[[^\]\s]*\]\s")
# `kubectl logs --timestamps` puts an RFC 3339 time (nanoseconds, Z or an offset) before every line.
KUBECTL_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})\s")
# What kubectl itself prints when it cannot give a pod's log (on stderr, often saved with 2>&1).
KUBECTL_ERROR = re.compile(r"^(?:Error from server\b|error:|Unable to connect to the server\b)", re.I)
RESULT_TOKEN = re.compile(r"^RESULT(?:\s+|$)")
# Anything that looks like the seed's line, numbers checked separately so that
# a garbled number is reported as malformed, not silently ignored.
LEGACY_SHAPE = re.compile(r"^Node\s+(?P<node>[^\s:]+):\s*(?P<rest>.*\bTime:.*)$")
LEGACY_VALUES = re.compile(
    r"^(?:π|pi|PI)\s*(?:≈|~=|~|=)\s*(?P<estimate>\S+?),\s*Time:\s*(?P<time>\S+?)s?\s*$"
)

COMMON_FIELDS: dict[str, tuple[type, ...]] = {
    "schema": (int,),
    "workload": (str,),
    "run_id": (str,),
    "index": (int,),
    "count": (int,),
    "node": (str,),
    "t_start_ns": (int,),
    "t_end_ns": (int,),
    "compute_s": (int, float),
}
WORKLOAD_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "pi": {"samples": (int,), "inside": (int,), "seed": (int,), "kernel": (str,)},
    "transcode": {
        "segment": (str, int),
        "frames_in": (int,),
        "frames_out": (int,),
        "media_s": (int, float),
        "bytes_out": (int,),
    },
}
OPTIONAL_FIELDS: dict[str, tuple[type, ...]] = {"pod": (str,)}
# The segment worker knows a segment's media duration only when the planner
# gave one; the last segment runs "to the end of the chunk" and reports null.
NULLABLE_FIELDS = frozenset({"media_s"})


class ResultError(ValueError):
    """A RESULT line whose JSON is not a valid DESIGN §3 record."""


@dataclass
class ParseOutcome:
    """What a block of worker output contained."""

    records: list[dict[str, Any]] = field(default_factory=list)
    legacy: list[dict[str, Any]] = field(default_factory=list)
    malformed: int = 0
    malformed_examples: list[dict[str, Any]] = field(default_factory=list)
    other: int = 0
    # every line left out, malformed or not recognised, in order (the first MAX_SKIPPED_SHOWN)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def _skip(self, line_no: int, line: str, kind: str, reason: str) -> dict[str, Any]:
        shown = line if len(line) <= MAX_EXAMPLE_CHARS else line[:MAX_EXAMPLE_CHARS] + "…"
        entry = {"line_no": line_no, "line": shown, "reason": reason, "kind": kind}
        if len(self.skipped) < MAX_SKIPPED_SHOWN:
            self.skipped.append(entry)
        return entry

    def add_malformed(self, line_no: int, line: str, reason: str) -> None:
        self.malformed += 1
        entry = self._skip(line_no, line, "malformed", reason)
        if len(self.malformed_examples) < MAX_MALFORMED_EXAMPLES:
            self.malformed_examples.append({k: entry[k] for k in ("line_no", "line", "reason")})

    def add_other(self, line_no: int, line: str) -> None:
        self.other += 1
        self._skip(line_no, line, "not recognised", unrecognised_reason(line))

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "legacy": self.legacy,
            "malformed": self.malformed,
            "malformed_examples": self.malformed_examples,
            "other": self.other,
            "skipped": self.skipped,
        }


def unrecognised_reason(line: str) -> str:
    """Why a line that is neither a RESULT line nor a seed-001 line was left out, in words."""
    if KUBECTL_ERROR.match(line):
        return "a kubectl error, not worker output: that pod's log was not read (is the pod gone?)"
    if line.upper().startswith("RESULT"):
        return "starts like RESULT but is not 'RESULT <json>'"
    return "not a RESULT line nor a seed-001 'Node <host>: π ≈ <estimate>, Time: <s>s' line"


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
    # bool is a subclass of int: true/false is never a count or a timestamp.
    if isinstance(value, bool):
        return False
    if float in types and isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, types)


def _type_names(types: tuple[type, ...]) -> str:
    names = {int: "integer", float: "number", str: "string"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def validate_record(record: Any) -> dict[str, Any]:
    """Check a decoded RESULT object against DESIGN §3; return it or raise ResultError."""
    if not isinstance(record, dict):
        raise ResultError(f"expected a JSON object, got {type(record).__name__}")
    missing = [name for name in COMMON_FIELDS if name not in record]
    if missing:
        raise ResultError("missing field(s): " + ", ".join(missing))
    if record["schema"] != SCHEMA or isinstance(record["schema"], bool):
        raise ResultError(f"schema is {record['schema']!r}, expected {SCHEMA}")
    workload = record["workload"]
    if workload not in WORKLOAD_FIELDS:
        raise ResultError(f"workload is {workload!r}, expected one of {', '.join(WORKLOAD_FIELDS)}")
    specific = WORKLOAD_FIELDS[workload]
    missing = [name for name in specific if name not in record]
    if missing:
        raise ResultError(f"missing {workload} field(s): " + ", ".join(missing))
    expected = {**COMMON_FIELDS, **specific, **{k: v for k, v in OPTIONAL_FIELDS.items() if k in record}}
    for name, types in expected.items():
        if record[name] is None and name in NULLABLE_FIELDS:
            continue
        if not _type_ok(record[name], types):
            raise ResultError(f"{name} is {record[name]!r}, expected {_type_names(types)}")
    if record["count"] < 1 or not 0 <= record["index"] < record["count"]:
        raise ResultError(f"index {record['index']} is outside 0..count-1 (count {record['count']})")
    if record["t_end_ns"] < record["t_start_ns"]:
        raise ResultError("t_end_ns is before t_start_ns")
    if record["compute_s"] < 0:
        raise ResultError(f"compute_s is negative ({record['compute_s']})")
    if workload == "pi" and not 0 <= record["inside"] <= record["samples"]:
        raise ResultError(f"inside {record['inside']} is outside 0..samples ({record['samples']})")
    if workload == "transcode":
        for name in ("frames_in", "frames_out", "media_s", "bytes_out"):
            if record[name] is not None and record[name] < 0:
                raise ResultError(f"{name} is negative ({record[name]})")
    return record


def strip_kubectl_prefix(line: str) -> str:
    """Drop what `kubectl logs` puts before a worker's line: `[pod/name/container] ` (--prefix),
    then an RFC 3339 time (--timestamps), in the order kubectl writes them."""
    return KUBECTL_TIMESTAMP.sub("", KUBECTL_PREFIX.sub("", line, count=1), count=1)


def _parse_legacy(line_no: int, line: str, outcome: ParseOutcome) -> bool:
    """Handle a seed-001 line; False when the line does not look like one at all."""
    shape = LEGACY_SHAPE.match(line)
    if not shape:
        return False
    values = LEGACY_VALUES.match(shape.group("rest"))
    if not values:
        outcome.add_malformed(line_no, line, "looks like a legacy 'Node <host>: π ≈ <estimate>, Time: <s>s' line but does not parse")
        return True
    try:
        estimate = float(values.group("estimate"))
        time_s = float(values.group("time"))
    except ValueError:
        outcome.add_malformed(line_no, line, "legacy line with an unparsable number")
        return True
    if not (math.isfinite(estimate) and math.isfinite(time_s)) or time_s < 0:
        outcome.add_malformed(line_no, line, "legacy line with a non-finite or negative number")
        return True
    outcome.legacy.append({"node": shape.group("node"), "estimate": estimate, "time_s": time_s, "legacy": True})
    return True


def parse_result_lines(text: str | Iterable[str]) -> ParseOutcome:
    """Parse worker output (a string or an iterable of lines) into records, legacy records and counts."""
    lines = text.splitlines() if isinstance(text, str) else [str(x) for x in text]
    outcome = ParseOutcome()
    for line_no, raw in enumerate(lines, start=1):
        line = strip_kubectl_prefix(raw.strip()).strip()
        if not line:
            continue
        token = RESULT_TOKEN.match(line)
        if token:
            payload = line[token.end():]
            try:
                decoded = json.loads(payload)
            except ValueError as err:
                outcome.add_malformed(line_no, line, f"RESULT line with bad JSON: {err}")
                continue
            try:
                outcome.records.append(validate_record(decoded))
            except ResultError as err:
                outcome.add_malformed(line_no, line, f"RESULT line: {err}")
            continue
        if not _parse_legacy(line_no, line, outcome):
            outcome.add_other(line_no, line)
    return outcome


def format_result_line(record: Mapping[str, Any]) -> str:
    """The compact one-line form a worker prints: `RESULT {"schema":1,...}`."""
    return "RESULT " + json.dumps(dict(record), separators=(",", ":"), allow_nan=False)


# --- seed 001's log import -------------------------------------------------------


def legacy_block(records: Sequence[Mapping[str, Any]], reference_s: float | None) -> dict[str, Any]:
    """DESIGN §5's `legacy` block: seed 001's arithmetic, reproduced and labelled, and the honest figure.

    seed_* use exactly the script's formulas (T_P = mean of the pod times,
    speed-up = T_S/T_P, efficiency = speed-up/N, linear ratio = N·T_P/T_S;
    bc's truncation to 4 decimals is not reproduced). Each pod did the full
    work concurrently, so the cluster finished N× the reference's work when
    the slowest pod finished: throughput_vs_reference = N·T_ref / max(times).
    """
    times = [float(r["time_s"]) for r in records]
    nodes = len(times)
    mean_time = statistics.fmean(times) if times else None
    slowest = max(times) if times else None
    have_reference = reference_s is not None and mean_time is not None and mean_time > 0 and reference_s > 0
    seed_speedup = reference_s / mean_time if have_reference else None
    block: dict[str, Any] = {
        "nodes": nodes,
        "mean_time_s": mean_time,
        "reference_s": reference_s,
        "seed_speedup": seed_speedup,
        "seed_efficiency": seed_speedup / nodes if seed_speedup is not None else None,
        "seed_linear_ratio": nodes * mean_time / reference_s if have_reference else None,
        "throughput_vs_reference": metrics.throughput_vs_reference(nodes, reference_s, slowest)
        if have_reference
        else None,
        "slowest_time_s": slowest,
        "times_s": times,
    }
    block["explanation"] = _legacy_explanation(block)
    return block


def _legacy_explanation(block: Mapping[str, Any]) -> str:
    nodes = block["nodes"]
    if nodes == 0:
        return "No legacy 'Node <host>: π ≈ …, Time: …s' lines were found in the log."
    if nodes == 1:
        text = (f"The one pod ran the full workload on its own; nothing was split. "
                f"It took {block['slowest_time_s']:.3g} s.")
    else:
        text = (
            f"Each of the {nodes} pods ran the full workload on its own, concurrently; nothing was split. "
            f"The pods took {block['mean_time_s']:.3g} s on average and the slowest {block['slowest_time_s']:.3g} s."
        )
    if block["reference_s"] is None:
        return text + (
            " No reference time was given (pi_reference_seconds), so no comparison is possible; "
            "seed 001's speed-up figures need one."
        )
    ref = block["reference_s"]
    return text + (
        f" Seed 001's script reports speed-up T_S/T_P = {ref:.3g}/{block['mean_time_s']:.3g} = "
        f"{block['seed_speedup']:.3g} and 'linear ratio' N·T_P/T_S = {block['seed_linear_ratio']:.4g}×, "
        f"which it reads as the cluster's throughput. That ratio is upside down: it grows when the pods get slower. "
        f"The cluster finished {nodes}× the reference's work when its {'' if nodes == 1 else 'slowest '}pod finished, after "
        f"{block['slowest_time_s']:.3g} s; the reference machine would need {nodes}·{ref:.3g} = {nodes * ref:.3g} s "
        f"for the same work, so the cluster's throughput is {block['throughput_vs_reference']:.2g}× the reference's."
    )


def legacy_runs(records: Sequence[Mapping[str, Any]], run_id: str) -> list[dict[str, Any]]:
    """One mode="legacy" run record (docs/ARCHITECTURE.md) for imported seed-001 logs.

    workers = number of pods; t_e2e_s = the slowest pod's time (the log holds
    no submit time, so this underestimates the true makespan); work is unknown.
    """
    if not records:
        return []
    count = len(records)
    results = [
        {
            "workload": "pi",
            "run_id": run_id,
            "index": index,
            "count": count,
            "node": str(record["node"]),
            "compute_s": float(record["time_s"]),
            "estimate": float(record["estimate"]),
            "legacy": True,
        }
        for index, record in enumerate(records)
    ]
    from .runs import PlannedRun, run_record  # here: runs imports the backends, which import this module

    planned = PlannedRun(run_id=run_id, workload="pi", mode="legacy", workers=count, repetition=1,
                         warmup=False, order=0, work=None)
    return [run_record(planned, max(r["compute_s"] for r in results), results).to_dict()]
