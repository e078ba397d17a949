"""The progress file of a long step and the line printed from it."""
from __future__ import annotations

from labkit import progress


def test_the_line_counts_per_host_the_rate_of_this_run_and_the_time_left(tmp_path) -> None:
    path = str(tmp_path / "progress.json")
    tracker = progress.ProgressFile(path, total=6, work_total=600.0, unit="frames", resumed=1, resumed_work=100.0)
    tracker.item_done("sbx-1", 100.0)
    tracker.item_done("sbx-2", 100.0)
    tracker.item_failed()
    tracker.host_lost("sbx-3")
    state = dict(progress.read(path) or {}, elapsed_s=4.0)
    line = progress.describe(state, "segments", now=state["updated"])
    # 200 frames of this run's work in 4 s (the resumed 100 do not count): 50 frames/s, 300 left
    assert line == ("segments: 3/6 done (1 resumed), 1 failed attempt — sbx-1 1, sbx-2 1 — 50.0 frames/s"
                    " — about 6 s left — LOST: sbx-3")


def test_the_time_since_the_last_write_counts_and_a_finished_run_has_no_estimate(tmp_path) -> None:
    state = {"done": 1, "total": 2, "work_done": 10.0, "work_total": 20.0, "elapsed_s": 1.0, "updated": 100.0,
             "unit": "frames"}
    assert progress.describe(state, "s", now=104.0).endswith("2.0 frames/s — about 5 s left")
    assert progress.describe(dict(state, finished=True), "s", now=104.0) == "s: 1/2 done — 10.0 frames/s"
    assert progress.read(str(__file__) + ".missing") is None
    assert progress.describe({"done": 0, "total": 3}, "segments") == "segments: 0/3 done"
