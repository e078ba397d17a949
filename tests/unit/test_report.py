"""The report writer (DESIGN §5): files, folder naming, latest link, escaping, edge cases.

Runs through the real labkit.metrics.analyse: the report only lays figures out.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import random
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from labkit import metrics, results
from labkit.report import FILES, write_report
from labkit.report.tables import RUNS_COLUMNS

NOW = dt.datetime(2026, 11, 25, 3, 15, 0, tzinfo=dt.timezone.utc)
NODES = ["pi-a", "pi-b", "pi-c", "pi-d"]


def make_runs(
    ns: tuple[int, ...] = (1, 2, 4),
    reps: int = 3,
    mode: str = "strong",
    workload: str = "pi",
    nodes: list[str] = NODES,
    seed: int = 3,
    extra_result: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Synthetic runs: a warm-up (repetition 0) and `reps` repetitions per N, shuffled order."""
    rng = random.Random(seed)
    points = [(n, r) for n in ns for r in range(reps + 1)]
    order = list(range(len(points)))
    rng.shuffle(order)
    total = 20_000_000
    runs = []
    for (n, r), position in zip(points, order):
        work = total if mode == "strong" else 5_000_000 * n
        per_worker = 8.0 * (work / n) / total
        start = 1_764_040_000_000_000_000 + position * 20_000_000_000
        run_id = f"{workload}-{mode}-n{n}-r{r}"
        res = []
        for i in range(n):
            s = start + int(rng.uniform(0.05, 0.3) * 1e9)
            c = per_worker * rng.uniform(0.97, 1.08)
            item: dict[str, Any] = {
                "schema": 1, "workload": workload, "run_id": run_id, "index": i, "count": n,
                "node": nodes[i % len(nodes)], "t_start_ns": s, "t_end_ns": s + int(c * 1e9), "compute_s": c,
            }
            if workload == "pi":
                samples = work // n
                item.update(samples=samples, inside=round(samples * 0.7853981634), seed=7, kernel="python")
            else:
                item.update(segment=f"seg{i:03d}.mkv", frames_in=250, frames_out=250, media_s=10.0, bytes_out=123456)
            item.update(extra_result or {})
            res.append(item)
        span = (max(x["t_end_ns"] for x in res) - start) / 1e9
        runs.append({
            "run_id": run_id, "workload": workload, "mode": mode, "workers": n, "repetition": r, "warmup": r == 0,
            "order": position, "work": work, "t_e2e_s": span + 0.4, "oversubscribed": n > 4, "throttled": False,
            "valid": True, "results": res,
        })
    return runs


def context(nodes: list[str] = NODES) -> dict[str, Any]:
    return {
        "nodes": [
            {"hostname": h, "model": "Raspberry Pi 4 Model B Rev 1.5", "cores": 4, "memory_bytes": 8 * 2**30,
             "kernel": "6.6.51+rpt-rpi-v8", "os": "Debian GNU/Linux 12 (bookworm)", "governor": "ondemand",
             "before": {"temperature_c": 48.2, "throttled": {"hex": "0x0", "throttled_now": False, "occurred_any": False}},
             "after": {"temperature_c": 61.5, "throttled": {"hex": "0x0", "throttled_now": False, "occurred_any": False}},
             "k3s_version": "v1.31.4+k3s1"}
            for h in nodes
        ],
        "parameters": {"pi_samples": 20_000_000, "pi_workers": [1, 2, 4], "pi_repetitions": 3},
        "tools": {"python": "3.11.2"},
        "cluster_backend": "local",
    }


class Page(HTMLParser):
    """Collects what the tests look at: svg roots, links/sources, scripts, headings, text."""

    def __init__(self) -> None:
        super().__init__()
        self.svgs = 0
        self.urls: list[str] = []
        self.scripts = 0
        self.text: list[str] = []
        self.svg_titles: list[str] = []
        self._in_title = False
        self._depth_svg = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self.svgs += 1
            self._depth_svg += 1
        if tag == "script":
            self.scripts += 1
        if tag == "title" and self._depth_svg:
            self._in_title = True
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "action") and value is not None:
                self.urls.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._depth_svg -= 1
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_title:
            self.svg_titles.append(data)


def page(path: Path) -> Page:
    parser = Page()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    text = path.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    header = rows[0]
    return header, [dict(zip(header, r)) for r in rows[1:]]


def test_all_five_files_exist_and_parse(tmp_path: Path) -> None:
    runs = make_runs()
    out = write_report(str(tmp_path), "pi", runs, context(), now=NOW)
    folder = Path(out["path"])
    assert folder.name == "pi-20261125-031500"
    assert sorted(os.listdir(folder)) == sorted(FILES)  # and no temp files left behind
    assert set(out["files"]) == set(FILES)

    data = json.loads((folder / "results.json").read_text())
    assert data["schema_version"] == 1
    for key in ("context", "runs", "summary", "amdahl", "warnings", "outliers"):
        assert key in data
    assert data["context"]["nodes"][0]["hostname"] == "pi-a"
    assert data["summary"] == json.loads(json.dumps(metrics.analyse(runs)["summary"]))

    header, rows = read_csv(folder / "runs.csv")
    assert header[: len(RUNS_COLUMNS)] == RUNS_COLUMNS
    assert len(rows) == sum(len(r["results"]) for r in runs)
    for name in ("run_id", "repetition", "mode", "warmup", "t_start_ns", "t_end_ns", "compute_s", "samples", "inside"):
        assert name in header
    assert {r["warmup"] for r in rows} == {"true", "false"}
    first = next(r for r in rows if r["run_id"] == "pi-strong-n2-r1" and r["index"] == "1")
    source = next(r for r in runs if r["run_id"] == "pi-strong-n2-r1")["results"][1]
    assert int(first["t_start_ns"]) == source["t_start_ns"] and float(first["compute_s"]) == source["compute_s"]

    header, rows = read_csv(folder / "summary.csv")
    assert header[:16] == list(metrics.STABLE_SUMMARY_FIELDS)
    assert header[:16] == ["workload", "mode", "workers", "runs", "t_median_s", "t_mad_s", "t_min_s", "t_max_s",
                           "speedup", "speedup_ci_low", "speedup_ci_high", "efficiency", "karp_flatt",
                           "load_balance", "throughput", "valid"]
    assert [(r["mode"], r["workers"]) for r in rows] == [("strong", "1"), ("strong", "2"), ("strong", "4")]

    html = page(folder / "index.html")
    assert html.svgs >= 4  # time, speed-up, efficiency, timeline
    titles = " ".join(html.svg_titles)
    for chart in ("Time vs workers", "Speed-up vs workers", "Efficiency vs workers", "Worker timeline"):
        assert chart in titles
    svgs = raw_svgs(out)
    for line in ("ideal: T(1)/N", "Amdahl fit a + b/N", "ideal: S = N", "95% bootstrap CI", "ideal: 100 %"):
        assert line in svgs, line
    assert svgs.count("<polyline") >= 5  # measured T, ideal, fit, measured S, ideal S, E, ideal E
    md = (folder / "summary.md").read_text()
    assert out["headline"]["summary"] in md.replace("\\|", "|")
    assert "| N |" in md
    for block in re.split(r"\n(?!\|)", md):  # each markdown table has rows as wide as its header
        rows = [line for line in block.splitlines() if line.startswith("|")]
        if rows:
            widths = {len(re.split(r"(?<!\\)\|", row)) for row in rows}
            assert len(widths) == 1, block


def test_headline_is_the_best_valid_point_from_analyse(tmp_path: Path) -> None:
    runs = make_runs()
    out = write_report(str(tmp_path), "pi", runs, context(), now=NOW)
    rows = {r["workers"]: r for r in metrics.analyse(runs)["summary"]}
    best = max(rows.values(), key=lambda r: r["speedup"])
    head = out["headline"]
    assert head["best_workers"] == best["workers"] == 4
    assert head["speedup"] == best["speedup"]
    assert (head["speedup_ci_low"], head["speedup_ci_high"]) == (best["speedup_ci_low"], best["speedup_ci_high"])
    assert head["efficiency"] == best["efficiency"]
    assert head["t1_s"] == rows[1]["t_median_s"] and "N=1" in head["t1_reference"]
    assert head["throughput"] == best["throughput"]
    assert head["path"] == out["files"]["index.html"]
    assert out["files"]["index.html"] in head["text"]
    assert "N=4" in head["summary"] and "speed-up" in head["summary"]


def test_no_network_references_and_no_script(tmp_path: Path) -> None:
    out = write_report(str(tmp_path), "pi", make_runs(), context(), now=NOW)
    raw = Path(out["files"]["index.html"]).read_text()
    html = page(Path(out["files"]["index.html"]))
    assert html.scripts == 0
    assert html.urls, "the data files are linked"
    for url in html.urls:
        assert not re.match(r"^(https?:)?//", url), url
        assert url in {"summary.md", "runs.csv", "summary.csv", "results.json"}
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", raw, re.I)
    assert "@import" not in raw and "url(http" not in raw


def test_two_reports_in_the_same_second_do_not_collide(tmp_path: Path) -> None:
    first = write_report(str(tmp_path), "pi", make_runs(seed=1), context(), now=NOW)
    before = {name: Path(p).read_bytes() for name, p in first["files"].items()}
    mtimes = {name: os.stat(p).st_mtime_ns for name, p in first["files"].items()}
    second = write_report(str(tmp_path), "pi", make_runs(seed=2), context(), now=NOW)
    third = write_report(str(tmp_path), "pi", make_runs(seed=3), context(), now=NOW)
    assert Path(first["path"]).name == "pi-20261125-031500"
    assert Path(second["path"]).name == "pi-20261125-031500-2"
    assert Path(third["path"]).name == "pi-20261125-031500-3"
    # the old report is untouched
    assert {name: Path(p).read_bytes() for name, p in first["files"].items()} == before
    assert {name: os.stat(p).st_mtime_ns for name, p in first["files"].items()} == mtimes
    # latest points at the newest, by a relative link
    link = tmp_path / "latest-pi"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    assert link.resolve() == Path(third["path"]).resolve()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_latest_is_per_workload_and_moves_to_a_newer_report(tmp_path: Path) -> None:
    pi_old = write_report(str(tmp_path), "pi", make_runs(), context(), now=NOW)
    tc = write_report(str(tmp_path), "transcode", make_runs(workload="transcode"), context(), now=NOW)
    pi_new = write_report(str(tmp_path), "pi", make_runs(), context(), now=NOW + dt.timedelta(seconds=61))
    assert Path(pi_new["path"]).name == "pi-20261125-031601"
    assert (tmp_path / "latest-pi").resolve() == Path(pi_new["path"]).resolve()
    assert (tmp_path / "latest-transcode").resolve() == Path(tc["path"]).resolve()
    assert Path(pi_old["files"]["index.html"]).exists()


def test_hostile_node_names_are_escaped(tmp_path: Path) -> None:
    evil = "<script>alert(\"x\")</script>'pi\"&"
    runs = make_runs(nodes=[evil, "pi-b"])
    ctx = context([evil, "pi-b"])
    ctx["parameters"]["video"] = "a b'$(x)<img src=x>.mp4"
    out = write_report(str(tmp_path), "pi", runs, ctx, now=NOW)
    raw = Path(out["files"]["index.html"]).read_text()
    assert "<script" not in raw and "<img" not in raw
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#x27;pi&quot;&amp;" in raw
    html = page(Path(out["files"]["index.html"]))
    assert html.scripts == 0
    assert evil in "".join(html.text)  # shown to the reader as text
    md = Path(out["files"]["summary.md"]).read_text()
    assert "<script>" not in md
    assert json.loads(Path(out["files"]["results.json"]).read_text())["context"]["nodes"][0]["hostname"] == evil


def test_without_n1_renders_with_a_clear_note(tmp_path: Path) -> None:
    out = write_report(str(tmp_path), "pi", make_runs(ns=(2, 4)), context(), now=NOW)
    html = page(Path(out["files"]["index.html"]))
    text = " ".join(html.text)
    assert "No T(1) reference" in text
    assert "add 1 to the worker counts" in text
    titles = " ".join(html.svg_titles)
    assert "Time vs workers" in titles and "Speed-up vs workers" not in titles and "Efficiency" not in titles
    assert out["headline"]["speedup"] is None and out["headline"]["best_workers"] == 4
    assert "no speed-up" in out["headline"]["summary"]
    _header, rows = read_csv(Path(out["files"]["summary.csv"]))
    assert {r["speedup"] for r in rows} == {""}


def test_single_n_renders(tmp_path: Path) -> None:
    out = write_report(str(tmp_path), "pi", make_runs(ns=(1,)), context(), now=NOW)
    html = page(Path(out["files"]["index.html"]))
    assert "Only one worker count was run" in " ".join(html.text)
    assert out["headline"]["best_workers"] == 1


def test_weak_scaling_uses_scaled_speedup(tmp_path: Path) -> None:
    runs = make_runs(mode="weak")
    out = write_report(str(tmp_path), "pi", runs, context(), now=NOW)
    html = page(Path(out["files"]["index.html"]))
    text = " ".join(html.text)
    assert "weak scaling" in text and "scaled speed-up" in text
    assert "Scaled speed-up vs workers (weak)" in " ".join(html.svg_titles)
    rows = {r["workers"]: r for r in metrics.analyse(runs)["summary"]}
    assert out["headline"]["mode"] == "weak" and out["headline"]["speedup"] == rows[4]["speedup"]


def test_oversubscribed_points_are_labelled(tmp_path: Path) -> None:
    out = write_report(str(tmp_path), "pi", make_runs(ns=(1, 2, 8)), context(["laptop"]), now=NOW)
    raw = Path(out["files"]["index.html"]).read_text()
    svgs = re.findall(r"<svg.*?</svg>", raw, re.S)
    assert any(">oversubscribed<" in s for s in svgs)
    assert "more workers than cores" in raw
    assert "N = 8 ran more workers than the 4 cores available" in raw  # the one node's cores
    assert "keep pi_workers at or below the cores" in raw


def test_throttled_run_is_flagged_and_shown_both_ways(tmp_path: Path) -> None:
    runs = make_runs()
    victim = next(r for r in runs if r["workers"] == 2 and not r["warmup"])
    victim["throttled"] = True
    ctx = context()
    ctx["nodes"][1]["after"]["throttled"] = {"hex": "0x50005", "throttled_now": True, "occurred_any": True}
    out = write_report(str(tmp_path), "pi", runs, ctx, now=NOW)
    text = " ".join(page(Path(out["files"]["index.html"])).text)
    assert victim["run_id"] in text and "power supply" in text
    assert "Node pi-b was throttling after the experiment" in text
    assert "without the invalid runs" in text
    assert "a node throttled during the run (vcgencmd get_throttled)" in text  # the run's own reason
    data = json.loads(Path(out["files"]["results.json"]).read_text())
    only_valid = {r["workers"]: r for r in data["summary_valid_only"]}
    assert only_valid[2]["runs"] == 2 and only_valid[2]["valid"] is True
    assert {r["workers"]: r for r in data["summary"]}[2]["valid"] is False


def test_pi_accuracy_uses_pooled_results(tmp_path: Path) -> None:
    runs = make_runs()
    out = write_report(str(tmp_path), "pi", runs, context(), now=NOW)
    inside = sum(x["inside"] for r in runs if not r["warmup"] for x in r["results"])
    samples = sum(x["samples"] for r in runs if not r["warmup"] for x in r["results"])
    expected = metrics.pi_accuracy(inside, samples)
    text = " ".join(page(Path(out["files"]["index.html"])).text)
    assert f"π̂ = {expected['estimate']:.8f}" in text
    assert f"{expected['z']:.2f} standard errors" in text


def test_legacy_only_renders(tmp_path: Path) -> None:
    records = [{"node": f"pi-{i}", "estimate": 3.1415, "time_s": t} for i, t in enumerate((5.6, 5.7, 5.8))]
    runs = results.legacy_runs(records, "pi-legacy-1")
    legacy = results.legacy_block(records, 1.52)
    out = write_report(str(tmp_path), "pi", runs, {"nodes": []}, extra={"legacy": legacy}, now=NOW)
    html = page(Path(out["files"]["index.html"]))
    text = " ".join(html.text)
    assert "seed 001's arithmetic" in text and "the honest figure" in text
    assert "0.787×" in text or "0.786×" in text  # 3 × 1.52 / 5.8
    assert "11.2×" in text.replace("11.25×", "11.2×")  # seed's "linear ratio" 3 × 5.7 / 1.52, labelled
    titles = " ".join(html.svg_titles)
    assert "Time vs workers" not in titles and "Speed-up" not in titles
    assert "Imported log" in titles
    data = json.loads(Path(out["files"]["results.json"]).read_text())
    assert data["legacy"]["throughput_vs_reference"] == pytest.approx(3 * 1.52 / 5.8)
    assert "legacy" in out["headline"]["summary"]
    assert "seed 001's arithmetic" in Path(out["files"]["summary.md"]).read_text()


def test_transcode_verification_phases_and_fps(tmp_path: Path) -> None:
    runs = make_runs(workload="transcode")
    verification = {"frames_source": 1000, "frames_output": 999, "duration_source_s": 40.0,
                    "duration_output_s": 39.96, "audio_source_s": 40.0, "audio_output_s": 40.01, "passed": False}
    phases = {"probe_split_s": 1.2, "audio_s": 3.0, "segments_s": 12.5, "join_mux_s": 0.8, "verify_s": 0.6}
    out = write_report(str(tmp_path), "transcode", runs, context(), extra={"verification": verification,
                                                                            "phases": phases}, now=NOW)
    html = page(Path(out["files"]["index.html"]))
    text = " ".join(html.text)
    assert "Output verification FAILED" in text and "FAILED verification" in text
    assert "Transcode pipeline: time per phase" in " ".join(html.svg_titles)
    assert "fps" in text and "s of video per s" in text
    # 4 workers × 250 frames per run; fps = frames over the median time at N=4 (the one the table shows)
    at4 = [r for r in runs if r["workers"] == 4 and not r["warmup"]]
    expected_fps = 250 * 4 / sorted(r["t_e2e_s"] for r in at4)[1]
    assert out["headline"]["fps"] == pytest.approx(expected_fps)
    assert "fps" in out["headline"]["summary"]
    assert out["headline"]["verified"] is False and "output FAILED verification" in out["headline"]["summary"]
    data = json.loads(Path(out["files"]["results.json"]).read_text())
    assert data["verification"]["passed"] is False and data["phases"]["segments_s"] == 12.5
    assert "Verification FAILED" in Path(out["files"]["summary.md"]).read_text()


def test_k3s_pod_phases_chart(tmp_path: Path) -> None:
    runs = make_runs(extra_result={"scheduling_s": 0.4, "start_s": 1.0, "runtime_start_s": 0.3, "exit_s": 0.2,
                                   "pod": "pi-job-0-abcde"})
    out = write_report(str(tmp_path), "pi", runs, context(), now=NOW)
    html = page(Path(out["files"]["index.html"]))
    assert any(t.startswith("Pod phases") for t in html.svg_titles)
    header, _rows = read_csv(Path(out["files"]["runs.csv"]))
    assert {"scheduling_s", "start_s", "runtime_start_s", "exit_s"} <= set(header[len(RUNS_COLUMNS):])
    assert header[len(RUNS_COLUMNS):] == sorted(header[len(RUNS_COLUMNS):])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workload": "video"}, "workload must be one of pi, transcode, got 'video'"),
        ({"runs": "nope"}, "runs must be a list"),
        ({"runs": [{"run_id": "x", "mode": "strong"}]}, "runs[0] has no 'workers'"),
        ({"context": []}, "context must be a dict"),
        ({"extra": {"runs": []}}, "must not redefine"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(tmp_path: Path, kwargs: dict, message: str) -> None:
    args: dict[str, Any] = {"workload": "pi", "runs": make_runs(ns=(1,), reps=1), "context": context(), "extra": None}
    args.update(kwargs)
    with pytest.raises(ValueError) as err:
        write_report(str(tmp_path / "reports"), args["workload"], args["runs"], args["context"], args["extra"], now=NOW)
    assert message in str(err.value)
    assert not (tmp_path / "reports").exists()


def test_an_existing_real_directory_named_latest_is_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "latest-pi").mkdir()
    (tmp_path / "latest-pi" / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="real directory"):
        write_report(str(tmp_path), "pi", make_runs(ns=(1,), reps=1), context(), now=NOW)
    assert (tmp_path / "latest-pi" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest-pi"]  # refused before writing a folder
    (tmp_path / "latest-transcode").write_text("a file of mine")
    with pytest.raises(ValueError, match="real file"):
        write_report(str(tmp_path), "transcode", make_runs(ns=(1,), reps=1, workload="transcode"), context(), now=NOW)
    assert (tmp_path / "latest-transcode").read_text() == "a file of mine"


def test_when_no_worker_count_beats_t1_the_headline_says_so(tmp_path: Path) -> None:
    runs = make_runs()
    for run in runs:  # overhead dominates: every N takes longer than N=1
        run["t_e2e_s"] = 1.0 + 0.3 * run["workers"] + 0.01 * run["repetition"]
    out = write_report(str(tmp_path), "pi", runs, context(), now=NOW)
    head = out["headline"]
    # N=1 was fastest: the headline says so instead of "best N=2, speed-up 0.6×"
    assert head["best_workers"] == 1 and head["reference_fastest"] is True and head["speedup"] is None
    assert head["best_scaled"]["workers"] == 2 and head["best_scaled"]["speedup"] < 1
    assert "best N=2" not in head["summary"]
    assert "no speed-up, N=1 was fastest" in head["summary"] and "adding workers did not help" in head["summary"]
    text = " ".join(page(Path(out["files"]["index.html"])).text)
    assert "the time does not fall with N" in text
    assert "Amdahl fit a + b/N" not in raw_svgs(out)


def raw_svgs(out: dict) -> str:
    return "".join(re.findall(r"<svg.*?</svg>", Path(out["files"]["index.html"]).read_text(), re.S))


@pytest.mark.parametrize("variant", ["strong", "weak", "k3s", "transcode", "hostile"])
def test_every_inline_svg_is_well_formed_xml(tmp_path: Path, variant: str) -> None:
    import xml.etree.ElementTree as ET

    workload = "transcode" if variant == "transcode" else "pi"
    nodes = ["<x a='1'>&amp;\"", "pi-b"] if variant == "hostile" else NODES
    runs = make_runs(
        mode="weak" if variant == "weak" else "strong",
        workload=workload,
        nodes=nodes,
        extra_result={"scheduling_s": 0.4, "start_s": 1.0, "runtime_start_s": -0.2, "exit_s": 0.2}
        if variant == "k3s" else None,
    )
    extra = {"phases": {"probe_split_s": 1.0, "audio_s": 2.0, "segments_s": 9.0, "join_mux_s": 0.5, "verify_s": 0.4}} \
        if variant == "transcode" else None
    out = write_report(str(tmp_path), workload, runs, context(nodes), extra=extra, now=NOW)
    svgs = re.findall(r"<svg.*?</svg>", Path(out["files"]["index.html"]).read_text(), re.S)
    assert len(svgs) >= 4
    for text in svgs:
        root = ET.fromstring(text)  # duplicate attributes or unescaped text would raise
        assert root.get("viewBox")
