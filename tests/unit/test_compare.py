"""labkit.compare: two reports per point, ratio of medians with a bootstrap interval and a verdict
(DESIGN §12), built from small synthetic results.json dicts."""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest

from labkit import compare
from labkit.report import write_report

Times = dict[tuple[str, int], list[float]]
A_TIMES: Times = {("strong", 1): [2.00, 2.10, 1.95, 2.05], ("strong", 2): [1.10, 1.05, 1.12, 1.08]}
SOURCE = {"path": "/videos/clip.mp4", "video": {"codec": "h264", "width": 320, "height": 240, "frames": 360,
                                                 "duration_s": 12.0}}


def results(times: Times, *, workload: str = "pi", samples: int = 3_000_000, per_worker: int = 1_000_000,
            context: dict[str, Any] | None = None, warmup: bool = True) -> dict[str, Any]:
    """A results.json with one run per time (and a slow warm-up run per point, which must not count)."""
    runs = []
    for (mode, n), values in times.items():
        work = samples if mode != "weak" else n * per_worker
        if workload == "transcode":
            work = 12.0
        for repetition, t in enumerate(([99.0] if warmup else []) + values, start=0 if warmup else 1):
            runs.append({"run_id": f"{workload}-{mode}-n{n}-r{repetition}", "workload": workload, "mode": mode,
                         "workers": n, "repetition": repetition, "warmup": warmup and repetition == 0,
                         "work": work, "t_e2e_s": t, "throttled": False, "valid": True, "results": []})
    return {"schema_version": 1, "workload": workload, "generated": "2026-11-26 10:00:00 UTC",
            "context": context or {"backend": "local", "parameters": {"kernel": "numpy"}, "nodes": []},
            "runs": runs}


def report(data: dict[str, Any], path: str = "/reports/x") -> compare.Report:
    return compare.Report(path, data)


def save(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps(data))
    return folder


def scaled(times: Times, factor: float) -> Times:
    return {key: [t * factor for t in values] for key, values in times.items()}


def test_a_run_compared_with_itself_shows_no_significant_difference_anywhere() -> None:
    data = results(A_TIMES)
    block = compare.compare(report(data), report(data))
    assert block["compared"] and not block["refused"]
    assert [p["verdict"] for p in block["points"]] == [compare.SAME, compare.SAME]
    assert all(p["ratio"] == 1 and p["ci_low"] <= 1 <= p["ci_high"] for p in block["points"])
    assert block["geometric_mean"] == 1
    assert compare.differences_text(block).startswith("nothing the reports record")


def test_a_clearly_slower_b_is_slower_with_its_ratio_worded_like_pyperf() -> None:
    block = compare.compare(report(results(A_TIMES)), report(results(scaled(A_TIMES, 1.52))))
    point = block["points"][0]
    assert point["verdict"] == compare.SLOWER and point["ratio"] == pytest.approx(1.52)
    assert point["ci_low"] > 1 and point["text"] == "1.52× slower"
    assert point["median_a_s"] == pytest.approx(2.025)  # the warm-up (99 s) is left out
    assert "2 points (2 slower); geometric mean of the ratios 1.52× slower" in block["summary"]


def test_a_faster_b_is_faster() -> None:
    block = compare.compare(report(results(A_TIMES)), report(results(scaled(A_TIMES, 1 / 1.10))))
    assert {p["verdict"] for p in block["points"]} == {compare.FASTER}
    assert block["points"][1]["text"] == "1.10× faster" and block["points"][1]["ci_high"] < 1


def test_overlapping_runs_are_no_significant_difference_whatever_the_ratio() -> None:
    b = {("strong", 1): [2.3, 1.9, 2.2, 2.0], ("strong", 2): [1.0, 1.2, 1.1, 1.07]}
    block = compare.compare(report(results(A_TIMES)), report(results(b)))
    assert [p["verdict"] for p in block["points"]] == [compare.SAME, compare.SAME]
    assert block["points"][0]["ratio"] != 1 and block["points"][0]["text"] == compare.SAME


def test_one_run_on_a_side_gives_a_ratio_but_no_interval_and_no_verdict() -> None:
    single = {("strong", 1): [4.0]}
    block = compare.compare(report(results(A_TIMES)), report(results(single)))
    point = block["points"][0]
    assert point["verdict"] == compare.TOO_FEW and point["ci_low"] is None and point["ratio"] == pytest.approx(4 / 2.025)
    assert point["text"] == "too few runs for a verdict (A: 4 runs, B: 1 run; an interval needs 2 on each side)"
    assert block["counts"][compare.TOO_FEW] == 1


def test_invalid_runs_are_left_out_and_counted() -> None:
    data = results(A_TIMES)
    data["runs"].append(dict(data["runs"][1], run_id="throttled", t_e2e_s=50.0, throttled=True))
    data["runs"].append(dict(data["runs"][1], run_id="broken", t_e2e_s=60.0, valid=False))
    point = compare.compare(report(results(A_TIMES)), report(data))["points"][0]
    assert point["verdict"] == compare.SAME and point["ratio"] == 1
    assert point["runs_b"] == 4 and point["invalid_left_out_b"] == 2


def test_different_workloads_are_refused_with_the_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = save(tmp_path, "pi-1", results(A_TIMES))
    b = save(tmp_path, "transcode-1", results({("strong", 2): [3.0, 3.1]}, workload="transcode",
                                              context={"source": SOURCE}))
    assert compare.main([str(a), str(b)]) == compare.EXIT_REFUSED
    err = capsys.readouterr().err
    assert "A (pi-1) is a pi report and B (transcode-1) a transcode report: different workloads do not compare" in err


def test_a_pi_point_with_another_total_work_is_refused_naming_both_and_what_to_run() -> None:
    block = compare.compare(report(results(A_TIMES)), report(results(A_TIMES, samples=2_000_000)))
    assert not block["compared"] and block["points"] == []
    reason = block["not_compared"][0]["reason"]
    assert "strong N=1: the total work differs (A: W = 3000000 samples, B: W = 2000000 samples)" in reason
    assert reason.endswith("run B with -e pi_samples=3000000")
    assert block["reason"] == "every point in both reports did different work" and len(block["refused"]) == 2
    assert compare.differences_text(block) == "nothing the reports record (parameters, backend, nodes)"


def test_a_weak_point_compares_the_work_per_worker() -> None:
    weak = {("weak", 1): [1.0, 1.1], ("weak", 2): [1.2, 1.3]}
    block = compare.compare(report(results(weak)), report(results(weak, per_worker=500_000)))
    reasons = [p["reason"] for p in block["not_compared"]]
    assert "weak N=2: the work per worker differs (A: W₁ = 1000000 samples, B: W₁ = 500000 samples)" in reasons[1]
    assert reasons[1].endswith("run B with -e pi_samples_per_worker=1000000")
    # Weak points with the same W₁ compare, even with another strong W.
    same = compare.compare(report(results(weak)), report(results(weak, samples=7)))
    assert same["compared"] and not same["refused"]


def test_some_points_refused_others_compared() -> None:
    b = results(A_TIMES)
    for run in b["runs"]:
        if run["workers"] == 2:
            run["work"] = 5_000_000
    block = compare.compare(report(results(A_TIMES)), report(b))
    assert block["compared"] and [p["point"] for p in block["points"]] == ["strong N=1"]
    assert [p["point"] for p in block["not_compared"]] == ["strong N=2"]
    assert "1 point not comparable" in block["summary"]


def transcode(video: dict[str, Any] | None = None, path: str = "/videos/clip.mp4", **parameters: Any) -> dict:
    source = {"path": path, "video": dict(SOURCE["video"], **(video or {}))}
    context = {"backend": "ssh", "source": source, "parameters": {"video": path, "preset": "veryfast", **parameters}}
    return results({("strong", 4): [10.0, 10.5]}, workload="transcode", context=context, warmup=False)


def test_a_transcode_of_another_source_video_is_refused_naming_both() -> None:
    other = transcode({"frames": 1200, "duration_s": 40.0, "width": 1280, "height": 720}, path="/v/sample.mp4")
    block = compare.compare(report(transcode()), report(other))
    assert not block["compared"]
    assert block["reason"].startswith("different source videos: A transcoded clip.mp4 (360 frames, 12 s, 320×240, "
                                      "h264), B sample.mp4 (1200 frames, 40 s, 1280×720, h264)")
    assert "differ in name, duration, frames, resolution" in block["reason"]
    assert block["reason"].endswith("run B with -e video=/videos/clip.mp4")


def test_the_same_video_under_another_name_or_with_another_digest_is_another_source() -> None:
    renamed = compare.compare(report(transcode()), report(transcode(path="/elsewhere/copy.mp4")))
    assert "differ in name" in renamed["reason"]
    digests = [transcode(), transcode()]
    digests[0]["context"]["source"]["sha256"], digests[1]["context"]["source"]["sha256"] = "ab" * 32, "cd" * 32
    assert "differ in digest" in compare.compare(report(digests[0]), report(digests[1]))["reason"]


def test_the_same_video_with_other_settings_compares_and_says_what_changed() -> None:
    block = compare.compare(report(transcode()), report(transcode(preset="medium")))
    assert block["compared"] and block["points"][0]["verdict"] == compare.SAME
    assert compare.differences_text(block) == "parameters.preset veryfast → medium"


def test_a_transcode_with_other_work_is_refused() -> None:
    b = transcode()
    for run in b["runs"]:
        run["work"] = 6.0
    reason = compare.compare(report(transcode()), report(b))["not_compared"][0]["reason"]
    assert "the work differs (A: 12 s of video, B: 6 s of video)" in reason


def test_points_on_one_side_only_are_listed_not_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    b_times = {("strong", 2): A_TIMES[("strong", 2)], ("strong", 4): [0.7, 0.72]}
    a, b = save(tmp_path, "a", results(A_TIMES)), save(tmp_path, "b", results(b_times))
    assert compare.main([str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "Only in A: strong N=1" in out and "Only in B: strong N=4" in out
    block = compare.compare(compare.load_report(str(a)), compare.load_report(str(b)))
    assert [p["point"] for p in block["points"]] == ["strong N=2"] and not block["refused"]


def test_the_bootstrap_is_seeded_and_reproducible() -> None:
    b = report(results({("strong", 1): [2.2, 2.5, 2.1, 2.4]}))
    first, again = (compare.compare(report(results(A_TIMES)), b)["points"][0] for _ in range(2))
    assert (first["ci_low"], first["ci_high"]) == (again["ci_low"], again["ci_high"])
    other = compare.compare(report(results(A_TIMES)), b, seed=1)["points"][0]
    assert (other["ci_low"], other["ci_high"]) != (first["ci_low"], first["ci_high"])


def test_the_command_prints_the_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = save(tmp_path, "pi-a", results(A_TIMES))
    b = save(tmp_path, "pi-b", results(scaled(A_TIMES, 2.0), context={"backend": "local", "parameters":
                                                                       {"kernel": "python"}}))
    assert compare.main([str(a), str(b / "results.json")]) == 0
    out = capsys.readouterr().out
    assert "What differs: parameters.kernel numpy → python" in out
    header = next(line for line in out.splitlines() if line.startswith("point"))
    assert header.split() == ["point", "runs", "A", "/", "B", "A", "median", "B", "median", "B", "/", "A", "[95%",
                              "CI]", "detectable", "verdict"]
    row = next(line for line in out.splitlines() if line.startswith("strong N=1"))
    assert "2.02 s" in row and "4.05 s" in row and "2.00× [" in row and row.endswith("2.00× slower")


def test_reports_are_found_by_folder_results_json_or_latest_link(tmp_path: Path) -> None:
    folder = save(tmp_path, "pi-20261126-101500", results(A_TIMES))
    os.symlink(folder.name, tmp_path / "latest-pi")
    for given in (folder, folder / "results.json", tmp_path / "latest-pi"):
        assert compare.load_report(str(given)).path == str(folder)


@pytest.mark.parametrize("make,message", [
    (lambda p: p / "nowhere", "no such report"),
    (lambda p: p, "is a folder of reports, not one report: name one of them, e.g."),
    (lambda p: p / "empty", "has no results.json: it is not a report folder"),
    (lambda p: p / "broken", "is not valid JSON"),
    (lambda p: p / "other", "is not a lab report's results.json"),
    (lambda p: p / "odd", "runs[0] is not a run record"),
])
def test_a_missing_or_broken_report_gets_a_clear_message(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         make: Any, message: str) -> None:
    good = save(tmp_path, "pi-good", results(A_TIMES))
    os.symlink(good.name, tmp_path / "latest-pi")
    (tmp_path / "empty").mkdir()
    save(tmp_path, "broken", {}).joinpath("results.json").write_text("{not json")
    save(tmp_path, "other", {"hello": 1})
    save(tmp_path, "odd", {"workload": "pi", "runs": [{"mode": "strong", "workers": "two"}]})
    assert compare.main([str(good), str(make(tmp_path))]) == compare.EXIT_ERROR
    assert message in capsys.readouterr().err
    with pytest.raises(compare.ReportError, match="no such report"):
        compare.load_report(str(tmp_path / "nowhere"))


def test_a_report_written_with_compare_to_carries_the_comparison(tmp_path: Path) -> None:
    a = save(tmp_path, "pi-20261125-000000", results(A_TIMES))
    b = results(scaled(A_TIMES, 1.5))
    now = dt.datetime(2026, 11, 26, 3, 15, tzinfo=dt.timezone.utc)
    written = write_report(str(tmp_path), "pi", b["runs"], b["context"], now=now, compare_to=str(a))
    block = json.loads(Path(written["files"]["results.json"]).read_text())["comparison"]
    assert block["a"]["name"] == a.name and block["b"]["path"] == written["path"]
    assert [p["verdict"] for p in block["points"]] == [compare.SLOWER, compare.SLOWER]
    assert written["comparison"]["summary"].startswith(f"Against {a.name}: 2 points (2 slower)")
    page = Path(written["files"]["index.html"]).read_text()
    assert f"<h2>Compared with {a.name}</h2>" in page and "1.50× slower" in page and "time ratio per point" in page
    assert "| strong N=1 | 4 / 4 |" in Path(written["files"]["summary.md"]).read_text()


def test_a_refused_or_unreadable_comparison_still_writes_the_report(tmp_path: Path) -> None:
    a = save(tmp_path, "pi-20261125-000000", results(A_TIMES, samples=10))
    b = results(A_TIMES)
    refused = write_report(str(tmp_path), "pi", b["runs"], b["context"], compare_to=str(a))
    assert "run B with -e pi_samples=10" in Path(refused["files"]["index.html"]).read_text()
    assert "Not compared with" in refused["comparison"]["summary"]
    missing = write_report(str(tmp_path), "pi", b["runs"], b["context"], compare_to=str(tmp_path / "gone"))
    assert missing["comparison"]["reason"].startswith("cannot read the report to compare with: ")
    assert "**Not compared:** cannot read" in Path(missing["files"]["summary.md"]).read_text()
    plain = write_report(str(tmp_path), "pi", b["runs"], b["context"])
    assert json.loads(Path(plain["files"]["results.json"]).read_text())["comparison"] is None
    assert "Compared with" not in Path(plain["files"]["index.html"]).read_text()


def test_the_chart_draws_each_ratio_with_its_interval_around_one() -> None:
    from labkit.report import charts, svg

    block = compare.compare(report(results(A_TIMES)), report(results(scaled(A_TIMES, 1.52))))
    drawn = charts.comparison_chart(block)
    assert drawn is not None and drawn.startswith("<svg")
    assert all(text in drawn for text in ("strong N=1", "strong N=2", "1.52× slower", "← faster", "slower →"))
    assert drawn.count("<circle") == 2 and svg.PALETTE[1] in drawn  # slower points in the slower colour
    assert svg.ratio_ticks(1.0, 10.0) == [0.1, 0.33, 1.0, 3.0, 10.0]
    assert svg.ratio_ticks(1.0, 1.25) == [0.83, 0.95, 1.0, 1.05, 1.2]
    assert charts.comparison_chart(compare.compare(report(results(A_TIMES)), report(results({})))) is None


def test_how_w_was_chosen_and_the_output_path_are_no_difference() -> None:
    a, b = results(A_TIMES), results(A_TIMES)
    a["context"]["parameters"] |= {"sizing": {"how": "given"}, "calibration": {"how": "given"}, "output": "/o/1.mp4"}
    b["context"]["parameters"] |= {"sizing": {"how": "reference"}, "calibration": {"how": "reference"},
                                   "output": "/o/2.mp4", "kernel": "python"}
    assert compare.differences_text(compare.compare(report(a), report(b))) == "parameters.kernel numpy → python"


def test_a_partial_report_is_compared_and_said_to_be_partial() -> None:
    a = results(A_TIMES) | {"partial": {"interrupted": True, "runs_kept": 6, "runs_planned": 10}}
    block = compare.compare(report(a, "/reports/pi-a"), report(results(A_TIMES)))
    assert block["compared"]
    assert block["notes"] == ["A (pi-a): Partial: interrupted after 6 of 10 planned runs; the figures cover only "
                              "the runs kept"]
    assert block["notes"][0] in compare.text(block)
