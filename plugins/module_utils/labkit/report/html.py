"""index.html: one self-contained page (inline CSS and SVG, no script, no network).

Every string that came from the user or the cluster goes through esc()
(html.escape with quotes). Links point only at the data files beside the page.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from .. import compare, fingerprint, metrics, telemetry
from ..transcode import seams as seam_analysis
from ..text import plural
from . import charts, model
from .svg import fmt_num

CSS = """
:root{--fg:#1d1d1f;--muted:#5f6368;--line:#d9d9de;--bg:#fafafa;--card:#fff;--warn:#8a5a00;--warnbg:#fff6e0;
--bad:#a3131a;--badbg:#fde8e8;--ok:#0b6b2f;--okbg:#e6f6ec}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:2400px;margin:0 auto;padding:16px 24px}
h1{font-size:1.6em;margin:.2em 0}
h2{font-size:1.25em;margin:1.6em 0 .5em;border-bottom:1px solid var(--line);padding-bottom:.2em}
h3{font-size:1.05em;margin:1.2em 0 .4em}
p.lead{color:var(--muted);margin:.2em 0 1em}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:10px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .k{color:var(--muted);font-size:.85em}
.card .v{font-size:1.45em;font-weight:600;font-variant-numeric:tabular-nums}
.card .s{color:var(--muted);font-size:.8em}
.box{border-radius:8px;padding:10px 14px;margin:10px 0;border:1px solid}
.warn{background:var(--warnbg);border-color:#f0d28a;color:var(--warn)}
.bad{background:var(--badbg);border-color:#f1b5b5;color:var(--bad)}
.ok{background:var(--okbg);border-color:#a9dcb9;color:var(--ok)}
.box ul{margin:.3em 0;padding-left:1.2em}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:6px 0}
table{border-collapse:collapse;background:var(--card);font-size:.88em;font-variant-numeric:tabular-nums}
th,td{border:1px solid var(--line);padding:4px 8px;text-align:right;white-space:nowrap}
th{background:#f0f0f3;font-weight:600;white-space:normal;vertical-align:bottom;min-width:3.5em}
td.l,td.w{white-space:normal;overflow-wrap:anywhere;min-width:6em}
td.w{text-align:left;max-width:40em}
table.kv td.l:first-child,table.names td.l{white-space:nowrap}
td.l,th.l{text-align:left}
tr.flag td{background:#fff6e0}
tr.warm td{color:var(--muted)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,520px),1fr));gap:14px}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:6px}
figure svg{display:block;width:100%;max-width:900px;height:auto;margin:0 auto}
figcaption{color:var(--muted);font-size:.82em;padding:2px 6px}
code{background:#f0f0f3;border-radius:3px;padding:0 3px}
footer{color:var(--muted);font-size:.8em;margin-top:2em}
@media (max-width:600px){body{font-size:14px}main{padding:10px}.card .v{font-size:1.2em}}
"""


def esc(value: Any) -> str:
    """Escaped text of any value (None as an en dash)."""
    return escape(model.text_of(value, none="–", yes="yes", no="no", number=lambda v: fmt_num(v, 4)), quote=True)


def _num(value: Any) -> float | None:
    return model._num(value)


def _f(value: Any, digits: int = 3, unit: str = "") -> str:
    number = _num(value)
    if number is None:
        return "–"
    return escape(fmt_num(number, digits) + unit)


def _pct(value: Any) -> str:
    number = _num(value)
    if number is None:
        return "–"
    return f"{0.0 if abs(number) < 0.005 else number:.0%}"  # no "-0%" from a rounding error


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], left: int = 1, row_classes: Sequence[str] | None = None,
          wrap: Sequence[int] = (), kind: str = "") -> str:
    """A table from already escaped cells; the first `left` columns are left-aligned (and may wrap),
    the columns in `wrap` hold prose that wraps. Numbers never wrap."""
    def cls(i: int) -> str:
        return "l" if i < left else ("w" if i in wrap else "")

    head = "".join(f'<th class="{"l" if i < left or i in wrap else ""}">{h}</th>' for i, h in enumerate(headers))
    body = []
    for r, cells in enumerate(rows):
        row_cls = f' class="{row_classes[r]}"' if row_classes and row_classes[r] else ""
        body.append(f"<tr{row_cls}>" + "".join(f'<td class="{cls(i)}">{c}</td>' for i, c in enumerate(cells)) + "</tr>")
    table_cls = f' class="{kind}"' if kind else ""
    return (f'<div class="scroll"><table{table_cls}><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def flatten(pairs: Sequence[tuple[str, Any]], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as dotted names (source.video.codec), so that a table row holds one value."""
    flat: list[tuple[str, Any]] = []
    for key, value in pairs:
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.extend(flatten(sorted(value.items(), key=lambda kv: str(kv[0])), f"{name}."))
        else:
            flat.append((name, value))
    return flat


def kv_table(pairs: Sequence[tuple[str, Any]]) -> str:
    rows = []
    for key, value in flatten(pairs):
        shown = "none" if isinstance(value, (list, tuple, dict)) and not value else esc(value)
        rows.append([esc(key), shown])
    return table(["name", "value"], rows, left=2, kind="kv")


def figure(svg: str | None, caption: str) -> str:
    if not svg:
        return ""
    return f"<figure>{svg}<figcaption>{esc(caption)}</figcaption></figure>"


def card(key: str, value: str, sub: str = "") -> str:
    return f'<div class="card"><div class="k">{esc(key)}</div><div class="v">{value}</div><div class="s">{sub}</div></div>'


def headline_section(head: Mapping[str, Any], legacy: Mapping[str, Any] | None) -> str:
    cards = []
    scaled = head.get("best_scaled") if isinstance(head.get("best_scaled"), Mapping) else None
    if head.get("best_workers") is not None and head.get("reference_fastest") and scaled is not None:
        cards.append(card(f"fastest: N={head['best_workers']}", _f(head.get("t1_s"), 3, " s"),
                          esc(head.get("t1_reference")) + "; no N > 1 was faster"))
        ci = ""
        if _num(scaled.get("speedup_ci_low")) is not None and _num(scaled.get("speedup_ci_high")) is not None:
            ci = f" (95% CI {_f(scaled['speedup_ci_low'])}–{_f(scaled['speedup_ci_high'])})"
        cards.append(card(f"best N > 1 (N={scaled.get('workers')})", _f(scaled.get("speedup"), 3, "×"),
                          f"{_f(scaled.get('t_median_s'), 3, ' s')}, efficiency {_pct(scaled.get('efficiency'))}, "
                          f"speed-up{ci}: slower than T(1)"))
    elif head.get("best_workers") is not None:
        weak = head.get("mode") == "weak"
        if _num(head.get("speedup")) is not None:
            ci = ""
            if _num(head.get("speedup_ci_low")) is not None and _num(head.get("speedup_ci_high")) is not None:
                ci = f"95% bootstrap CI {_f(head['speedup_ci_low'])}–{_f(head['speedup_ci_high'])}"
            else:
                ci = "no interval: fewer than 2 runs at this N or at T(1)"
            cards.append(card(f"best {'scaled ' if weak else ''}speed-up (N={head['best_workers']})", _f(head["speedup"], 3, "×"), ci))
            cards.append(card("weak efficiency" if weak else "efficiency at that N", _pct(head.get("efficiency")), "1 = perfect scaling"))
        else:
            reason = "not timed at N > 1" if head.get("not_timed") else "no speed-up: no T(1)"
            cards.append(card(f"fastest point (N={head['best_workers']})", _f(head.get("t_best_s"), 3, " s"), reason))
        if not head.get("not_timed") or _num(head.get("t1_s")) is not None:
            cards.append(card("T(1)", _f(head.get("t1_s"), 3, " s"), esc(head.get("t1_reference") or "no reference measured")))
    if head.get("best_workers") is not None:
        fps = f" · {_f(head.get('fps'))} fps" if _num(head.get("fps")) is not None else ""
        cards.append(card(f"throughput at N={head['best_workers']}", _f(head.get("throughput")),
                          esc(head.get("throughput_unit")) + fps + " (work / median time)"))
        if head.get("valid") is False:
            reasons = "; ".join(head.get("invalid_reasons") or []) or "see Validity"
            cards.append(card("validity", '<span style="color:var(--bad)">invalid</span>', esc(reasons)))
    elif legacy:
        cards.append(card("pods (legacy log)", esc(legacy.get("nodes")), ""))
        cards.append(card("mean reported time", _f(legacy.get("mean_time_s"), 3, " s"), ""))
        cards.append(
            card("throughput vs reference", _f(legacy.get("throughput_vs_reference"), 3, "×"), "N·T_ref / T: the honest figure")
        )
    else:
        cards.append(card("result", "no data", "no measured run"))
    for what in head.get("not_timed") or []:
        cards.append(card("not a timing", '<span style="color:var(--warn)">resumed</span>', esc(what)))
    return f'<section><h2>Headline</h2><div class="cards">{"".join(cards)}</div></section>'


def partial_box(note: Any) -> str:
    """A partial report (an interrupted experiment) says so in red before any figure."""
    if not note:
        return ""
    return f'<div class="box bad partial" role="alert"><strong>{esc(note)}.</strong></div>'


def warnings_section(notes: Sequence[str], checks: Sequence[str] = ()) -> str:
    if not notes:
        checked = "".join(f"<li>{esc(c)}</li>" for c in checks)
        return ('<section><h2>Validity</h2><div class="box ok"><strong>No validity warnings.</strong> '
                f"What was checked:<ul>{checked}</ul></div></section>")
    items = "".join(f"<li>{esc(n)}</li>" for n in notes)
    return f'<section><h2>Validity</h2><div class="box warn"><strong>Check before trusting the figures:</strong><ul>{items}</ul></div></section>'


def verification_section(verification: Mapping[str, Any] | None) -> str:
    if not isinstance(verification, Mapping):
        return ""
    passed = verification.get("passed")
    cls, word = ("ok", "PASSED") if passed else ("bad", "FAILED" if passed is False else "NOT CHECKED")
    rows = [
        ["video frames", esc(verification.get("frames_source")), esc(verification.get("frames_output")), "equal"],
        ["duration, s", _f(verification.get("duration_source_s"), 6), _f(verification.get("duration_output_s"), 6), "within one frame"],
        ["audio, s", _f(verification.get("audio_source_s"), 6), _f(verification.get("audio_output_s"), 6), "within 50 ms"],
    ]
    known = {"frames_source", "frames_output", "duration_source_s", "duration_output_s", "audio_source_s", "audio_output_s", "passed"}
    checks = verification.get("checks")
    if _is_records(checks):  # the verifier lists every check it made: show those, one row each
        rows = [[esc(c.get("check")), esc(c.get("source")), esc(c.get("output")), esc(c.get("rule")),
                 esc(c.get("passed"))] for c in checks]
        known |= {"checks"}
    others = [(k, v) for k, v in verification.items() if k not in known]
    records = [(k, v) for k, v in flatten(others) if _is_records(v)]
    plain = [(k, v) for k, v in flatten(others) if not _is_records(v)]
    headers = ["check", "source", "output", "rule"] + (["passed"] if _is_records(checks) else [])
    return (
        f'<section><h2>Verification</h2><div class="box {cls}"><strong>Output verification {word}</strong>: '
        "the joined file is compared with the source.</div>"
        + table(headers, rows, wrap=[1, 2, 3])
        + "".join(f"<h3>{esc(name)}</h3>" + records_table(value) for name, value in records)
        + (kv_table(plain) if plain else "")
        + "</section>"
    )


def _is_records(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, Mapping) for v in value)


def records_table(records: Sequence[Mapping[str, Any]]) -> str:
    """A list of dicts (e.g. the streams of a file) as a table: one row each, a column per key."""
    keys = list(dict.fromkeys(k for r in records for k in r))
    rows = [[esc(r.get(k)) for k in keys] for r in records]
    return table([esc(k) for k in keys], rows, left=0, wrap=list(range(len(keys))))


def legacy_section(legacy: Mapping[str, Any] | None) -> str:
    if not isinstance(legacy, Mapping):
        return ""
    rows = []
    for key, label, digits, unit, what in model.LEGACY_FIGURES:
        value = esc(legacy.get(key)) if digits is None else _f(legacy.get(key), digits, unit)
        if key == "throughput_vs_reference":  # the honest figure stands out
            label, value, what = f"<strong>{label}</strong>", f"<strong>{value}</strong>", esc(what)
        rows.append([label, value, what])
    explanation = legacy.get("explanation") or (
        "The imported log comes from pods that each computed the full work, so nothing was split and "
        "strong-scaling speed-up does not apply. Together the N pods did N× the reference's work; the "
        "reference would need N·Tₛ for it, so the cluster's throughput is N·Tₛ/T times the reference's. "
        "Seed 001's script divides the other way round (N·Tₚ/Tₛ) and reads the result as a gain."
    )
    return (
        "<section><h2>Imported log (legacy)</h2>"
        + table(["figure", "value", "what it is"], rows, left=3)
        + f"<p>{esc(explanation)}</p></section>"
    )


def amdahl_paragraph(amdahl: Mapping[str, Any] | None) -> str:
    """The Amdahl fit in words; a fit through as many points as parameters is called exact, with no R²."""
    if not amdahl:
        return ""
    points = len(amdahl.get("points") or [])
    through = f"through {plural(points, 'point')}" + (" (exact: two parameters, two points, so no fit quality)"
                                              if 0 < points <= 2 else "")
    if model.amdahl_meaningful(amdahl):
        s_max = _num(amdahl.get("s_max"))
        f = _num(amdahl.get("serial_fraction"))
        return (
            f"<p>Amdahl fit (strong) {through}: T(N) = {_f(amdahl.get('a'), 4)} s + {_f(amdahl.get('b'), 4)} s / N; "
            f"serial fraction f = {_pct(f) if f is not None and f >= 0.01 else _f(f, 3)}; "
            f"speed-up limit 1/f = {_f(s_max, 3, '×') if s_max is not None else 'none (f = 0)'}"
            + (f"; R² = {_f(amdahl.get('r_squared'), 4)}" if _num(amdahl.get("r_squared")) is not None else "")
            + ".</p>"
        )
    return (
        "<p>Amdahl fit (strong): the time does not fall with N "
        f"(T(N) = {_f(amdahl.get('a'), 4)} s + {_f(amdahl.get('b'), 4)} s / N), so no serial fraction or "
        "speed-up limit can be read from it; make the work larger (more samples) so that it dominates "
        "the start-up overhead.</p>"
    )


def skipped_lines_section(skipped: Mapping[str, Any] | None) -> str:
    """The input lines an import left out, with where they are and why (extra.skipped_lines)."""
    if not isinstance(skipped, Mapping) or not skipped.get("total"):
        return ""
    lines = [line for line in skipped.get("lines") or [] if isinstance(line, Mapping)]
    rows = [[esc(line.get("file")), esc(line.get("line_no")), esc(line.get("kind")), esc(line.get("reason")),
             f"<code>{esc(line.get('line'))}</code>"] for line in lines]
    total = int(skipped.get("total") or 0)
    more = f" The first {len(lines)} are listed; results.json has the same list." if len(lines) < total else ""
    return (
        "<section><h2>Skipped input lines</h2>"
        f'<div class="box warn">{esc(plural(total, "line"))} of {esc(skipped.get("file"))} '
        f'{"was" if total == 1 else "were"} left out: '
        f"{esc(skipped.get('malformed', 0))} malformed, {esc(skipped.get('unrecognised', 0))} not recognised. "
        f"Nothing from them is in the figures.{esc(more)}</div>"
        + table(["file", "line", "kind", "why", "text"], rows, left=1, wrap=[2, 3, 4])
        + "</section>"
    )


def scaling_table(mode: str, rows: Sequence[Mapping[str, Any]], unit: str, fps: Mapping[int, float | None] | None) -> str:
    weak = mode == "weak"
    headers = [
        "N", "runs", "median T, s", "MAD, s", "min, s", "max, s", "T_span, s",
        "scaled speed-up" if weak else "speed-up", "95% CI", "weak eff." if weak else "efficiency",
        "Karp–Flatt e", "load balance (per worker)", "overhead", f"throughput, {esc(unit)} (work / median T)",
    ]
    if fps is not None:
        headers.append("fps")
    headers += ["CV", "valid", "notes"]
    body, classes = [], []
    for r in rows:
        ci = "–"
        if _num(r.get("speedup_ci_low")) is not None and _num(r.get("speedup_ci_high")) is not None:
            ci = f"{_f(r['speedup_ci_low'])}–{_f(r['speedup_ci_high'])}"
        notes = []
        if r.get("oversubscribed"):
            notes.append("oversubscribed")
        if r.get("outliers"):
            notes.append(plural(int(r['outliers']), "outlier"))
        if r.get("resumed_runs"):
            notes.append(f"{plural(int(r['resumed_runs']), 'resumed run')} left out: not a timing")
        notes += [str(reason) for reason in r.get("invalid_reasons") or []]
        cells = [
            esc(r.get("workers")), esc(r.get("runs")), _f(r.get("t_median_s"), 4), _f(r.get("t_mad_s"), 3),
            _f(r.get("t_min_s"), 4), _f(r.get("t_max_s"), 4), _f(r.get("t_span_median_s"), 4),
            _f(r.get("speedup"), 3), ci, _pct(r.get("efficiency")), _f(r.get("karp_flatt"), 3),
            _f(r.get("load_balance"), 3), _pct(r.get("overhead_share")), _f(r.get("throughput"), 4),
        ]
        if fps is not None:
            cells.append(_f(fps.get(int(r.get("workers") or 0)), 4))
        # a point with no timed run vouches for nothing: its validity is not "yes"
        valid = esc(r.get("valid")) if int(r.get("runs") or 0) > 0 else "–"
        cells += [_pct(r.get("cv")), valid, esc("; ".join(notes)) if notes else ""]
        body.append(cells)
        classes.append("flag" if (not r.get("valid", True) or r.get("oversubscribed")) else "")
    reference = next((r.get("speedup_reference") for r in rows if r.get("speedup_reference")), None)
    ref_line = f"<p>T(1): {esc(reference)}.</p>" if reference else ""
    if mode in model.SCALED_MODES and not reference and not any(_num(r.get("t_median_s")) is not None for r in rows):
        ref_line = "<p><strong>No timed run</strong>: nothing at this scaling to compare with T(1); see Validity.</p>"
    elif mode in model.SCALED_MODES and not reference:
        ref_line = "<p><strong>No T(1) reference</strong>: no run at N=1" + (" and no baseline" if mode == "strong" else "") + ", so speed-up and efficiency are empty.</p>"
    return f"<h3>{esc(mode)} scaling</h3>{ref_line}" + table(headers, body, left=0, row_classes=classes,
                                                              wrap=[len(headers) - 1])


def runs_table(runs: Sequence[Mapping[str, Any]], outliers: Sequence[str]) -> str:
    outlier_set = {str(o) for o in outliers}
    headers = ["run", "mode", "N", "rep.", "order", "T_e2e, s", "T_span, s", "warm-up", "valid", "throttled", "oversub.", "outlier", "nodes"]
    body, classes = [], []
    ordered = sorted(runs, key=lambda r: (str(r.get("mode")), int(r.get("workers") or 0), int(r.get("repetition") or 0)))
    for r in ordered:
        results = r.get("results") or []
        span = None
        if results and all(_num(x.get("t_start_ns")) and _num(x.get("t_end_ns")) for x in results):
            span = (max(int(x["t_end_ns"]) for x in results) - min(int(x["t_start_ns"]) for x in results)) / 1e9
        nodes = sorted({str(x.get("node")) for x in results if x.get("node") is not None})
        outlier = str(r.get("run_id")) in outlier_set
        body.append([
            esc(r.get("run_id")), esc(r.get("mode")), esc(r.get("workers")), esc(r.get("repetition")), esc(r.get("order")),
            _f(r.get("t_e2e_s"), 4), _f(span, 4), esc(bool(r.get("warmup"))), esc(r.get("valid", True)),
            esc(bool(r.get("throttled"))), esc(bool(r.get("oversubscribed"))), esc(outlier), esc(", ".join(nodes)),
        ])
        classes.append("warm" if r.get("warmup") else ("flag" if outlier or r.get("throttled") or r.get("valid") is False else ""))
    return table(headers, body, left=2, row_classes=classes)


NODE_FIELDS = [
    ("model", "model"), ("cores", "cores"), ("memory", "memory"), ("arch", "arch"), ("kernel", "kernel, page size"),
    ("os", "OS"), ("governor", "governor"), ("k3s_version", "K3s"),
]


def _memory(node: Mapping[str, Any]) -> str:
    for key, scale in (("memory_bytes", 1), ("memory_kib", 1024), ("memory_mb", 1024 * 1024), ("memory_mib", 1024 * 1024)):
        number = _num(node.get(key))
        if number is not None:
            return escape(f"{number * scale / 2**30:.1f} GiB")
    return esc(node.get("memory"))


def _kernel(node: Mapping[str, Any]) -> str:
    """The kernel release with its page size (16 KiB on the Pi 5's own kernel, 4 KiB elsewhere):
    one cell, as both describe the kernel."""
    kernel = node.get("kernel") if node.get("kernel") is not None else model.node_value(node, "kernel", "before")
    page = _num(node.get("page_size") if node.get("page_size") is not None else model.node_value(node, "page_size", "before"))
    text = esc(kernel)
    return f"{text}, {page / 1024:g} KiB pages" if page else text


def _throttle_text(value: Any) -> str:
    if isinstance(value, Mapping):
        if value.get("throttled_now"):
            return f"throttling now ({esc(value.get('hex') or value.get('raw'))})"
        if value.get("occurred_any"):
            return f"occurred since boot ({esc(value.get('hex') or value.get('raw'))})"
        return f"none ({esc(value.get('hex') or value.get('raw'))})"
    if value is None:
        return "n/a"
    return esc(value)


def environment_section(context: Mapping[str, Any]) -> str:
    nodes = [n for n in context.get("nodes") or [] if isinstance(n, Mapping)]
    parts = ["<section><h2>Environment</h2>"]
    if nodes:
        # before → after in one cell each, prose columns wrap: the table fits the page, no sideways scroll
        headers = ["node"] + [label for _, label in NODE_FIELDS] + [
            "temperature, °C (before → after)", "throttling, vcgencmd (before → after)", "versions"]
        body = []
        for node in nodes:
            cells = [esc(node.get("hostname") or node.get("name"))]
            for key, _label in NODE_FIELDS:
                if key in ("memory", "kernel"):
                    cells.append(_memory(node) if key == "memory" else _kernel(node))
                    continue
                cells.append(esc(node.get(key) if node.get(key) is not None else model.node_value(node, key, "before")))
            temps, throttles = [], []
            for when in ("before", "after"):
                temp = model.node_value(node, "temperature_c", when)
                value = model.node_value(node, "throttled", when)
                if when == "before":
                    temp = node.get("temperature_c") if temp is None else temp
                    value = node.get("throttled") if value is None else value
                temps.append(_f(temp, 3))
                throttles.append(_throttle_text(value))
            cells.append(" → ".join(temps))
            cells.append(" → ".join(throttles) if any(t != "n/a" for t in throttles) else "no reading")
            versions = node.get("versions")
            cells.append(esc("; ".join(f"{k}: {v}" for k, v in sorted(versions.items())))
                         if isinstance(versions, Mapping) and versions else "–")
            body.append(cells)
        parts.append(table(headers, body, left=len(NODE_FIELDS) + 1, wrap=[len(headers) - 2, len(headers) - 1]))
    else:
        parts.append("<p>No per-node context was collected.</p>")
    parts.append(fingerprint_part(context.get("fingerprint")))
    tools = context.get("tools")
    if isinstance(tools, Mapping) and tools:
        parts.append("<h3>Tool versions</h3>" + kv_table(sorted(tools.items())))
    params = context.get("parameters")
    if isinstance(params, Mapping) and params:
        parts.append("<h3>Exact parameters</h3>" + kv_table(sorted(params.items())))
    others = [(k, v) for k, v in sorted(context.items()) if k not in ("nodes", "tools", "parameters", "fingerprint")]
    if others:
        parts.append("<h3>Run context</h3>" + kv_table(others))
    parts.append("</section>")
    return "".join(parts)


def fingerprint_part(block: Any) -> str:
    """What reproducing these figures needs: each node's builds and settings, the run's conditions."""
    if not isinstance(block, Mapping):
        return ""
    headers, rows = fingerprint.table(block)
    parts = ["<h3>Reproducibility fingerprint</h3>"]
    if rows:
        parts.append(table(headers, [[esc(cell) for cell in row] for row in rows], left=len(headers),
                           wrap=[5, 10]))
    parts.append(f"<p>{esc(model.conditions_text(block.get('conditions') or {}))}</p>")
    return "".join(parts)


def method_section(runs: Sequence[Mapping[str, Any]], context: Mapping[str, Any]) -> str:
    if runs and all(r.get("mode") == "legacy" for r in runs):
        text = [
            "Imported from a saved log in seed 001's format (“Node <host>: π ≈ <estimate>, Time: <s>s”): one line per "
            "pod, no repetitions, no warm-up, no submit time and no timestamps, so no scaling statistics are possible.",
            "The seed's own figures are reproduced with its formulas and labelled as such; the honest comparison with "
            "the reference machine is N·Tₛ / T, where T is the slowest pod (when the cluster had finished).",
            "To measure scaling, run bench-pi.yml itself: it repeats every worker count, shuffles the order and "
            "reports medians with bootstrap intervals.",
        ]
        return "<section><h2>Method</h2>" + "".join(f"<p>{esc(t)}</p>" for t in text) + "</section>"
    measured = model.measured_runs(runs)
    warmups = sum(1 for r in runs if r.get("warmup"))
    resumed = sum(1 for r in runs if not r.get("warmup") and r.get("t_e2e_s") is not None
                  and metrics.resumed_results(r))
    failed = len(runs) - len(measured) - warmups - resumed
    points = {(r.get("mode"), r.get("workers")) for r in measured}
    per_point = sorted({sum(1 for r in measured if (r.get("mode"), r.get("workers")) == p) for p in points})
    reps = "–".join(str(n) for n in (per_point[:1] + per_point[-1:] if len(per_point) > 1 else per_point))
    orders = [r.get("order") for r in runs if r.get("order") is not None]
    first = (
        f"{plural(len(runs), 'run')}: {len(measured)} measured over {plural(len(points), 'point')} "
        f"({reps} {'repetition' if reps == '1' else 'repetitions'} per point)"
        + (f"; {plural(warmups, 'warm-up run')} kept in the data but excluded from every figure" if warmups else "")
        + (f"; {plural(failed, 'run')} without a time (failed) left out" if failed > 0 else "")
        + (f"; {plural(resumed, 'run')} that resumed an earlier run's work left out (not a timing)" if resumed else "")
        + "."
    )
    sizing = (context.get("parameters") or {}).get("sizing")
    text = [
        first,
        f"The work: {sizing}." if isinstance(sizing, str) else "",
        "The points ran in a shuffled order (column “order”), so drift (heat, background load) spreads over all N "
        "instead of biasing one." if len(set(orders)) > 1 else "No shuffled execution order was recorded.",
        "T(N) is the median end-to-end time (submit to last result, on the controller's monotonic clock) over the "
        "repetitions; spread is the MAD (median absolute deviation, unscaled), with min and max beside it. "
        "T_span (last worker end minus first worker start, on the workers' wall clocks) is shown beside it.",
        "Speed-up S = T(1)/T(N) against the T(1) named in each table; its 95 % interval is a percentile bootstrap "
        "(both the reference and the point resampled, seeded). Efficiency E = S/N; Karp–Flatt e = (1/S − 1/N)/(1 − 1/N). "
        "The Amdahl fit is least squares T(N) = a + b/N, serial fraction f = a/(a+b).",
        "Weak scaling gives every worker the same work: weak efficiency E_w = T(1)/T(N), scaled speed-up N·E_w."
        if any(r.get("mode") == "weak" for r in runs) else "",
        "Outliers are flagged by modified z-score (> 3.5), never dropped; a coefficient of variation above 10 % is "
        "a warning; a run during which a node throttled is marked invalid; N above the cores available is oversubscribed.",
    ]
    return "<section><h2>Method</h2>" + "".join(f"<p>{esc(t)}</p>" for t in text if t) + "</section>"


def pi_accuracy_section(accuracy: Mapping[str, Any] | None) -> str:
    if not accuracy:
        return ""
    z = _num(accuracy.get("z"))
    estimate = "{:.8f}".format(accuracy["estimate"])
    error = "{:.3g}".format(accuracy["abs_error"])
    standard_error = "{:.3g}".format(accuracy["standard_error"])
    z_text = "–" if z is None else "{:.2f}".format(z)
    verdict = " (within sampling noise)." if z is not None and z <= 3 else "."
    return (
        "<section><h2>π accuracy</h2><p>"
        f"Pooled over {esc(fmt_num(float(accuracy['samples'])))} {'sample' if accuracy['samples'] == 1 else 'samples'} "
        "of the measured runs: "
        f"π̂ = {estimate}, |π̂ − π| = {error}, standard error {standard_error}, "
        f"so the estimate is {z_text} standard errors from π{verdict}</p></section>"
    )


def segments_section(runs: Sequence[Mapping[str, Any]], context: Mapping[str, Any]) -> str:
    """Which node (and on k3s which pod, after how many attempts, with which phases) encoded each
    segment: a chart of when, the pods' phases on k3s, and the table."""
    run = model.segment_run(runs)
    columns, rows = model.segment_rows(runs, context)
    if run is None or not rows:
        return ""
    resumed = model.resumed_indices(run)
    encoded = model.without_resumed(run)
    caption = ("Each lane is one worker slot on a node (colour: the node); each bar is one segment, labelled with "
               "its index, from its worker's start to its end (the workers' wall clocks).")
    if resumed:
        caption += (f" Not drawn: {plural(len(resumed), 'segment')} resumed from an earlier run "
                    f"({', '.join(map(str, resumed))}), not encoded now.")
    figures = "".join(f for f in (
        figure(charts.segments_chart(run), caption),
        figure(charts.k3s_phase_chart(encoded), "One bar per segment's pod: its phases one after another.")) if f)
    drawn = f'<div class="charts">{figures}</div>' if figures else ""
    if not encoded["results"]:
        drawn = "<p>Every segment was resumed from an earlier run: nothing was encoded now, so nothing is drawn.</p>"
    cells = [[_f(row[key]) if isinstance(row[key], float) else esc(row[key]) for key, _ in columns] for row in rows]
    muted = ["warm" if row["resumed"] else "" for row in rows]
    notes = ["The source span is where the segment lies in the source, in seconds from its first frame (the "
             "segments follow one another: each starts where the ones before it end)."
             if any(k == "span" for k, _ in columns) else "",
             "Pod phases come from Kubernetes' status timestamps (one-second resolution, so a phase can read "
             "slightly negative); compute is the worker's own clock." if any(k == "scheduling_s" for k, _ in columns)
             else ""]
    names = sum(key in model.SEGMENT_NAMES for key, _ in columns)
    return ("<section><h2>Segments</h2>" + drawn
            + table([esc(label) for _, label in columns], cells, left=names, row_classes=muted, kind="names")
            + "".join(f"<p>{esc(n)}</p>" for n in notes if n) + "</section>")


def seams_section(block: Any) -> str:
    """Quality at the seams (-e transcode_seams=true), or one line saying how to get it."""
    if not isinstance(block, Mapping):
        return ("<section><h2>Quality at the seams</h2><p>Not measured: run with -e transcode_seams=true to "
                "compare every output frame with the source (PSNR, SSIM) and see whether the seams cost "
                "anything.</p></section>")
    figures = [figure(charts.seams_chart(block, metric), caption) for metric, caption in (
        ("psnr_db", "Each output frame's PSNR against the same source frame; marked: the first frame after "
                    "each seam (where a segment starts with a forced keyframe)."),
        ("ssim", "The same for SSIM (1 = identical)."))]
    return (f"<section><h2>Quality at the seams</h2><p>{esc(seam_analysis.summary(block))}</p>"
            + "".join(figures) + "</section>")


def nodes_section(extra: Mapping[str, Any], runs: Sequence[Mapping[str, Any]]) -> str:
    """What the nodes did: the timeline lanes, throttling and stragglers in words, energy per point."""
    sampling = extra.get("sampling")
    energy = extra.get("energy")
    if not sampling and not energy and extra.get("settle") is None:
        return ""
    parts = ["<section><h2>What the nodes did</h2>"]
    parts += [f"<p>{esc(line)}</p>" for line in telemetry.settle_lines(extra.get("settle"))
              + telemetry.sampling_lines(sampling)]
    chart = charts.telemetry_chart(extra.get("telemetry") or {}, sampling, runs)
    if chart:
        parts.append(figure(chart, "One lane per node, on each node's own clock (the one its workers stamp their "
                                   "times with)."))
    parts += [f"<p>{esc(line)}</p>" for line in telemetry.energy_lines(energy)]
    headers, rows = telemetry.energy_table(energy)
    if rows:
        parts.append(table([esc(h) for h in headers], [[esc(cell) for cell in row] for row in rows], left=2))
    parts.append("</section>")
    return "".join(parts)


def backend_cost_section(block: Mapping[str, Any] | None) -> str:
    """The k3s run against the same video's ssh run on the same machines (report.backend_cost)."""
    if not isinstance(block, Mapping):
        return ""
    if not block.get("compared"):
        return f"<section><h2>Kubernetes over bare SSH</h2><p>{esc(block.get('how'))}</p></section>"
    pairs = [("k3s run, T_e2e", _f(block.get("t_e2e_k3s_s"), 3, " s") + f" (N={esc(block.get('workers_k3s'))})"),
             ("ssh run, T_e2e", _f(block.get("t_e2e_ssh_s"), 3, " s") + f" (N={esc(block.get('workers_ssh'))}, "
              f"report {esc(block.get('ssh_report'))})"),
             ("k3s / ssh", _f(block.get("ratio"), 3, "×")),
             ("difference", _f(block.get("difference_s"), 3, " s")),
             ("difference per segment", _f(block.get("difference_per_segment_s"), 3, " s")
              + f" ({esc(block.get('segments'))} segments)"),
             ("difference per segment of a worker slot (× N)", _f(block.get("difference_per_slot_segment_s"), 3, " s")),
             ("pod phases around the work, mean per segment", _f(block.get("pod_overhead_mean_s"), 3, " s")),
             ("compute per segment, mean: k3s / ssh", _f(block.get("compute_mean_k3s_s"), 3, " s") + " / "
              + _f(block.get("compute_mean_ssh_s"), 3, " s"))]
    rows = [[esc(name), value] for name, value in pairs]
    other_n = ("<p><strong>The runs had different N</strong>: the ratio mixes what Kubernetes costs with how the "
               "transcode scales.</p>" if block.get("workers_k3s") != block.get("workers_ssh") else "")
    return ("<section><h2>Kubernetes over bare SSH</h2><p>The same video, settings and machines, timed on the ssh "
            "backend before: what scheduling pods, starting containers and fetching through the API costs. "
            "The N worker slots run the segments side by side, so a pod's phases add to the time once per segment "
            "of a slot: hold them against the difference per segment of a slot. What that has beyond the pods' "
            "phases is the time between one pod's end and the next one's start (the Job controller's turnover) "
            "and the controller's polling.</p>"
            + other_n + table(["", "value"], rows) + "</section>")


def comparison_section(block: Mapping[str, Any] | None) -> str:
    """This run (B) against the report -e lab_compare_to named (A): labkit.compare's table and
    chart, what the reports record differently, or why they were not compared."""
    if not isinstance(block, Mapping):
        return ""
    a = block.get("a") or {}
    method = block.get("method") or {}
    parts = [f"<section><h2>Compared with {esc(a.get('name'))}</h2>",
             f"<p>A = {esc(a.get('path'))}" + (f" ({esc(a.get('generated'))}, {esc(a.get('backend'))})"
                                               if a.get("generated") else "") + "; B = this run.</p>"]
    if not block.get("compared"):
        parts.append(f'<div class="box bad"><strong>Not compared:</strong> {esc(block.get("reason"))}</div>')
    else:
        parts.append(f"<p><strong>{esc(block.get('summary'))}</strong></p>")
    floor = block.get("noise_floor")
    if isinstance(floor, Mapping) and floor.get("text"):
        parts.append(f"<p>{esc(floor['text'])}</p>")
    parts += [f'<div class="box warn">{esc(note)}</div>' for note in block.get("notes") or []]
    if block.get("points"):
        parts.append(table([esc(h) for h in compare.HEADERS], [[esc(c) for c in row] for row in compare.rows(block)],
                           wrap=[compare.VERDICT_COLUMN]))
        drawn = figure(charts.comparison_chart(block), "One row per point in both reports; the line at 1 is no change.")
        parts.append(f'<div class="charts">{drawn}</div>')
        parts.append(
            f"<p>B / A is the ratio of the medians of T_e2e (warm-up and invalid runs left out); its "
            f"{_pct(method.get('confidence'))} interval is a percentile bootstrap ({esc(method.get('resamples'))} "
            f"resamples of each side's runs, seed {esc(method.get('seed'))}). Slower or faster when the interval "
            "excludes 1, no significant difference when it holds 1, no verdict with one run on a side. Detectable is "
            "the interval's half-width (√(high / low) − 1): a smaller difference cannot give a verdict with this "
            "noise; it shrinks with the square root of the runs, so four times the runs a side halve it.</p>")
    refused_points = block.get("not_compared") or []
    if refused_points:
        items = "".join(f"<li>{esc(p.get('reason'))}</li>" for p in refused_points)
        parts.append(f'<div class="box warn"><strong>Not comparable:</strong><ul>{items}</ul></div>')
    for side in ("a", "b"):
        if block.get(f"only_in_{side}"):
            parts.append(f"<p>Only in {side.upper()}: {esc(', '.join(block[f'only_in_{side}']))}.</p>")
    changed = block.get("differences") or []
    if changed:
        parts.append("<h3>What the two reports record differently</h3>"
                     + table(["", "A", "B"], [[esc(d.get("what")), esc(d.get("a")), esc(d.get("b"))] for d in changed],
                             left=3, kind="kv"))
    else:
        parts.append(f"<p>What differs: {esc(compare.differences_text(block))}.</p>")
    parts.append("</section>")
    return "".join(parts)


def render(page: model.Page, data_files: Sequence[str], valid_only: Mapping[str, Any] | None = None) -> str:
    workload, runs, analysis, context, extra, head, notes, generated = page
    info = model.workload_info(workload)
    summary = analysis.get("summary") or []
    amdahl = analysis.get("amdahl")
    legacy = extra.get("legacy") if isinstance(extra.get("legacy"), Mapping) else None
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        '<meta name="color-scheme" content="light">',
        f"<title>{esc(info['title'])} — {esc(generated)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>{esc(info['title'])}</h1>",
        f'<p class="lead">{esc(info["description"])} Generated {esc(generated)}.</p>',
        partial_box(head.get("partial")),
        f"<p><strong>{esc(head.get('summary'))}</strong></p>",
        headline_section(head, legacy),
    ]
    if workload == "transcode" or extra.get("verification") is not None:
        parts.append(verification_section(extra.get("verification")))
    parts.append(warnings_section(notes, model.checks_without_warning(runs, summary, context)))
    parts.append(comparison_section(extra.get("comparison")))
    parts.append(skipped_lines_section(extra.get("skipped_lines")))
    parts.append(legacy_section(legacy))

    modes = model.scaled_modes(summary)
    other_modes = [m for m in ("baseline",) if model.rows_for(summary, m)]
    if modes or other_modes:
        parts.append("<section><h2>Scaling</h2>")
        for mode in other_modes + modes:
            rows = model.rows_for(summary, mode)
            fps = None
            if workload == "transcode":
                fps = {int(r.get("workers") or 0): model.frames_per_second(runs, mode, int(r.get("workers") or 0)) for r in rows}
                if all(v is None for v in fps.values()):
                    fps = None
            parts.append(scaling_table(mode, rows, info["throughput_unit"], fps))
        parts.append(amdahl_paragraph(amdahl))
        if valid_only:
            parts.append(
                "<h3>The same figures without the invalid runs</h3>"
                "<p>Some timed runs were marked invalid (see Validity for why); the tables above count them, "
                "these leave them out.</p>"
            )
            for mode in modes:
                rows = model.rows_for(valid_only.get("summary") or [], mode)
                if rows:
                    parts.append(scaling_table(mode, rows, info["throughput_unit"], None))
        parts.append("</section>")

    figures = []
    for mode in modes:
        weak = mode == "weak"
        figures.append(figure(charts.time_chart(mode, summary, amdahl if mode == "strong" else None),
                              "Median time per worker count on log-log axes; the dashed line is perfect scaling from T(1); "
                              "hollow points are invalid or oversubscribed."
                              if not weak else "Median time per worker count; with weak scaling perfect is a flat line."))
        rows = model.rows_for(summary, mode)
        figures.append(figure(charts.speedup_chart(mode, summary),
                              ("Bars are 95 % bootstrap intervals; " if charts.has_intervals(rows) else
                               "No intervals: each point needs at least 2 runs, and so does T(1); ")
                              + "hollow points are invalid or oversubscribed."))
        figures.append(figure(charts.efficiency_chart(mode, summary), "Efficiency falls as overhead grows with N."))
    run = model.timeline_run(runs, summary)
    if run is not None and workload != "transcode":  # a transcode's are in its Segments section
        figures.append(figure(charts.timeline_chart(run), "Each lane is one worker (a slot that runs one item at a "
                              "time); each bar is one item it ran, between its RESULT timestamps."))
        figures.append(figure(charts.k3s_phase_chart(run), "Per-pod makespan split from Kubernetes status timestamps."))
    phases = extra.get("phases")
    if isinstance(phases, Mapping):
        figures.append(figure(charts.transcode_phase_chart(phases), "Wall time of each pipeline phase."))
    if not modes and legacy:
        figures.append(figure(charts.legacy_chart(runs), "Each pod's self-reported time from the imported log."))
    figures = [f for f in figures if f]
    if figures:
        parts.append(f'<section><h2>Charts</h2><div class="charts">{"".join(figures)}</div></section>')
    elif not legacy:
        parts.append("<section><h2>Charts</h2><p>Nothing to chart: no measured point.</p></section>")

    if workload == "pi":
        parts.append(pi_accuracy_section(model.pi_accuracy(runs)))
    if workload == "transcode":
        parts.append(segments_section(runs, context))
        ceiling = extra.get("network_ceiling")
        if isinstance(ceiling, Mapping) and ceiling.get("text") and context.get("backend") != "local":
            parts.append(f"<section><h2>The network's ceiling</h2><p>{esc(ceiling['text'][0].upper() + ceiling['text'][1:])}.</p></section>")
        parts.append(seams_section(extra.get("seams")))
        parts.append(backend_cost_section(extra.get("backend_cost")))
    parts.append(nodes_section(extra, runs))
    parts.append(environment_section(context))
    parts.append(method_section(runs, context))
    parts.append("<section><h2>Raw runs</h2>" + runs_table(runs, analysis.get("outliers") or []) + "</section>")
    links = " · ".join(f'<a href="{esc(name)}">{esc(name)}</a>' for name in data_files)
    parts.append(f"<section><h2>Data files</h2><p>{links}</p></section>")
    parts.append("<footer>Written by the lab kit's report writer; the page needs no network and no script.</footer>")
    parts.append("</main></body></html>")
    return "\n".join(p for p in parts if p)

