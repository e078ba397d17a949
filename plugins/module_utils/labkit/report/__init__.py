"""The report writer (DESIGN §5): one new folder per run, five files, a `latest-<workload>` link.

    write_report(reports_dir, workload, runs, context, extra=None, now=None, compare_to=None)
        -> {"path": folder, "files": {name: path}, "headline": {...}, "comparison": {...} | None}

Metrics come from labkit.metrics.analyse (one place per formula); this
package only lays them out: index.html (self-contained), summary.md,
runs.csv, summary.csv and results.json. Nothing is overwritten: the folder is
new (suffixed -2, -3… when the second is taken), every file is written under a
temporary name and renamed, and the latest link is replaced atomically.

Inputs (docs/ARCHITECTURE.md for the run record):

    context = {
        "nodes": [  # one dict per node, e.g. lab_node_context's `node`
            {"hostname", "model", "cores", "memory_bytes", "kernel", "page_size", "os", "arch", "governor",
             "temperature_c", "throttled": {...parse_throttled...} | None, "k3s_version",
             "versions": {"python", "ffmpeg", "k3s"},
             "after": {...the same fields after the experiment...}},  # or "before"/"after" both
        ],
        "parameters": {...the exact user parameters...},
        "tools": {...tool versions...},
        ...anything else: shown as "run context" (nested dicts as dotted names)
    }
    extra = {"legacy": results.legacy_block(...), "verification": {...}, "phases": {...}}

Every extra block is written at the top level of results.json. A transcode report adds
`backend_cost` (backend_cost.backend_cost: on k3s, the comparison with the newest earlier ssh
report of the same video, settings and machines in reports_dir; null on other backends).
Every report adds `comparison`: with compare_to (a report folder, its results.json or a latest-*
link: -e lab_compare_to), this run against that report (labkit.compare: a refusal or an unreadable
report is a block that says why, never an error); null when not asked.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

from .. import compare, fingerprint, metrics, nodes as node_descriptions, settle, telemetry
from .. import preflight as preflight_results  # not .preflight: labkit.report.preflight is the preflight's page
from . import backend_cost, html, markdown, model, paths, tables
from .paths import json_safe

SCHEMA_VERSION = 1
FILES = ("index.html", "summary.md", "runs.csv", "summary.csv", "results.json")
WORKLOADS = ("pi", "transcode")
RESERVED_EXTRA = {
    "schema_version", "workload", "generated", "headline", "context", "runs", "summary", "amdahl", "warnings", "notes",
    "outliers", "summary_valid_only", "drift", "drift_temperature", "telemetry", "sampling", "energy", "settle",
    "network_ceiling",
}


def validate(workload: str, runs: Any, context: Any, extra: Any) -> None:
    """Raise ValueError naming the bad value before anything is written."""
    if workload not in WORKLOADS:
        raise ValueError(f"workload must be one of {', '.join(WORKLOADS)}, got {workload!r}")
    if not isinstance(runs, Sequence) or isinstance(runs, (str, bytes)):
        raise ValueError(f"runs must be a list of run records, got {type(runs).__name__}")
    for position, run in enumerate(runs):
        if not isinstance(run, Mapping):
            raise ValueError(f"runs[{position}] must be a dict (a run record), got {type(run).__name__}: {run!r:.80}")
        for key in ("run_id", "mode", "workers"):
            if key not in run:
                raise ValueError(f"runs[{position}] has no {key!r} (run_id={run.get('run_id')!r})")
        if not isinstance(run.get("results", []), (list, tuple)):
            raise ValueError(f"runs[{position}].results must be a list, got {type(run.get('results')).__name__}")
    if not isinstance(context, Mapping):
        raise ValueError(f"context must be a dict, got {type(context).__name__}")
    if not isinstance(context.get("nodes", []), (list, tuple)):
        raise ValueError(f"context.nodes must be a list of per-node dicts, got {type(context.get('nodes')).__name__}")
    if extra is not None and not isinstance(extra, Mapping):
        raise ValueError(f"extra must be a dict, got {type(extra).__name__}")
    clash = RESERVED_EXTRA & set(extra or {})
    if clash:
        raise ValueError(f"extra must not redefine results.json's own keys: {', '.join(sorted(clash))}")


def build_context(backend: str, parameters: Mapping[str, Any], *, nodes_before: Sequence[Any] = (),
                  nodes_after: Sequence[Any] = (), cluster_nodes: Sequence[Mapping[str, Any]] = (),
                  tools: Mapping[str, Any] | None = None, more: Mapping[str, Any] | None = None,
                  conditions: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report's context from a few inputs: which backend, the exact parameters, the nodes
    (registered `lab_node_context` results before and after, and the cluster's Node objects
    when there is a cluster: `labkit.nodes.describe`), the tool versions, and any other
    workload-specific blocks (`more`, e.g. the transcode's source and output). `fingerprint` is
    what reproducing the figures needs (labkit.fingerprint): each node's, and the run's
    `conditions` (cooling, ambient temperature) as the user gave them."""
    nodes = node_descriptions.describe(node_descriptions.readings(nodes_before),
                                       node_descriptions.readings(nodes_after), cluster_nodes)
    context: dict[str, Any] = {
        "backend": backend,
        "nodes": nodes,
        "parameters": dict(parameters),
        "tools": dict(tools or {}),
        "fingerprint": {
            "nodes": {str(n.get("hostname") or n.get("name")): fingerprint.of_node(n) for n in nodes},
            "conditions": dict(conditions or fingerprint.conditions(None, None)),
        },
    }
    clash = set(more or {}) & set(context)
    if clash:
        raise ValueError(f"context must not redefine {', '.join(sorted(clash))}")
    context.update(more or {})
    return context


def write_report(
    reports_dir: str,
    workload: str,
    runs: Sequence[Mapping[str, Any]],
    context: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
    now: _dt.datetime | None = None,
    compare_to: str | None = None,
    telemetry_traces: Sequence[Any] | None = None,
    power_calibration: float = 1.0,
    settle_results: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Analyse runs and write the report folder; returns {"path", "files", "headline", "comparison"}.

    `telemetry_traces`: every node's timeline (lab_telemetry's registered results, or its traces;
    None when nothing was sampled): the report's `telemetry`, `sampling` and `energy` blocks, each
    run's energy, and a run during which one of its nodes throttled is flagged throttled.
    `settle_results`: each node's settling before the first run (settle.yml's registered results)."""
    validate(workload, runs, context, extra)
    extra = dict(extra or {})
    runs = [dict(r, workload=r.get("workload", workload)) for r in runs]
    if telemetry_traces is not None:
        if not (isinstance(power_calibration, (int, float)) and math.isfinite(power_calibration) and power_calibration > 0):
            raise ValueError(f"lab_power_calibration={power_calibration!r} must be a positive number (meter J / report J)")
        timeline = telemetry.analyse(runs, telemetry.traces_from_results(telemetry_traces), workload=workload,
                                     calibration=float(power_calibration))
        runs = timeline["runs"]
        extra.update(telemetry=timeline["telemetry"], sampling=timeline["sampling"], energy=timeline["energy"])
    else:
        extra.update(telemetry=None, sampling=None, energy=None)
    # Each node's settling before the first run (-e lab_settle=true; labkit.settle), or null.
    extra["settle"] = settle.from_results(settle_results) if settle_results is not None else None
    analysis = metrics.analyse(runs) if runs else {"summary": [], "amdahl": None, "warnings": [], "outliers": []}
    # DESIGN §4: throttled/invalid runs are flagged and the figures shown both ways.
    # (A resumed run is invalid too, but no figure counts it, so it alone is no reason for a second table.)
    invalid = [r for r in metrics.timed_runs(runs) if r.get("throttled") or r.get("valid") is False]
    valid_only = metrics.analyse(runs, only_valid=True) if invalid and len(invalid) < len(runs) else None
    now = now or _dt.datetime.now(_dt.timezone.utc)
    generated = now.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if now.utcoffset() == _dt.timedelta(0) else "")

    if workload == "transcode" and "backend_cost" not in extra:  # only a k3s run has an ssh twin to compare with
        extra["backend_cost"] = (backend_cost.backend_cost(reports_dir, runs, context)
                                 if context.get("backend") == "k3s" else None)
    if workload == "transcode":  # the network's ceiling on the speed-up, from the newest preflight
        extra["network_ceiling"] = preflight_results.transcode_ceiling(
            str(context.get("backend")), runs, context,
            preflight_results.load_latest(reports_dir) if context.get("backend") != "local" else None)
    paths.check_latest(reports_dir, workload)  # refuse before anything is written
    folder = paths.create_report_dir(reports_dir, workload, now)
    if "comparison" not in extra:  # this run (B) against an earlier report (A), when asked
        this = compare.Report(folder, {"workload": workload, "generated": generated, "context": context, "runs": runs,
                                       **extra})
        extra["comparison"] = compare.against(compare_to, this) if compare_to else None
    index_path = os.path.join(folder, "index.html")
    head = model.headline(workload, analysis, extra, index_path, runs)
    notes = model.validity_notes(workload, runs, analysis, context, extra)

    page = model.Page(workload, runs, analysis, context, extra, head, notes, generated)
    documents = {
        "runs.csv": tables.runs_csv(runs),
        "summary.csv": tables.summary_csv(analysis.get("summary") or []),
        "results.json": json.dumps(
            json_safe(
                {
                    "schema_version": SCHEMA_VERSION,
                    "workload": workload,
                    "generated": generated,
                    "headline": head,
                    "context": context,
                    "runs": runs,
                    "summary": analysis.get("summary") or [],
                    "amdahl": analysis.get("amdahl"),
                    # Time against run order over every point's runs (metrics.drift; per point in summary).
                    "drift": analysis.get("drift"),
                    # Time against the nodes' temperature (runs with a sampled temperature; else null).
                    "drift_temperature": analysis.get("drift_temperature"),
                    "warnings": list(analysis.get("warnings") or []),
                    "notes": notes,
                    "outliers": list(analysis.get("outliers") or []),
                    "summary_valid_only": valid_only.get("summary") if valid_only else None,
                    **extra,
                }
            ),
            indent=1,
            sort_keys=False,
            allow_nan=False,
        )
        + "\n",
        "summary.md": markdown.render(page),
        "index.html": html.render(page, ["summary.md", "runs.csv", "summary.csv", "results.json"], valid_only),
    }
    files = {}
    for name in FILES:
        target = os.path.join(folder, name)
        paths.write_atomic(target, documents[name])
        files[name] = target
    paths.point_latest(reports_dir, workload, folder)
    return {"path": folder, "files": files, "headline": head, "comparison": extra["comparison"]}


__all__ = ["write_report", "validate", "FILES", "SCHEMA_VERSION"]
