"""The local segment pool and parameter validation."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from labkit.transcode import params, pool


def test_pool_runs_everything_on_n_slots_in_the_given_order() -> None:
    started: list[str] = []
    live = {"now": 0, "max": 0}
    lock = threading.Lock()

    def run(item: str, slot: int) -> dict:
        with lock:
            started.append(item)
            live["now"] += 1
            live["max"] = max(live["max"], live["now"])
        time.sleep(0.02)
        with lock:
            live["now"] -= 1
        return {"item": item, "slot": slot}

    items = ["long", "mid", "short1", "short2", "short3"]
    out = pool.run_pool(items, str, run, workers=2, retries=0)
    assert out.ok and set(out.results) == set(items)
    assert started[:2] == ["long", "mid"]
    assert live["max"] == 2
    assert {r["slot"] for r in out.results.values()} <= {0, 1}


def test_retries_are_bounded_and_failures_named() -> None:
    calls: dict[str, int] = {}

    def run(item: str, slot: int) -> dict:
        calls[item] = calls.get(item, 0) + 1
        if item == "bad" or (item == "flaky" and calls[item] == 1):
            raise pool.WorkFailed(f"{item} broke")
        return {}

    out = pool.run_pool(["ok", "flaky", "bad"], str, run, workers=2, retries=2)
    assert calls == {"ok": 1, "flaky": 2, "bad": 3}
    assert out.failed == {"bad": "bad broke"} and not out.ok
    assert set(out.results) == {"ok", "flaky"}
    assert len(out.attempts) == 4


def test_pool_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        pool.run_pool([], str, lambda i, s: {}, workers=0, retries=0)


def test_params_defaults_and_messages(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    video.write_bytes(b"data")
    ok = params.validate({"video": str(video)}, cores=4)
    assert ok["workers"] == 4 and ok["segment_seconds"] == 10 and ok["crf"] == "28"
    assert ok["preset"] == "veryfast" and ok["audio_bitrate"] == "128k" and ok["baseline"] is False
    cases = [
        ({"segment_seconds": "abc"}, "transcode_segment_seconds"),
        ({"segment_seconds": 0}, "transcode_segment_seconds"),
        ({"workers": "-1"}, "transcode_workers"),
        ({"retries": "x"}, "transcode_retries"),
        ({"preset": "warp"}, "transcode_preset"),
        ({"crf": "99"}, "transcode_crf"),
        ({"audio_bitrate": "loud"}, "transcode_audio_bitrate"),
        ({"video_codec": "lib x264"}, "transcode_video_codec"),
        ({"baseline": "maybe"}, "transcode_baseline"),
    ]
    for extra, name in cases:
        with pytest.raises(params.ParamError, match=name):
            params.validate({"video": str(video), **extra}, cores=2)


def test_video_path_checks_name_the_value(tmp_path: Path) -> None:
    with pytest.raises(params.ParamError, match="required"):
        params.check_video_path("")
    with pytest.raises(params.ParamError, match="does not exist"):
        params.check_video_path(str(tmp_path / "nope.mp4"))
    with pytest.raises(params.ParamError, match="directory"):
        params.check_video_path(str(tmp_path))
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(params.ParamError, match="empty"):
        params.check_video_path(str(empty))


def test_output_path_never_the_source_never_existing(tmp_path: Path) -> None:
    src = tmp_path / "a.mp4"
    src.write_bytes(b"1")
    with pytest.raises(params.ParamError, match="source"):
        params.check_output_path(str(src), str(src))
    other = tmp_path / "b.mp4"
    other.write_bytes(b"1")
    with pytest.raises(params.ParamError, match="already exists"):
        params.check_output_path(str(other), str(src))
    with pytest.raises(params.ParamError, match="must end in"):
        params.check_output_path(str(tmp_path / "c.txt"), str(src))
    with pytest.raises(params.ParamError, match="does not exist"):
        params.check_output_path(str(tmp_path / "no" / "c.mp4"), str(src))
    assert params.check_output_path(str(tmp_path / "c.mp4"), str(src)) == str(tmp_path / "c.mp4")
