"""Output-against-source rules."""
from __future__ import annotations

from labkit.transcode import verify

FRAME = 1 / 30


def check(**kw):
    base = dict(frames_source=3600, frames_output=3600, duration_source_s=120.0, duration_output_s=120.0,
                frame_duration_s=FRAME, audio_source_s=120.0, audio_output_s=120.02,
                has_audio_source=True, has_audio_output=True)
    base.update(kw)
    return verify.check(**base)


def test_exact_output_passes() -> None:
    r = check()
    assert r["passed"] and r["problems"] == []
    assert set(r) >= {"frames_source", "frames_output", "duration_source_s", "duration_output_s",
                      "audio_source_s", "audio_output_s", "passed"}


def test_seed_000_result_fails_one_extra_frame_and_78_ms() -> None:
    r = check(frames_output=3601, duration_output_s=120.078, audio_output_s=120.078)
    assert not r["passed"]
    text = " ".join(r["problems"])
    assert "3601" in text and "audio duration" in text and "video duration" in text


def test_duration_within_one_frame_passes_beyond_fails() -> None:
    assert check(duration_output_s=120.0 + FRAME * 0.99)["passed"]
    assert not check(duration_output_s=120.0 + FRAME * 1.01)["passed"]


def test_audio_50_ms_rule() -> None:
    assert check(audio_output_s=120.049)["passed"]
    assert not check(audio_output_s=120.051)["passed"]


def test_no_audio_in_means_none_out() -> None:
    ok = check(has_audio_source=False, has_audio_output=False, audio_source_s=None, audio_output_s=None)
    assert ok["passed"] and ok["audio_source_s"] is None and ok["audio_output_s"] is None
    assert not check(has_audio_source=False, audio_source_s=None)["passed"]
    assert not check(has_audio_output=False, audio_output_s=None)["passed"]
