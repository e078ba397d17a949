"""The preflight's report folder: results.json, index.html and summary.md (labkit.preflight builds the results).

    write_preflight_report(reports_dir, results, now=None) -> {"path": folder, "files": {name: path}}

A new folder ``preflight-<YYYYmmdd-HHMMSS>`` (never overwriting one) and the link
``latest-preflight``, as every report has (labkit.report.paths). The page uses the reports'
own style sheet and chart primitives: a table per part and horizontal bar charts.
"""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any, Optional

from .. import preflight
from . import paths
from .paths import json_safe
from .html import CSS, table
from .svg import PALETTE, Bar, fmt_num, lanes_chart

FILES = ("index.html", "summary.md", "results.json")
OK_COLOR, POOR_COLOR = PALETTE[0], PALETTE[1]


def _e(value: Any) -> str:
    return escape("–" if value is None else str(value), quote=True)


def _n(value: Any, digits: int = 3, unit: str = "") -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return "–"
    return fmt_num(float(value), digits) + unit


def _flagged(results: Mapping[str, Any], text: str) -> bool:
    """Whether any warning names this (a link's arrow, a node)."""
    return any(w["text"].startswith(text) for w in results.get("warnings") or [] if w["level"] != "note")


def throughput_chart(results: Mapping[str, Any]) -> Optional[str]:
    """One bar per measured link, in Mbit/s; links with a warning in the second colour."""
    bars = []
    for e in results.get("network") or []:
        if isinstance(e.get("mbit_s"), (int, float)):
            arrow = f"{e['from']} → {e['to']}"
            color = POOR_COLOR if _flagged(results, arrow) else OK_COLOR
            bars.append(Bar(arrow, 0.0, float(e["mbit_s"]), color, fmt_num(e["mbit_s"], 3),
                            f"{arrow}: {fmt_num(e['mbit_s'], 4)} Mbit/s, round trip {_n(e.get('rtt_ms'))} ms"))
    if not bars:
        return None
    legend = [("as expected", OK_COLOR), ("see the warnings", POOR_COLOR)] if any(
        b.color == POOR_COLOR for b in bars) else []
    return lanes_chart("Throughput of each link (iperf3, one link at a time)", bars, "Mbit/s", legend, width=720)


def fsync_chart(results: Mapping[str, Any]) -> Optional[str]:
    """One bar per node: the 99th percentile of its synchronous writes, the median as a label."""
    bars = []
    for d in results.get("disk") or []:
        if isinstance(d.get("fsync_ms_p99"), (int, float)):
            slow = d["fsync_ms_p99"] > preflight.FSYNC_P99_LIMIT_MS
            bars.append(Bar(d["node"], 0.0, float(d["fsync_ms_p99"]), POOR_COLOR if slow else OK_COLOR,
                            fmt_num(d["fsync_ms_p99"], 3),
                            f"{d['node']}: median {_n(d.get('fsync_ms_median'))} ms, 99th percentile "
                            f"{_n(d['fsync_ms_p99'])} ms, {_n(d.get('ops_per_s'))} writes/s"))
    if not bars:
        return None
    return lanes_chart("Synchronous 4 KiB writes: 99th percentile latency", bars, "ms", width=720,
                       note=f"etcd wants the 99th percentile under {preflight.FSYNC_P99_LIMIT_MS:g} ms; "
                            "longer bars are in the second colour.")


def _warnings_html(results: Mapping[str, Any]) -> str:
    findings = results.get("warnings") or []
    if not findings:
        return '<div class="box ok">Nothing to warn about: every link, disk and name measured as expected.</div>'
    out = []
    for level, cls, title in (("bad", "bad", "Problems"), ("warning", "warn", "Warnings"), ("note", "warn", "Notes")):
        items = [w["text"] for w in findings if w["level"] == level]
        if items:
            out.append(f'<div class="box {cls}"><strong>{title}</strong><ul>'
                       + "".join(f"<li>{_e(t)}</li>" for t in items) + "</ul></div>")
    return "".join(out)


def _figure(svg: Optional[str], caption: str) -> str:
    return f"<figure>{svg}<figcaption>{_e(caption)}</figcaption></figure>" if svg else ""


def render_html(results: Mapping[str, Any]) -> str:
    params = results.get("parameters") or {}
    nodes = results.get("nodes") or []
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        '<meta name="color-scheme" content="light">',
        f"<title>Preflight — {_e(results.get('generated'))}</title>",
        f"<style>{CSS}</style></head><body><main>",
        "<h1>Preflight</h1>",
        f'<p class="lead">Network, disk and names of the cluster before measuring on it. Backend '
        f"{_e(results.get('backend'))}, controller {_e((results.get('controller') or {}).get('name'))}, "
        f"{len(nodes)} node{'s' * (len(nodes) != 1)}"
        + (f" ({_e(', '.join(n['name'] for n in nodes))})" if nodes else "")
        + f". Generated {_e(results.get('generated'))}.</p>",
        f"<p><strong>{_e(results.get('summary'))}</strong></p>",
        _warnings_html(results),
        "<h2>Network</h2>",
    ]
    network = results.get("network") or []
    if results.get("network_note"):
        parts.append(f"<p>{_e(results['network_note'])}.</p>")
    if network:
        parts.append(f"<p>iperf3 TCP, {_e(params.get('iperf_seconds'))} s per link, one link at a time; throughput "
                     "as received. Round trip: the median time of a TCP connect to the peer's SSH port "
                     "(idle); under load: iperf3's mean TCP round trip while sending. MTU: of the route "
                     "from the sending side.</p>")
        rows = [[_e(e["from"]), _e(e["to"]), _n(e.get("mbit_s")), _n(e.get("rtt_ms")), _n(e.get("rtt_loaded_ms")),
                 _e(e.get("retransmits")), _e(e.get("mtu")), _e(e.get("device")), _e(e.get("error") or "")]
                for e in network]
        flags = ["flag" if _flagged(results, f"{e['from']} → {e['to']}") else "" for e in network]
        parts.append(table(["from", "to", "Mbit/s", "round trip ms", "under load ms", "retransmits", "MTU",
                            "device", "error"], rows, left=2, row_classes=flags, wrap=(8,)))
    parts.append("<h2>Disk: synchronous writes</h2>")
    disk = results.get("disk") or []
    if disk:
        parts.append(f"<p>{_e(params.get('disk_count'))} appends of {_e(params.get('disk_block'))} bytes to a new "
                     "file in each node's work folder, each followed by fdatasync, as the K3s datastore (etcd's "
                     "write-ahead log, or sqlite) does on every commit; the file is removed afterwards.</p>")
        rows = [[_e(d["node"]), _e(d.get("path")), _n(d.get("fsync_ms_median")), _n(d.get("fsync_ms_p99")),
                 _n(d.get("fsync_ms_max")), _n(d.get("ops_per_s")), _e(d.get("error") or "")] for d in disk]
        flags = ["flag" if _flagged(results, f"{d['node']}:") else "" for d in disk]
        parts.append(table(["node", "folder", "median ms", "p99 ms", "max ms", "writes/s", "error"], rows, left=2,
                           row_classes=flags, wrap=(6,)))
    else:
        parts.append("<p>No disk measured.</p>")
    charts = [_figure(throughput_chart(results), "Each bar one iperf3 test; hover for the round trip."),
              _figure(fsync_chart(results), "Each bar one node's work folder.")]
    if any(charts):
        parts.append('<div class="charts">' + "".join(charts) + "</div>")
    parts.append("<h2>Names</h2>")
    names = results.get("names") or []
    if names:
        parts.append("<p>Whether each machine resolves the names the inventory uses for the others (and the "
                     "controller's host name), what to, and how long the lookup took.</p>")
        rows = [[_e("controller" if n["on"] == preflight.CONTROLLER else n["on"]), _e(n["name"]), _e(n.get("what")),
                 "yes" if n.get("resolved") else "no", _e(", ".join(n.get("addresses") or []) or n.get("error")),
                 _n(n.get("ms"))] for n in names]
        flags = ["" if n.get("resolved") and not n.get("loopback_only") else "flag" for n in names]
        parts.append(table(["on", "name", "what", "resolved", "addresses", "ms"], rows, left=3, row_classes=flags,
                           wrap=(4,)))
    else:
        parts.append("<p>No names to resolve" + (" (local backend)." if not nodes else ".") + "</p>")
    parts.append("<h2>Parameters</h2>")
    parts.append(table(["name", "value"], [[_e(k), _e(v)] for k, v in params.items()], left=2, kind="kv"))
    parts.append('<p>Data: <a href="results.json">results.json</a>, <a href="summary.md">summary.md</a>.</p>')
    parts.append("<footer>Written by the lab kit's preflight; the page needs no network and no script.</footer>")
    parts.append("</main></body></html>\n")
    return "".join(parts)


def _md(value: Any) -> str:
    text = "–" if value is None else str(value)
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;").replace("\n", " ")


def _md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return (["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
            + ["| " + " | ".join(r) + " |" for r in rows])


def render_markdown(results: Mapping[str, Any]) -> str:
    lines = [f"# Preflight — {results.get('generated')}", "",
             f"Backend {results.get('backend')}: **{_md(results.get('summary'))}**", ""]
    for w in results.get("warnings") or []:
        lines.append(f"- **{w['level']}**: {_md(w['text'])}")
    if results.get("warnings"):
        lines.append("")
    lines += ["## Network", ""]
    if results.get("network_note"):
        lines += [_md(results["network_note"]) + ".", ""]
    if results.get("network"):
        lines += _md_table(["from", "to", "Mbit/s", "round trip ms", "MTU", "retransmits", "error"],
                           [[_md(e["from"]), _md(e["to"]), _n(e.get("mbit_s")), _n(e.get("rtt_ms")), _md(e.get("mtu")),
                             _md(e.get("retransmits")), _md(e.get("error") or "")] for e in results["network"]])
        lines.append("")
    lines += ["## Disk: synchronous writes", ""]
    lines += _md_table(["node", "folder", "median ms", "p99 ms", "writes/s", "error"],
                       [[_md(d["node"]), _md(d.get("path")), _n(d.get("fsync_ms_median")), _n(d.get("fsync_ms_p99")),
                         _n(d.get("ops_per_s")), _md(d.get("error") or "")] for d in results.get("disk") or []])
    if results.get("names"):
        lines += ["", "## Names", ""]
        lines += _md_table(["on", "name", "resolved", "addresses", "ms"],
                           [[_md(n["on"]), _md(n["name"]), "yes" if n.get("resolved") else "no",
                             _md(", ".join(n.get("addresses") or []) or n.get("error")), _n(n.get("ms"))]
                            for n in results["names"]])
    return "\n".join(lines) + "\n"


def write_preflight_report(reports_dir: str, results: Mapping[str, Any],
                           now: Optional[_dt.datetime] = None) -> dict[str, Any]:
    """Write a new preflight-<stamp> folder with the three files and repoint latest-preflight."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    paths.check_latest(reports_dir, preflight.WORKLOAD)
    folder = paths.create_report_dir(reports_dir, preflight.WORKLOAD, now)
    documents = {
        "results.json": json.dumps(json_safe(results), indent=1, allow_nan=False) + "\n",
        "summary.md": render_markdown(results),
        "index.html": render_html(results),
    }
    files = {}
    for name in FILES:
        files[name] = os.path.join(folder, name)
        paths.write_atomic(files[name], documents[name])
    paths.point_latest(reports_dir, preflight.WORKLOAD, folder)
    return {"path": folder, "files": files}
