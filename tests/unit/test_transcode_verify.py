"""Output-against-source rules, over measured streams."""
from __future__ import annotations

from dataclasses import replace

from labkit.transcode import verify
from labkit.transcode.streams import StreamFacts

FRAME = 1 / 30
VIDEO = StreamFacts(index=0, kind="video", codec="h264", language=None, packets=3600, start_s=0.0,
                    duration_s=120.0, rotation=None, side_data=(), colours={"color_primaries": "bt709"})
AUDIO = StreamFacts(index=1, kind="audio", codec="aac", language="eng", packets=5625, start_s=0.478,
                    duration_s=119.5)
SUBS = StreamFacts(index=2, kind="subtitle", codec="subrip", language="fra", packets=12, start_s=3.0,
                   duration_s=100.0)
SOURCE = [VIDEO, AUDIO, SUBS]


def check(*output: StreamFacts) -> dict:
    return verify.check(SOURCE, list(output) or SOURCE, FRAME)


def failed(result: dict) -> list[str]:
    return [c["check"] for c in result["checks"] if not c["passed"]]


def test_an_exact_output_passes_and_records_every_check() -> None:
    r = check()
    assert r["passed"] and r["problems"] == []
    assert {c["check"] for c in r["checks"]} >= {
        "streams, in order", "video frames shown", "video duration, s", "video rotation, degrees",
        "audio 0 duration, s", "audio 0 start - video start, s", "subtitle 0 cues", "video color primaries"}
    assert r["frames_output"] == 3600 and r["audio_output_s"] == 119.5
    assert [s["kind"] for s in r["streams"]["output"]] == ["video", "audio", "subtitle"]


def test_seed_000_result_fails_one_extra_frame_and_78_ms() -> None:
    r = check(replace(VIDEO, packets=3601, duration_s=120.078), replace(AUDIO, duration_s=119.578), SUBS)
    assert not r["passed"]
    assert failed(r) == ["video frames shown", "video duration, s", "audio 0 duration, s"]
    assert "3601" in " ".join(r["problems"])


def test_duration_within_one_frame_passes_beyond_fails() -> None:
    assert check(replace(VIDEO, duration_s=120.0 + FRAME * 0.99), AUDIO, SUBS)["passed"]
    assert not check(replace(VIDEO, duration_s=120.0 + FRAME * 1.01), AUDIO, SUBS)["passed"]


def test_audio_that_lost_its_start_offset_fails_although_its_duration_is_right() -> None:
    r = check(VIDEO, replace(AUDIO, start_s=0.0), SUBS)
    assert failed(r) == ["audio 0 start - video start, s"]
    # the offset is measured from the video's start, wherever the file's origin is
    assert check(replace(VIDEO, start_s=1.4), replace(AUDIO, start_s=1.878), replace(SUBS, start_s=4.4))["passed"]
    assert check(VIDEO, replace(AUDIO, start_s=0.478 + 0.049), SUBS)["passed"]


def test_a_lost_rotation_or_side_data_fails() -> None:
    source = [replace(VIDEO, rotation=90.0, side_data=("Display Matrix",))]
    r = verify.check(source, [VIDEO], FRAME)
    assert failed(r) == ["video rotation, degrees", "video side data"]
    assert verify.check(source, [replace(VIDEO, rotation=-270.0, side_data=("Display Matrix",))], FRAME)["passed"]


def test_a_changed_colour_or_aspect_ratio_fails() -> None:
    r = check(replace(VIDEO, colours={}, sample_aspect_ratio="4:3"), AUDIO, SUBS)
    assert failed(r) == ["video sample aspect ratio", "video color primaries"]


def test_a_dropped_track_fails_naming_the_streams() -> None:
    r = check(VIDEO, AUDIO)
    assert not r["passed"] and failed(r) == ["streams, in order"]
    assert "['video', 'audio']" in r["problems"][0]


def test_subtitle_cues_and_language_are_compared() -> None:
    r = check(VIDEO, AUDIO, replace(SUBS, packets=11, language="eng"))
    assert failed(r) == ["subtitle 0 cues", "subtitle 0 language"]


def test_no_audio_in_means_none_out() -> None:
    assert verify.check([VIDEO], [VIDEO], FRAME)["passed"]
    assert not verify.check([VIDEO], [VIDEO, AUDIO], FRAME)["passed"]
    assert verify.check([VIDEO], [VIDEO], FRAME)["audio_source_s"] is None


def test_a_first_frame_from_elsewhere_in_the_video_fails() -> None:
    """A trimmed clip's hidden frames encoded instead of the shown ones: right count, wrong pictures."""
    assert check()["passed"] and not any(c["check"].startswith("first frame") for c in check()["checks"])
    r = verify.check(SOURCE, SOURCE, FRAME, first_frame_psnr_db=15.6)
    assert failed(r) == ["first frame shown, PSNR dB"]
    assert verify.check(SOURCE, SOURCE, FRAME, first_frame_psnr_db=41.6)["passed"]
