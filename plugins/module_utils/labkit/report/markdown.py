"""summary.md: the headline and tables, paste-able into a GitHub issue."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import compare, fingerprint, telemetry
from ..transcode import seams as seam_analysis
from ..text import plural
from . import model
from .svg import fmt_num


def md_escape(value: Any) -> str:
    """Cell text safe inside a GitHub table: pipes, HTML brackets and newlines neutralised."""
    text = model.text_of(value, none="–", yes="yes", no="no", number=lambda v: fmt_num(v, 4))
    return (
        text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
        .replace("\r", " ").replace("\n", " ")
    )


def _f(value: Any, digits: int = 3, unit: str = "") -> str:
    number = model._num(value)
    return "–" if number is None else fmt_num(number, digits) + unit


def _pct(value: Any) -> str:
    number = model._num(value)
    return "–" if number is None else f"{number:.0%}"


def md_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def comparison_lines(block: Any) -> list[str]:
    """This run (B) against the report -e lab_compare_to named (A), or why not (labkit.compare)."""
    if not isinstance(block, Mapping):
        return []
    a = block.get("a") or {}
    out = [f"### Compared with {md_escape(a.get('name'))}", "", f"A = {md_escape(a.get('path'))}; B = this run.", ""]
    if not block.get("compared"):
        out += [f"**Not compared:** {md_escape(block.get('reason'))}", ""]
    else:
        out += [f"**{md_escape(block.get('summary'))}**", ""]
    floor = block.get("noise_floor")
    if isinstance(floor, Mapping) and floor.get("text"):
        out += [md_escape(floor["text"]), ""]
    out += [f"> {md_escape(note)}" for note in block.get("notes") or []] + ([""] if block.get("notes") else [])
    if block.get("points"):
        out += [md_table(compare.HEADERS, [[md_escape(c) for c in row] for row in compare.rows(block)]), ""]
    listed = [f"- not comparable: {md_escape(p.get('reason'))}" for p in block.get("not_compared") or []]
    listed += [f"- only in {side.upper()}: {md_escape(', '.join(block[f'only_in_{side}']))}" for side in ("a", "b")
               if block.get(f"only_in_{side}")]
    out += listed + ([""] if listed else [])
    return out + [f"What differs: {md_escape(compare.differences_text(block))}", ""]


def render(page: model.Page) -> str:
    workload, runs, analysis, context, extra, head, notes, generated = page
    info = model.workload_info(workload)
    summary = analysis.get("summary") or []
    out = [f"## {info['title']} ({generated})", ""]
    if head.get("partial"):
        out += [f"> **{md_escape(head['partial'])}.**", ""]
    out += [f"**{md_escape(head.get('summary'))}**", ""]

    verification = extra.get("verification")
    if isinstance(verification, Mapping):
        passed = verification.get("passed")
        word = "PASSED" if passed else ("FAILED" if passed is False else "not checked")
        out += [
            f"**Verification {word}**: frames {md_escape(verification.get('frames_source'))} → "
            f"{md_escape(verification.get('frames_output'))}, duration {_f(verification.get('duration_source_s'), 6)} s → "
            f"{_f(verification.get('duration_output_s'), 6)} s, audio {_f(verification.get('audio_source_s'), 6)} s → "
            f"{_f(verification.get('audio_output_s'), 6)} s",
            "",
        ]
    if notes:
        out += ["### Validity warnings", ""] + [f"- {md_escape(n)}" for n in notes] + [""]
    else:
        out += ["No validity warnings.", ""]

    skipped = extra.get("skipped_lines")
    if isinstance(skipped, Mapping) and skipped.get("total"):
        out += [
            f"### Skipped input lines ({md_escape(skipped.get('total'))} of {md_escape(skipped.get('file'))}: "
            f"{md_escape(skipped.get('malformed', 0))} malformed, {md_escape(skipped.get('unrecognised', 0))} not recognised)",
            "",
            md_table(["line", "why", "text"],
                     [[md_escape(line.get("line_no")), md_escape(line.get("reason")), md_escape(line.get("line"))]
                      for line in skipped.get("lines") or [] if isinstance(line, Mapping)]),
            "",
        ]

    legacy = extra.get("legacy")
    if isinstance(legacy, Mapping):
        out += [
            "### Imported log (legacy)",
            "",
            md_table(
                ["figure", "value", "what it is"],
                [[label, md_escape(legacy.get(key)) if digits is None else _f(legacy.get(key), digits, unit), what]
                 for key, label, digits, unit, what in model.LEGACY_FIGURES],
            ),
            "",
        ]
        if legacy.get("explanation"):
            out += [md_escape(legacy["explanation"]), ""]

    for mode in [m for m in ("baseline",) if model.rows_for(summary, m)] + model.scaled_modes(summary):
        rows = model.rows_for(summary, mode)
        reference = next((r.get("speedup_reference") for r in rows if r.get("speedup_reference")), None)
        out += [f"### {mode} scaling", ""]
        if mode in model.SCALED_MODES:
            out += [f"T(1): {md_escape(reference)}" if reference else "No T(1) reference (no N=1 run): no speed-up.", ""]
        table_rows = []
        for r in rows:
            ci = "–"
            if model._num(r.get("speedup_ci_low")) is not None and model._num(r.get("speedup_ci_high")) is not None:
                ci = f"{_f(r['speedup_ci_low'])}–{_f(r['speedup_ci_high'])}"
            flags = [t for t, on in (("oversubscribed", r.get("oversubscribed")), ("invalid", not r.get("valid", True)),
                                     ("resumed: not timed", r.get("resumed_runs"))) if on]
            flags += [str(reason) for reason in r.get("invalid_reasons") or []]
            table_rows.append([
                md_escape(r.get("workers")), md_escape(r.get("runs")),
                f"{_f(r.get('t_median_s'), 4)} ± {_f(r.get('t_mad_s'), 2)}",
                _f(r.get("speedup")), ci, _pct(r.get("efficiency")), _f(r.get("karp_flatt")),
                _f(r.get("throughput"), 4), md_escape(", ".join(flags)) if flags else "ok",
            ])
        out += [
            md_table(
                ["N", "runs", "median T ± MAD, s", "scaled S" if mode == "weak" else "speed-up", "95% CI",
                 "E_w" if mode == "weak" else "efficiency", "Karp–Flatt",
                 f"throughput, {info['throughput_unit']} (work / median T)", "flags"],
                table_rows,
            ),
            "",
        ]
    amdahl = analysis.get("amdahl")
    if isinstance(amdahl, Mapping) and model.amdahl_meaningful(amdahl):
        out += [
            f"Amdahl fit: T(N) = {_f(amdahl.get('a'), 4)} s + {_f(amdahl.get('b'), 4)} s/N, serial fraction "
            f"{_f(amdahl.get('serial_fraction'), 3)}, speed-up limit {_f(amdahl.get('s_max'), 3, '×')}",
            "",
        ]
    if workload == "pi":
        accuracy = model.pi_accuracy(runs)
        if accuracy:
            out += [
                f"π accuracy: π̂ = {accuracy['estimate']:.8f} from {fmt_num(float(accuracy['samples']))} "
                f"{'sample' if accuracy['samples'] == 1 else 'samples'}, "
                f"|error| {accuracy['abs_error']:.3g} = {accuracy['z']:.2f} standard errors",
                "",
            ]
    columns, rows = model.segment_rows(runs, context)
    if rows:
        out += ["### Segments", "",
                md_table([label for _, label in columns],
                         [[_f(row[key]) if isinstance(row[key], float) else md_escape(row[key]) for key, _ in columns]
                          for row in rows]), ""]
    ceiling = extra.get("network_ceiling")
    if isinstance(ceiling, Mapping) and ceiling.get("text") and context.get("backend") != "local":
        out += [f"Network ceiling: {md_escape(ceiling['text'])}.", ""]
    seams = extra.get("seams")
    if isinstance(seams, Mapping):
        out += ["### Quality at the seams", "", md_escape(seam_analysis.summary(seams)), ""]
    cost = extra.get("backend_cost")
    if isinstance(cost, Mapping):
        out += ["### Kubernetes over bare SSH", ""]
        if cost.get("compared"):
            out += [f"k3s {_f(cost.get('t_e2e_k3s_s'))} s against ssh {_f(cost.get('t_e2e_ssh_s'))} s "
                    f"(report {md_escape(cost.get('ssh_report'))}): {_f(cost.get('ratio'))}×, "
                    f"difference {_f(cost.get('difference_s'))} s, {_f(cost.get('difference_per_segment_s'))} s per "
                    f"segment, {_f(cost.get('difference_per_slot_segment_s'))} s per segment of a worker slot; "
                    f"pod phases around the work {_f(cost.get('pod_overhead_mean_s'))} s per segment.", ""]
        else:
            out += [md_escape(cost.get("how")), ""]
    out += comparison_lines(extra.get("comparison"))
    if extra.get("sampling") or extra.get("energy") or extra.get("settle") is not None:
        out += ["### What the nodes did", ""]
        texts = (telemetry.settle_lines(extra.get("settle")) + telemetry.sampling_lines(extra.get("sampling"))
                 + telemetry.energy_lines(extra.get("energy")))
        out += [line for text in texts for line in (md_escape(text), "")]
        headers, rows = telemetry.energy_table(extra.get("energy"))
        if rows:
            out += [md_table(headers, [[md_escape(cell) for cell in row] for row in rows]), ""]
    nodes = [n for n in context.get("nodes") or [] if isinstance(n, Mapping)]
    if nodes:
        out += [
            "### Nodes",
            "",
            md_table(
                ["node", "model", "cores", "kernel", "page size", "OS", "governor", "K3s"],
                [[md_escape(n.get("hostname") or n.get("name")), md_escape(n.get("model")), md_escape(n.get("cores")),
                  md_escape(n.get("kernel")), md_escape(n.get("page_size")), md_escape(n.get("os")),
                  md_escape(n.get("governor")),
                  md_escape(n.get("k3s_version"))] for n in nodes],
            ),
            "",
        ]
    block = context.get("fingerprint")
    if isinstance(block, Mapping):
        headers, rows = fingerprint.table(block)
        out += ["### Reproducibility fingerprint", ""]
        if rows:
            out += [md_table(headers, [[md_escape(cell) for cell in row] for row in rows]), ""]
        out += [md_escape(model.conditions_text(block.get("conditions") or {})), ""]
    params = context.get("parameters")
    if isinstance(params, Mapping) and params:
        out += ["Parameters: " + ", ".join(f"{md_escape(k)}={md_escape(v)}" for k, v in sorted(params.items())), ""]
    measured = model.measured_runs(runs)
    warmups = sum(1 for r in runs if r.get("warmup"))
    others = len(runs) - len(measured) - warmups
    out += [
        f"{plural(len(runs), 'run')} ({len(measured)} measured, {warmups} warm-up"
        + (f", {others} untimed or resumed" if others else "") + " excluded); medians with MAD; "
        "95% percentile bootstrap intervals; outliers flagged, not dropped. Files: index.html, runs.csv, summary.csv, results.json.",
        "",
    ]
    return "\n".join(out)
