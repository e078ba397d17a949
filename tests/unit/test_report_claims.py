"""The report claims only what its data supports (issue 8, items 7–9 and 11).

The runs are shaped like the real ones: a 40 s clip transcoded in 4 segments on 2 slots
(slot 0 ran segments 0 and 3, slot 1 segments 1 and 2), its rerun that resumed every
segment, and the one plain ffmpeg baseline.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path
from typing import Any

from labkit.report import charts, write_report

NOW = dt.datetime(2026, 11, 26, 12, 9, 56, tzinfo=dt.timezone.utc)
T0 = 1_795_694_963_614_333_920
SEGMENTS = [  # (index, slot, start offset s, compute s)
    (0, 0, 0.0, 4.56), (1, 1, 0.015, 4.41), (2, 1, 4.47, 3.53), (3, 0, 4.6, 3.49),
]


def segment_results(run_id: str, resumed_from: str | None = None) -> list[dict[str, Any]]:
    results = []
    for index, slot, offset, compute in SEGMENTS:
        start = T0 + int(offset * 1e9)
        result = {"schema": 1, "workload": "transcode", "run_id": run_id, "index": index, "count": 4, "node": "vm",
                  "slot": slot, "t_start_ns": start, "t_end_ns": start + int(compute * 1e9), "compute_s": compute,
                  "segment": f"seg_{index:04d}.mp4", "frames_in": 300, "frames_out": 300, "media_s": 10.0,
                  "bytes_out": 1_370_000, "resumed": resumed_from is not None}
        if resumed_from:
            result["resumed_from"] = resumed_from
        results.append(result)
    return results


def transcode_run(run_id: str, t_e2e_s: float, resumed_from: str | None = None) -> dict[str, Any]:
    run = {"run_id": run_id, "workload": "transcode", "mode": "strong", "workers": 2, "repetition": 1,
           "warmup": False, "order": 1, "work": 40.0, "t_e2e_s": t_e2e_s, "oversubscribed": False,
           "throttled": False, "valid": resumed_from is None, "results": segment_results(run_id, resumed_from)}
    if resumed_from:
        run["problems"] = ["4 of 4 segments resumed from an earlier run"]
    return run


def baseline_run(run_id: str, t_e2e_s: float) -> dict[str, Any]:
    return {"run_id": run_id, "workload": "transcode", "mode": "baseline", "workers": 1, "repetition": 1,
            "warmup": False, "order": 2, "work": 40.0, "t_e2e_s": t_e2e_s, "oversubscribed": False,
            "throttled": False, "valid": True,
            "results": [{"schema": 1, "workload": "transcode", "run_id": run_id, "index": 0, "count": 1, "node": "vm",
                         "t_start_ns": T0, "t_end_ns": T0 + int(t_e2e_s * 1e9), "compute_s": t_e2e_s,
                         "segment": "baseline.mp4", "frames_in": 1200, "frames_out": 1200, "media_s": 40.0,
                         "bytes_out": 5_900_000}]}


def vm_context() -> dict[str, Any]:
    """An x86 VM: no vcgencmd, so no throttle reading."""
    node = {"hostname": "vm", "model": "AMD EPYC", "cores": 2, "memory_bytes": 25 * 2**30, "kernel": "6.18.44",
            "os": "Debian GNU/Linux 12 (bookworm)", "arch": "x86_64", "governor": None, "temperature_c": None,
            "throttled": None, "versions": {"python": "3.11.7", "ffmpeg": "ffmpeg version 5.1.9-0+deb12u1"},
            "after": {"temperature_c": None, "throttled": None}}
    return {"backend": "local", "nodes": [node], "parameters": {"video": "clip.mp4", "workers": 2}, "tools": {}}


def html_of(out: dict[str, Any]) -> str:
    return Path(out["files"]["index.html"]).read_text(encoding="utf-8")


def text_of(html: str) -> str:
    """The page's visible text, roughly (tags dropped, entities as they are)."""
    body = re.sub(r"<style>.*?</style>|<title>.*?</title>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def section(html: str, heading: str) -> str:
    match = re.search(rf"<h2>{re.escape(heading)}</h2>(.*?)</section>", html, re.S)
    assert match, heading
    return match.group(1)


def summary_rows(out: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
    rows = csv.DictReader(io.StringIO(Path(out["files"]["summary.csv"]).read_text()))
    return {(r["mode"], r["workers"]): r for r in rows}


# --- item 7: a resumed run is not a timing; each problem in its own words -------


def test_a_rerun_that_resumed_every_segment_claims_no_speed_up(tmp_path: Path) -> None:
    runs = [transcode_run("tc-2-strong-n2-r1", 1.849, resumed_from="tc-1-strong-n2-r1"),
            baseline_run("tc-2-baseline-n1-r1", 8.18)]
    out = write_report(str(tmp_path), "transcode", runs, vm_context(), now=NOW)
    head, html = out["headline"], html_of(out)
    # before: "speed-up 4.42×, efficiency 221 %" and "INVALID point (throttled)"
    assert head["speedup"] is None and head["efficiency"] is None
    assert "4.42" not in head["summary"] and "221" not in head["summary"]
    assert "strong N=2 not timed: 1 run resumed an earlier run's work" in head["summary"]
    assert summary_rows(out)[("strong", "2")]["speedup"] == ""
    validity = section(html, "Validity")
    assert "4 of 4 segments resumed from an earlier run" in validity and "not a timing" in validity
    assert "throttl" not in validity + section(html, "Headline")  # vcgencmd never said so
    assert "without the invalid runs" not in html  # nothing timed was invalid


def test_an_invalid_point_names_its_own_problem_not_throttling(tmp_path: Path) -> None:
    fresh = transcode_run("tc-1-strong-n2-r1", 6.0)
    fresh.update(valid=False, problems=["seg_0002.mp4 wrote 211 frames, expected 212"])
    out = write_report(str(tmp_path), "transcode", [fresh, baseline_run("tc-1-baseline-n1-r1", 8.06)],
                       vm_context(), now=NOW)
    cards = section(html_of(out), "Headline")
    assert "seg_0002.mp4 wrote 211 frames, expected 212" in cards and "throttl" not in cards
    assert "INVALID point (seg_0002.mp4 wrote 211 frames, expected 212)" in out["headline"]["summary"]


def test_the_clean_bill_says_only_what_was_checked(tmp_path: Path) -> None:
    runs = [transcode_run("tc-1-strong-n2-r1", 7.0), baseline_run("tc-1-baseline-n1-r1", 8.06)]
    validity = section(html_of(write_report(str(tmp_path), "transcode", runs, vm_context(), now=NOW)), "Validity")
    assert "No validity warnings" in validity
    # before: "no throttling, … spread within 10 %" for one run per point on a machine without vcgencmd
    assert "spread within 10" not in validity and "ran once" in validity
    assert "throttling not checked" in validity and "no node throttled" not in validity


# --- item 8: a worker is a slot ------------------------------------------------


def test_overhead_and_load_balance_are_per_slot(tmp_path: Path) -> None:
    runs = [transcode_run("tc-1-strong-n2-r1", 10.0), baseline_run("tc-1-baseline-n1-r1", 8.06)]
    row = summary_rows(write_report(str(tmp_path), "transcode", runs, vm_context(), now=NOW))[("strong", "2")]
    # slot 0 busy 4.56 + 3.49 = 8.05 s of 10 s: 19.5 % overhead (per segment it read 54 %)
    assert abs(float(row["overhead_share"]) - 0.195) < 1e-9
    assert abs(float(row["load_balance"]) - (7.94 + 8.05) / 2 / 8.05) < 1e-9


def test_the_timeline_draws_a_lane_per_slot_with_its_segments(tmp_path: Path) -> None:
    run = transcode_run("tc-1-strong-n2-r1", 10.0)
    lanes = charts.timeline_lanes(run["results"])
    assert [(name, [r["segment"] for r in items]) for name, items in lanes] == [
        ("worker 0 · vm", ["seg_0000.mp4", "seg_0003.mp4"]), ("worker 1 · vm", ["seg_0001.mp4", "seg_0002.mp4"])]
    svg = charts.timeline_chart(run) or ""
    assert svg.count("<rect x=") - svg.count('fill="none"') - 1 == 4  # four segment bars (minus the background)
    assert ">worker 0 · vm<" in svg and ">worker 1 · vm<" in svg and "#2 vm" not in svg
    assert "seg_0003.mp4" in svg  # in the bar's tooltip


def test_pi_workers_keep_one_lane_each() -> None:
    results = [{"index": i, "node": "pi-a", "t_start_ns": T0, "t_end_ns": T0 + 10**9, "compute_s": 1.0}
               for i in range(3)]
    assert [name for name, _items in charts.timeline_lanes(results)] == [
        "worker 0 · pi-a", "worker 1 · pi-a", "worker 2 · pi-a"]


# --- item 9: claims the data cannot support --------------------------------------


def pi_runs(times: dict[int, list[float]]) -> list[dict[str, Any]]:
    runs = []
    for n, series in times.items():
        for rep, t in enumerate(series, start=1):
            run_id = f"pi-strong-n{n}-r{rep}"
            results = [{"schema": 1, "workload": "pi", "run_id": run_id, "index": i, "count": n, "node": "vm",
                        "t_start_ns": T0, "t_end_ns": T0 + int(t * 0.9e9), "compute_s": t * 0.9,
                        "samples": 20_000_000 // n, "inside": round(20_000_000 // n * 0.785398), "seed": 1,
                        "kernel": "numpy"} for i in range(n)]
            runs.append({"run_id": run_id, "workload": "pi", "mode": "strong", "workers": n, "repetition": rep,
                         "warmup": False, "order": len(runs), "work": 20_000_000, "t_e2e_s": t,
                         "oversubscribed": False, "throttled": False, "valid": True, "results": results})
    return runs


def test_two_points_get_an_exact_fit_without_r_squared(tmp_path: Path) -> None:
    out = write_report(str(tmp_path), "pi", pi_runs({1: [0.34, 0.33, 0.36], 2: [0.29, 0.30, 0.28]}), vm_context(),
                       now=NOW)
    scaling = section(html_of(out), "Scaling")
    assert "Amdahl fit (strong) through 2 points (exact" in scaling
    assert "R²" not in scaling  # before: "R² = 1"


def test_without_repetitions_no_legend_promises_bootstrap_bars(tmp_path: Path) -> None:
    out = write_report(str(tmp_path), "pi", pi_runs({1: [0.34], 2: [0.2]}), vm_context(), now=NOW)
    charts_html = section(html_of(out), "Charts")
    assert "bootstrap CI" not in charts_html and "Bars are 95 % bootstrap" not in charts_html
    assert "No intervals" in charts_html
    assert "bars: min–max" not in charts_html and "one run per point" in charts_html
    assert "no interval" in section(html_of(out), "Headline")


def test_throughput_uses_the_median_time_and_says_so(tmp_path: Path) -> None:
    out = write_report(str(tmp_path), "pi", pi_runs({1: [1.0, 2.0, 6.0]}), vm_context(), now=NOW)
    # 20M samples / median 2 s = 10M/s; the mean time (3 s) gave 6.67M/s beside a median of 2 s
    assert out["headline"]["throughput"] == 10_000_000
    assert "work / median T" in section(html_of(out), "Scaling")
    assert "(work / median time)" in out["headline"]["summary"]


# --- item 11: tables that fit the page ------------------------------------------------


def test_the_page_is_not_a_fixed_column_and_tables_wrap_their_prose(tmp_path: Path) -> None:
    out = write_report(str(tmp_path), "pi", pi_runs({1: [1.0, 1.1], 2: [0.6, 0.7]}), vm_context(), now=NOW)
    html = html_of(out)
    width = re.search(r"main\{max-width:(\d+)px", html)
    assert width and int(width.group(1)) >= 1920  # was 1100: a column in the middle of a wide window
    environment = section(html, "Environment")
    headers = re.findall(r"<th[^>]*>(.*?)</th>", environment.split("</table>")[0])
    assert len(headers) <= 12  # before and after share a cell: was 14 columns behind a scroll bar
    assert "temperature, °C (before → after)" in headers
    assert 'class="w"' in environment and "no reading" in environment


def test_a_resumed_point_does_not_deny_the_baseline_exists(tmp_path: Path) -> None:
    runs = [transcode_run("tc-2-strong-n2-r1", 1.849, resumed_from="tc-1-strong-n2-r1"),
            baseline_run("tc-2-baseline-n1-r1", 8.18)]
    html = html_of(write_report(str(tmp_path), "transcode", runs, vm_context(), now=NOW))
    assert "no N=1 reference or baseline" not in html and "No T(1) reference" not in html
    assert "No timed run" in section(html, "Scaling")


# --- item 10: what an import skipped is on the page ---------------------------------


def test_skipped_input_lines_have_their_own_section(tmp_path: Path) -> None:
    from labkit.pi_import import import_logs

    log = tmp_path / "pods.log"
    log.write_text("Node raspi-1: π ≈ 3.1415, Time: 5.6s\nNode raspi-2: π ≈ oops, Time: 5.1s\n"
                   'Error from server (NotFound): pods "pi-job-2" not found\n', encoding="utf-8")
    imported = import_logs(str(log), None)
    out = write_report(str(tmp_path / "reports"), "pi", imported["runs"],
                       {"nodes": [], "parameters": imported["parameters"]}, imported["extra"], now=NOW)
    html = html_of(out)
    skipped = section(html, "Skipped input lines")
    assert "2 lines of" in skipped and "1 malformed, 1 not recognised" in skipped
    assert "Error from server (NotFound)" in skipped and "kubectl error" in skipped
    assert re.search(r"<td[^>]*>2</td>.*unparsable number", skipped, re.S)
    validity = section(html, "Validity")  # a log says nothing about cores or throttling
    assert "oversubscription not checked" in validity and "no point ran more workers" not in validity
    parameters = html.split("<h3>Exact parameters</h3>")[1].split("</table>")[0]
    assert "malformed" not in parameters  # was: malformed_examples as JSON among the parameters
    assert "Skipped input lines" in Path(out["files"]["summary.md"]).read_text(encoding="utf-8")


def test_the_verifier_checks_and_streams_are_tables_not_json(tmp_path: Path) -> None:
    verification = {
        "passed": True, "frames_source": 1200, "frames_output": 1200,
        "checks": [{"check": "video frames shown", "source": 1200, "output": 1200, "rule": "equal", "passed": True},
                   {"check": "audio 0 start - video start, s", "source": 0.478, "output": 0.478,
                    "rule": "within 50 ms", "passed": True}],
        "streams": {"source": [{"index": 0, "kind": "video", "codec": "h264"}, {"index": 1, "kind": "audio"}]},
    }
    runs = [transcode_run("tc-1-strong-n2-r1", 7.0), baseline_run("tc-1-baseline-n1-r1", 8.06)]
    html = html_of(write_report(str(tmp_path), "transcode", runs, vm_context(), {"verification": verification},
                                now=NOW))
    part = section(html, "Verification")
    assert "<td class=\"l\">audio 0 start - video start, s</td>" in part
    assert "&quot;check&quot;" not in part and "{" not in text_of(part)  # no JSON dumped into a cell
    assert "<h3>streams.source</h3>" in part and ">h264<" in part


def test_a_rounding_error_is_not_shown_as_minus_zero_percent() -> None:
    from labkit.report import html

    assert html._pct(-6.19e-08) == "0%" and html._pct(0.195) == "20%" and html._pct(-0.02) == "-2%"
