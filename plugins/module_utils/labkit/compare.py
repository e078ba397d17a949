"""Did the change matter? Two reports compared point by point, the way pyperf's compare_to does (DESIGN §12).

    load_report(path) -> Report        a report folder, its results.json or a latest-* link
    compare(a, b) -> dict              the comparison block (results.json `comparison` of B)
    against(path, b) -> dict           the same with A named by a path; a report that cannot be read
                                       is a refused block, never an exception (the report writer's use)
    text(block) -> str                 the table `./lab compare A B` prints
    main(argv) -> int                  python -m labkit.compare A B: 0; 2 when refused (the reason on
                                       stderr); 1 when a report cannot be read or the command is wrong

For every (workload, mode, N) point in both reports: the ratio of the medians of the measured
runs' t_e2e_s, B over A (warm-up, untimed, resumed and invalid runs left out, as the report's
figures without the invalid runs do), with a seeded percentile bootstrap interval (each side's
runs resampled with replacement: stats.bootstrap_ci). The verdict is "slower" or "faster" when
the interval excludes 1, "no significant difference" when it holds 1, and "too few runs" when a
side has a single run (no interval, so no verdict). The noise floor: per point, the smallest
difference the verdict can tell from noise, the interval's half-width on a log scale
(`detectable`: √(ci_high / ci_low) − 1), and the runs a side that would halve it (it shrinks as
√(1/n_A + 1/n_B): four times the runs); `noise_floor` says it for the block. Refused, with the reason: different
workloads; a transcode of a different source video; a point whose work differs (π strong: the
total W, π weak: W₁ per worker). Points on one side only are listed, not refused.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from . import fingerprint, metrics, pi_plan, stats
from .text import plural

RESAMPLES = 2000
CONFIDENCE = 0.95
SEED = metrics.BOOTSTRAP_SEED
SLOWER, FASTER, SAME, TOO_FEW = "slower", "faster", "no significant difference", "too few runs"
VERDICTS = (SLOWER, FASTER, SAME, TOO_FEW)
EXIT_REFUSED, EXIT_ERROR = 2, 1
# A transcode's source as both reports record it (context.source): what must be equal.
# Size and digest are compared when both reports record them.
SOURCE_FACTS = (("name", "name"), ("size_bytes", "size"), ("sha256", "digest"), ("duration_s", "duration"),
                ("frames", "frames"), ("codec", "codec"), ("resolution", "resolution"))
# Parameters that say nothing about what was changed: the transcode's output differs on every run;
# a π report's sizing and calibration say how W was chosen (W itself is compared).
UNTELLING_PARAMETERS = ("output", "sizing", "calibration")
NODE_FACTS = ("model", "cores", "kernel", "os", "governor", "k3s_version")

Key = tuple[str, str, int]
Run = Mapping[str, Any]


class ReportError(ValueError):
    """A report that cannot be read: missing, not a report, broken JSON."""


@dataclass(frozen=True)
class Report:
    """One report: its folder (a latest-* link resolved) and its results.json."""

    path: str
    data: Mapping[str, Any]

    @property
    def name(self) -> str:
        return os.path.basename(self.path.rstrip(os.sep)) or self.path

    @property
    def workload(self) -> str:
        return str(self.data.get("workload"))

    @property
    def context(self) -> Mapping[str, Any]:
        context = self.data.get("context")
        return context if isinstance(context, Mapping) else {}

    @property
    def runs(self) -> list[Run]:
        return [dict(r, workload=r.get("workload", self.workload)) for r in self.data.get("runs") or []
                if isinstance(r, Mapping)]


def read_results(path: str) -> Any:
    """A report's results.json, parsed: the one reader of it (this module's load_report, the
    transcode's backend cost, the newest preflight). OSError when it cannot be read, ValueError
    when it is not JSON."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def load_report(path: str) -> Report:
    """The report at `path`: a report folder, its results.json, or a latest-<workload> link."""
    shown = path
    if not os.path.exists(path):
        raise ReportError(f"{shown}: no such report (name a report folder such as reports/pi-20261126-101500, "
                          "its results.json, or reports/latest-pi)")
    real = os.path.realpath(path)
    if os.path.isdir(real):
        folder, results = real, os.path.join(real, "results.json")
        if not os.path.isfile(results):
            latest = sorted(n for n in os.listdir(real) if n.startswith("latest-"))
            if latest:
                raise ReportError(f"{shown} is a folder of reports, not one report: name one of them, "
                                  f"e.g. {os.path.join(shown, latest[0])}")
            raise ReportError(f"{shown} has no results.json: it is not a report folder")
    else:
        folder, results = os.path.dirname(real), real
    try:
        data = read_results(results)
    except ValueError as err:
        raise ReportError(f"{results} is not valid JSON ({err}): the report is damaged") from None
    except OSError as err:
        raise ReportError(f"cannot read {results}: {err.strerror or err}") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("runs"), list) or not data.get("workload"):
        raise ReportError(f"{results} is not a lab report's results.json (no workload and runs in it)")
    for position, run in enumerate(data["runs"]):
        if not _well_formed(run):
            raise ReportError(f"{results}: runs[{position}] is not a run record (mode, workers, t_e2e_s): {run!r:.120}")
    return Report(folder, data)


def _well_formed(run: Any) -> bool:
    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)

    return (isinstance(run, Mapping) and isinstance(run.get("mode"), str) and number(run.get("workers"))
            and (run.get("t_e2e_s") is None or number(run.get("t_e2e_s"))))


# --- the figures ---------------------------------------------------------------------------------


def label(key: Key) -> str:
    return f"{key[1]} N={key[2]}"


def _order(key: Key) -> tuple[Any, ...]:
    return (key[0], metrics.MODE_ORDER.get(key[1], len(metrics.MODE_ORDER)), key[1], key[2])


def points(report: Report) -> dict[Key, list[Run]]:
    """The report's runs by (workload, mode, N)."""
    grouped: dict[Key, list[Run]] = {}
    for run in report.runs:
        grouped.setdefault((str(run["workload"]), str(run.get("mode")), int(run.get("workers") or 0)), []).append(run)
    return grouped


def measured(runs: Sequence[Run]) -> tuple[list[float], int]:
    """The times that count (metrics.timed_runs, then only the valid runs) and how many invalid runs
    were left out."""
    timed = metrics.timed_runs(runs)
    valid = [r for r in timed if metrics.run_valid(r)]
    return [float(r["t_e2e_s"]) for r in valid], len(timed) - len(valid)


def verdict(interval: tuple[float, float] | None) -> str:
    """slower / faster when the interval of B / A excludes 1; no verdict without an interval."""
    if interval is None:
        return TOO_FEW
    low, high = interval
    if low > 1:
        return SLOWER
    if high < 1:
        return FASTER
    return SAME


def ratio_figure(value: float) -> str:
    """A ratio as pyperf writes it: 0.94, 1.52, 12.2, 1,520."""
    if value >= 999.5:
        return f"{value:,.0f}"
    return f"{value:.2f}" if value < 9.995 else f"{value:.3g}"


def factor(value: float) -> str:
    """1.52×, 12.2×, 1,520×."""
    return f"{ratio_figure(value)}×"


def ratio_words(ratio: float | None) -> str:
    """pyperf's wording of B / A: "1.52× slower", "1.10× faster"."""
    if ratio is None or not math.isfinite(ratio) or ratio <= 0:
        return "no ratio"
    if ratio == 1:
        return f"{factor(1.0)} (no change)"
    return f"{factor(ratio)} slower" if ratio > 1 else f"{factor(1 / ratio)} faster"


def seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} s" if value >= 999.5 else f"{value:.3g} s"


def compare_point(key: Key, runs_a: Sequence[Run], runs_b: Sequence[Run], *, resamples: int = RESAMPLES,
                  confidence: float = CONFIDENCE, seed: int = SEED) -> dict[str, Any]:
    """One point's ratio of medians (B / A), its bootstrap interval and verdict."""
    times_a, invalid_a = measured(runs_a)
    times_b, invalid_b = measured(runs_b)
    point: dict[str, Any] = {
        "point": label(key), "workload": key[0], "mode": key[1], "workers": key[2],
        "runs_a": len(times_a), "runs_b": len(times_b), "invalid_left_out_a": invalid_a,
        "invalid_left_out_b": invalid_b, "work": next(iter(_works(runs_a)), None),
        "median_a_s": stats.median(times_a) if times_a else None,
        "median_b_s": stats.median(times_b) if times_b else None,
        "ratio": None, "ci_low": None, "ci_high": None, "verdict": TOO_FEW,
        "detectable": None, "runs_to_halve": None,
    }
    if times_a and times_b:
        point["ratio"] = stats.ratio_of_medians(times_b, times_a)
        interval = stats.bootstrap_ci([times_b, times_a], stats.ratio_of_medians, resamples=resamples,
                                      confidence=confidence, seed=seed)
        point["ci_low"], point["ci_high"] = interval if interval else (None, None)
        point["verdict"] = verdict(interval)
        point["detectable"] = detectable(interval)
        if point["detectable"] is not None:
            point["runs_to_halve"] = runs_to_halve(len(times_a), len(times_b))
    if point["verdict"] == TOO_FEW:
        counts = f"A: {plural(len(times_a), 'run')}, B: {plural(len(times_b), 'run')}"
        point["text"] = f"{TOO_FEW} for a verdict ({counts}; an interval needs 2 on each side)"
        if not times_a or not times_b:
            point["text"] += "; warm-up, untimed, resumed and invalid runs do not count"
    else:
        point["text"] = SAME if point["verdict"] == SAME else ratio_words(point["ratio"])
    return point


def detectable(interval: tuple[float, float] | None) -> float | None:
    """The noise floor of one point: the smallest relative difference its verdict can tell from
    noise, √(ci_high / ci_low) − 1 (the interval's half-width on a log scale, as a fraction).

    The verdict says slower or faster when the interval excludes 1; the interval moves with the
    ratio and keeps its width (the runs' spread), so a true ratio r gives a verdict when
    |ln r| exceeds that half-width: a smaller difference never does, one of about this size about
    half the time (a reliable verdict needs about 1.4 times it). None without an interval."""
    if interval is None:
        return None
    low, high = interval
    if low is None or high is None or low <= 0 or high < low:
        return None
    return math.sqrt(high / low) - 1


def runs_to_halve(runs_a: int, runs_b: int) -> int | None:
    """Runs a side that halve the noise floor: it shrinks as √(1/n_A + 1/n_B) (the spread of a
    median falls as 1/√n), so m a side with √(2/m) = ½·√(1/n_A + 1/n_B): m = 8 / (1/n_A + 1/n_B),
    four times the runs when both sides have the same number."""
    if runs_a < 2 or runs_b < 2:
        return None
    return math.ceil(8 / (1 / runs_a + 1 / runs_b) - 1e-9)


def halved(value: float) -> float:
    """A noise floor halved where the interval lives, on the log scale: √(1 + d) − 1 (d / 2 when small)."""
    return math.sqrt(1 + value) - 1


def percent(value: float | None) -> str:
    """±4.1 %, ±0.35 %, ±12 %; from 50 % on a factor either way ("2.2× either way"): a time cannot be
    more than 100 % faster."""
    if value is None:
        return "–"
    shown = value * 100
    if value >= 0.5:
        return f"{ratio_figure(1 + value)}× either way"
    return f"±{shown:.2g} %" if shown < 10 else f"±{shown:.0f} %"


def geometric_mean(ratios: Sequence[float]) -> float | None:
    usable = [r for r in ratios if r is not None and math.isfinite(r) and r > 0]
    return math.exp(sum(math.log(r) for r in usable) / len(usable)) if usable else None


# --- what is not comparable ----------------------------------------------------------------------


def _works(runs: Sequence[Run]) -> list[Any]:
    return sorted({r.get("work") for r in runs}, key=str)


def _count(value: Any) -> str:
    return str(int(value)) if isinstance(value, (int, float)) and float(value).is_integer() else str(value)


def work_refusal(key: Key, runs_a: Sequence[Run], runs_b: Sequence[Run], a: Report) -> str | None:
    """Why a point's runs did different work (None when they did the same): π strong compares the
    total W, π weak the work per worker W₁ = W / N; the transcode the seconds of video."""
    works_a, works_b = _works(runs_a), _works(runs_b)
    if works_a == works_b:
        return None
    workload, mode, workers = key
    shown_a, shown_b = ", ".join(map(_count, works_a)), ", ".join(map(_count, works_b))
    if workload == "pi" and mode == "weak":
        per = [", ".join(_count(w / workers) if isinstance(w, (int, float)) else str(w) for w in works)
               for works in (works_a, works_b)]
        return (f"{label(key)}: the work per worker differs (A: W₁ = {per[0]} samples, B: W₁ = {per[1]} "
                f"samples), so the times do not compare; run B with -e pi_samples_per_worker={per[0]}")
    if workload == "pi":
        return (f"{label(key)}: the total work differs (A: W = {shown_a} samples, B: W = {shown_b} samples), so the "
                f"times do not compare; run B with -e pi_samples={shown_a}")
    unit = " s of video" if workload == "transcode" else ""
    return (f"{label(key)}: the work differs (A: {shown_a}{unit}, B: {shown_b}{unit}), so the times do not "
            f"compare{_same_video_advice(a)}")


def source_facts(report: Report) -> dict[str, Any] | None:
    """What a transcode report records about its source video (context.source), or None."""
    source = report.context.get("source")
    if not isinstance(source, Mapping) or not source.get("path"):
        return None
    video = source.get("video") if isinstance(source.get("video"), Mapping) else {}
    width, height = video.get("width"), video.get("height")
    return {
        "name": os.path.basename(str(source["path"])),
        "size_bytes": source.get("size_bytes", source.get("size")),
        "sha256": source.get("sha256", source.get("digest")),
        "duration_s": video.get("duration_s"),
        "frames": video.get("frames"),
        "codec": video.get("codec"),
        "resolution": f"{width}×{height}" if width and height else None,
    }


def _describe(facts: Mapping[str, Any]) -> str:
    parts = [f"{facts['frames']} frames" if facts.get("frames") is not None else "",
             f"{facts['duration_s']:g} s" if isinstance(facts.get("duration_s"), (int, float)) else "",
             str(facts.get("resolution") or ""), str(facts.get("codec") or "")]
    inner = ", ".join(p for p in parts if p)
    return f"{facts['name']}" + (f" ({inner})" if inner else "")


def _same_video_advice(a: Report) -> str:
    video = (a.context.get("parameters") or {}).get("video") or (a.context.get("source") or {}).get("path")
    return f"; run B with -e video={video}" if video else ""


def report_refusal(a: Report, b: Report) -> str | None:
    """Why the two reports do not compare at all (None when they may): different workloads, or
    transcodes of different source videos."""
    if a.workload != b.workload:
        return (f"A ({a.name}) is a {a.workload} report and B ({b.name}) a {b.workload} report: "
                "different workloads do not compare")
    if a.workload != "transcode":
        return None
    facts = {side: source_facts(report) for side, report in (("A", a), ("B", b))}
    missing = [side for side, f in facts.items() if f is None]
    if missing:
        return (f"{' and '.join(missing)} records no source video (context.source), so whether both transcoded "
                "the same video cannot be told")
    fa, fb = facts["A"], facts["B"]
    assert fa is not None and fb is not None
    differ = [name for key, name in SOURCE_FACTS if fa[key] is not None and fb[key] is not None and fa[key] != fb[key]]
    if not differ:
        return None
    return (f"different source videos: A transcoded {_describe(fa)}, B {_describe(fb)} (they differ in "
            f"{', '.join(differ)}); a comparison needs the same video{_same_video_advice(a)}")


# --- what changed between the two --------------------------------------------------------------


def _flat(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{prefix}.{key}").items()}
    return {prefix: value}


def _node_facts(report: Report) -> dict[str, Any]:
    nodes = [n for n in report.context.get("nodes") or [] if isinstance(n, Mapping)]
    facts = {"nodes": ", ".join(sorted(str(n.get("hostname") or n.get("name")) for n in nodes))}
    for fact in NODE_FACTS:
        facts[f"nodes' {fact}"] = ", ".join(sorted({str(n.get(fact)) for n in nodes if n.get(fact) is not None}))
    return facts


def differences(a: Report, b: Report) -> list[dict[str, str]]:
    """What the reports record differently: backend, parameters, the nodes (what the user changed,
    or what changed under them), and the reproducibility fingerprint's fields both know."""
    def facts(report: Report) -> dict[str, Any]:
        parameters = {k: v for k, v in (report.context.get("parameters") or {}).items()
                      if k not in UNTELLING_PARAMETERS}
        return {"backend": report.context.get("backend"), **_flat(parameters, "parameters"), **_node_facts(report)}

    fa, fb = facts(a), facts(b)
    return [{"what": key, "a": _shown(fa.get(key)), "b": _shown(fb.get(key))}
            for key in dict.fromkeys([*fa, *fb]) if _shown(fa.get(key)) != _shown(fb.get(key))
            ] + fingerprint.differences(a.context.get("fingerprint"), b.context.get("fingerprint"))


def _shown(value: Any) -> str:
    if value in (None, "", [], {}):
        return "–"
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


# --- the block -----------------------------------------------------------------------------------


def _side(report: Report | None, path: str) -> dict[str, Any]:
    if report is None:
        return {"path": path, "name": os.path.basename(path.rstrip(os.sep)) or path, "generated": None,
                "backend": None}
    return {"path": report.path, "name": report.name, "generated": report.data.get("generated"),
            "backend": report.context.get("backend")}


def method(resamples: int, confidence: float, seed: int) -> dict[str, Any]:
    return {"statistic": "median(t_e2e_s of B) / median(t_e2e_s of A)", "interval": "percentile bootstrap",
            "resamples": resamples, "confidence": confidence, "seed": seed,
            "left_out": "warm-up, untimed, resumed and invalid runs",
            "noise_floor": "detectable = sqrt(ci_high / ci_low) - 1, the interval's half-width on a log scale; "
                           "runs_to_halve = 8 / (1/runs_a + 1/runs_b) a side"}


def refused(reason: str, a: Report | None, b: Report | None, *, a_path: str = "", b_path: str = "",
            resamples: int = RESAMPLES, confidence: float = CONFIDENCE, seed: int = SEED) -> dict[str, Any]:
    """The block of a comparison refused as a whole."""
    side_a = _side(a, a_path)
    return {"compared": False, "reason": reason, "refused": [reason], "a": side_a, "b": _side(b, b_path),
            "points": [], "not_compared": [], "only_in_a": [], "only_in_b": [],
            "differences": differences(a, b) if a is not None and b is not None else [], "notes": [],
            "geometric_mean": None, "counts": {}, "noise_floor": None, "method": method(resamples, confidence, seed),
            "summary": f"Not compared with {side_a['name']}: {reason}"}


def _partial_notes(a: Report, b: Report) -> list[str]:
    from .report.model import partial_note  # the report's own words; imported late: labkit.report imports this

    return [f"{side} ({report.name}): {note}" for side, report in (("A", a), ("B", b))
            for note in [partial_note(report.data)] if note]


def compare(a: Report, b: Report, *, resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
            seed: int = SEED) -> dict[str, Any]:
    """The comparison block of B against A (results.json `comparison`); docs/DESIGN.md §12."""
    settings = {"resamples": resamples, "confidence": confidence, "seed": seed}
    reason = report_refusal(a, b)
    if reason:
        return refused(reason, a, b, **settings)
    grouped_a, grouped_b = points(a), points(b)
    shared = sorted(set(grouped_a) & set(grouped_b), key=_order)
    compared, not_compared = [], []
    for key in shared:
        why = work_refusal(key, grouped_a[key], grouped_b[key], a)
        if why:
            not_compared.append({"point": label(key), "workload": key[0], "mode": key[1], "workers": key[2],
                                 "reason": why})
        else:
            compared.append(compare_point(key, grouped_a[key], grouped_b[key], **settings))
    only = {side: [label(k) for k in sorted(set(mine) - set(theirs), key=_order)]
            for side, mine, theirs in (("a", grouped_a, grouped_b), ("b", grouped_b, grouped_a))}
    mean = geometric_mean([p["ratio"] for p in compared])
    counts = {v: sum(1 for p in compared if p["verdict"] == v) for v in VERDICTS}
    block = {
        "compared": bool(compared), "reason": None, "refused": [p["reason"] for p in not_compared],
        "a": _side(a, a.path), "b": _side(b, b.path), "points": compared, "not_compared": not_compared,
        "only_in_a": only["a"], "only_in_b": only["b"], "differences": differences(a, b),
        "notes": _partial_notes(a, b), "geometric_mean": mean, "counts": counts,
        "noise_floor": noise_floor(compared), "method": method(resamples, confidence, seed),
    }
    if not compared:
        block["reason"] = ("every point in both reports did different work" if not_compared else
                           f"no point is in both reports (A: {', '.join(only['a']) or 'none'}; "
                           f"B: {', '.join(only['b']) or 'none'})")
    block["summary"] = summary(block)
    return block


def noise_floor(compared: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The noise floor over the compared points: the median and the largest `detectable` (the noisiest
    point, with its runs a side and the runs a side that would halve it), and a sentence. None when no
    point has an interval."""
    known = [p for p in compared if p.get("detectable") is not None]
    if not known:
        return None
    worst = max(known, key=lambda p: p["detectable"])
    values = [p["detectable"] for p in known]
    halve = worst["runs_to_halve"]
    block = {"points": len(known), "detectable_median": stats.median(values), "detectable_max": worst["detectable"],
             "detectable_min": min(values), "point": worst["point"], "runs_a": worst["runs_a"],
             "runs_b": worst["runs_b"], "runs_to_halve": halve}
    runs = (f"{worst['runs_a']} runs a side" if worst["runs_a"] == worst["runs_b"]
            else f"{worst['runs_a']} / {worst['runs_b']} runs (A / B)")
    line = (f"Noise floor: this setup detects differences of about {percent(worst['detectable'])} at "
            f"{worst['point']} with {runs}")
    if len(known) > 1:
        line += f" (the noisiest of {len(known)} points; {percent(min(values))} at the quietest)"
    if halve is not None:
        line += f"; {halve} runs a side would detect about {percent(halved(worst['detectable']))}"
        if worst.get("workload") == "pi":
            line += (f" (-e pi_repetitions={halve})" if halve <= pi_plan.MAX_REPETITIONS else
                     f" (more than pi_repetitions allows, {pi_plan.MAX_REPETITIONS}: a quieter machine instead)")
    block["text"] = line + "."
    return block


def summary(block: Mapping[str, Any]) -> str:
    """One line: how many points, their verdicts, and the geometric mean of the ratios."""
    name = block["a"]["name"]
    if not block.get("compared"):
        return f"Not compared with {name}: {block.get('reason')}"
    compared = block["points"]
    verdicts = ", ".join(f"{n} {v}" for v, n in block["counts"].items() if n)
    line = (f"Against {name}: {plural(len(compared), 'point')} ({verdicts}); "
            f"geometric mean of the ratios {ratio_words(block['geometric_mean'])}")
    if block.get("not_compared"):
        line += f"; {plural(len(block['not_compared']), 'point')} not comparable (different work)"
    return line


def against(path: str, b: Report, **settings: Any) -> dict[str, Any]:
    """B against the report at `path`; a report that cannot be read gives a refused block, so that
    the run that asked still writes its own report."""
    try:
        a = load_report(path)
    except ReportError as err:
        return refused(f"cannot read the report to compare with: {err}", None, b, a_path=path, **settings)
    return compare(a, b, **settings)


# --- the command ---------------------------------------------------------------------------------


def interval_text(point: Mapping[str, Any]) -> str:
    if point.get("ratio") is None:
        return "–"
    shown = factor(point["ratio"])
    if point.get("ci_low") is None or point.get("ci_high") is None:
        return shown
    return f"{shown} [{ratio_figure(point['ci_low'])}–{ratio_figure(point['ci_high'])}]"


def rows(block: Mapping[str, Any]) -> list[list[str]]:
    """The table's rows (point, runs, A median, B median, B / A [interval], detectable, verdict): one
    for the command, the page and summary.md."""
    return [[p["point"], f"{p['runs_a']} / {p['runs_b']}", seconds(p["median_a_s"]), seconds(p["median_b_s"]),
             interval_text(p), percent(p.get("detectable")), p["text"]] for p in block.get("points") or []]


HEADERS = ["point", "runs A / B", "A median", "B median", "B / A [95% CI]", "detectable", "verdict"]
VERDICT_COLUMN = HEADERS.index("verdict")


def differences_text(block: Mapping[str, Any]) -> str:
    """What the two reports record differently, in one line: "parameters.kernel numpy → python"."""
    changed = block.get("differences") or []
    return ("; ".join(f"{d['what']} {d['a']} → {d['b']}" for d in changed) if changed
            else "nothing the reports record (parameters, backend, nodes)")


def text(block: Mapping[str, Any]) -> str:
    """What ./lab compare prints: both reports, what differs, the table and the summary line."""
    a, b = block["a"], block["b"]
    out = [f"A: {a['path']}" + (f" ({a['generated']}, {a['backend']})" if a.get("generated") else ""),
           f"B: {b['path']}" + (f" ({b['generated']}, {b['backend']})" if b.get("generated") else "")]
    out.append(f"What differs: {differences_text(block)}")
    out += block.get("notes") or []
    if block.get("points"):
        table = [HEADERS, *rows(block)]
        widths = [max(len(r[i]) for r in table) for i in range(len(HEADERS))]
        out.append("")
        out += ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip() for r in table]
        out.append("")
    if block.get("compared") or not block.get("refused"):  # a refusal's reason goes to stderr
        out.append(block["summary"])
    if block.get("noise_floor"):
        out.append(block["noise_floor"]["text"])
    for side in ("a", "b"):
        if block.get(f"only_in_{side}"):
            out.append(f"Only in {side.upper()}: {', '.join(block[f'only_in_{side}'])}")
    settings = block["method"]
    if block.get("points"):
        out.append(f"B / A is the ratio of the medians of t_e2e_s over the measured runs (warm-up and invalid runs "
                   f"left out); {settings['confidence']:.0%} percentile bootstrap interval, "
                   f"{settings['resamples']} resamples, seed {settings['seed']}; detectable: the interval's "
                   "half-width, the smallest difference the verdict can tell from this noise.")
    return "\n".join(out) + "\n"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # exit 1, not argparse's 2: 2 says "refused"
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"lab compare: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(
        prog="lab compare", description="Compare run B with run A per point: ratio of medians (B / A), its "
        "bootstrap interval and a verdict. A and B are report folders, their results.json or latest-* links.")
    parser.add_argument("a", help="the report to compare with (before the change)")
    parser.add_argument("b", help="the report to compare (after the change)")
    parser.add_argument("--json", action="store_true", help="print the comparison block as JSON")
    args = parser.parse_args(argv)
    try:
        a, b = load_report(args.a), load_report(args.b)
    except ReportError as err:
        print(f"lab compare: {err}", file=sys.stderr)
        return EXIT_ERROR
    block = compare(a, b)
    sys.stdout.write(json.dumps(block, indent=1) + "\n" if args.json else text(block))
    for reason in block["refused"]:
        print(f"lab compare: not comparable: {reason}", file=sys.stderr)
    return EXIT_REFUSED if block["refused"] else 0


if __name__ == "__main__":
    sys.exit(main())
