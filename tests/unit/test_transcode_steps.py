"""The transcode's steps without ffmpeg: the typed plan, the segment work items, the run records."""
from __future__ import annotations

import json
from fractions import Fraction

import pytest

from labkit.backends import WorkFailed
from labkit.transcode import finish, plan, planfile, segments
from labkit.transcode.planfile import AudioTrack, Encoding, SubtitleTrack, TranscodePlan, VideoInfo
from labkit.transcode.probe import Packet
from labkit.transcode.streams import StreamFacts

TB = Fraction(1, 30)


def a_plan(tmp_path, audio: bool = True) -> TranscodePlan:
    packets = [Packet(pts=t, dts=None, duration=1, key=t % 6 == 0) for t in range(30)]
    segs = plan.plan_segments(packets, TB, 0.4)
    return TranscodePlan(
        run_stamp="20260101-000000", run_id="transcode-20260101-000000-strong-n2-r1", t0_monotonic=1.0,
        probe_s=0.25, source="/videos/a b'$(x).mp4", work=str(tmp_path), output=str(tmp_path / "out.mp4"),
        output_format="mp4", encoding=Encoding(10.0, "libx264", "veryfast", "28", "aac", "128k", "all"),
        retries=2, baseline=True, requested_workers=4, workers=2, cores=2, threads_per_worker=1,
        video=VideoInfo(index=0, codec="h264", width=320, height=240, time_base="1/30", frame_rate="30/1",
                        frames=30, duration_s=1.0, start_s=0.0, frame_s=1 / 30, keyframes=5, tolerance_s=1 / 60),
        audio=[AudioTrack(index=1, codec="aac", duration_s=1.0, offset_s=0.5, file="audio_0.mka")] if audio else [],
        subtitles=[SubtitleTrack(index=2, codec="subrip", output_codec="mov_text")] if audio else [],
        source_start_s=0.0,
        source_streams=[StreamFacts(index=0, kind="video", codec="h264", language=None, packets=30, start_s=0.0,
                                    duration_s=1.0, rotation=90.0, side_data=("Display Matrix",),
                                    colours={"color_primaries": "bt709"})],
        cuts=[12, 18, 24], cut_times=[0.38, 0.58, 0.78], chunks={0: [0, 1], 1: [1, 2, 3], 2: [3]},
        segments=segs,
    )


@pytest.mark.parametrize("audio", [True, False])
def test_the_plan_survives_plan_json(tmp_path, audio: bool) -> None:
    made = a_plan(tmp_path, audio)
    planfile.save(made)
    json.loads((tmp_path / "plan.json").read_text())  # plain JSON
    assert planfile.load(str(tmp_path)) == made


def test_an_unusable_plan_is_named(tmp_path) -> None:
    (tmp_path / "plan.json").write_text('{"schema": 1, "video": {"frames": 3}}')
    with pytest.raises(planfile.StepError, match="no usable plan"):
        planfile.load(str(tmp_path))


def test_parameters_are_the_validated_values_with_the_slots_used(tmp_path) -> None:
    params = a_plan(tmp_path).parameters
    assert params["workers"] == 2 and params["output"].endswith("out.mp4") and params["crf"] == "28"
    assert set(params) == {"video", "segment_seconds", "workers", "retries", "video_codec", "preset", "crf",
                           "audio_codec", "audio_bitrate", "streams", "baseline", "output"}


def test_a_segment_item_names_every_value_and_its_files(tmp_path) -> None:
    p = a_plan(tmp_path)
    seg = p.segments[1]
    item = segments.segment_item(p, seg, worker="/w.sh", ffmpeg="/ff", ffprobe="/fp")
    args = dict(zip(item.argv[2::2], item.argv[3::2]))
    assert item.argv[:2] == ("sh", "/w.sh") and item.name == seg.name and item.index == 1
    assert args == {
        "--input": str(tmp_path / "chunks" / seg.chunk), "--output": str(tmp_path / "segments" / seg.name),
        "--frames": "12", "--duration": "0.400000", "--tolerance": "0.016667", "--index": "1", "--count": "3",
        "--run-id": p.run_id, "--codec": "libx264", "--preset": "veryfast", "--crf": "28", "--threads": "1",
        "--ffmpeg": "/ff", "--ffprobe": "/fp",
    }
    assert item.inputs == (args["--input"],) and item.outputs == (args["--output"],)


def test_a_wrong_frame_count_is_a_failed_attempt(tmp_path) -> None:
    p = a_plan(tmp_path)
    item = segments.segment_item(p, p.segments[2], worker="w", ffmpeg="f", ffprobe="p")
    accept = segments.frames_check(p)
    accept(item, {"frames_out": 6})
    with pytest.raises(WorkFailed, match="worker reported 5 frames, expected 6"):
        accept(item, {"frames_out": 5})


def result(p: TranscodePlan, index: int, run_id: str, resumed: bool) -> dict:
    return {"run_id": run_id, "index": index, "segment": p.segments[index].name, "resumed": resumed}


def test_the_strong_run_is_valid_only_when_nothing_was_resumed(tmp_path) -> None:
    p = a_plan(tmp_path)
    fresh = finish.strong_run(p, 5.0, [result(p, i, p.run_id, False) for i in range(3)], 0)
    assert fresh["valid"] is True and fresh["mode"] == "strong" and fresh["workers"] == 2
    assert fresh["work"] == 1.0 and fresh["t_e2e_s"] == 5.0 and "problems" not in fresh
    mixed = [result(p, 0, "transcode-old", True)] + [result(p, i, p.run_id, False) for i in (1, 2)]
    resumed = finish.strong_run(p, 5.0, mixed, 1)
    assert resumed["valid"] is False and len(resumed["results"]) == 3
    assert resumed["results"][0]["resumed_from"] == "transcode-old"


def test_the_baseline_is_its_own_planned_run(tmp_path) -> None:
    planned = a_plan(tmp_path).planned_run("baseline")
    assert (planned.mode, planned.workers, planned.order) == ("baseline", 1, 2)
    assert planned.run_id == "transcode-20260101-000000-baseline-n1-r1"


def test_the_phase_split_adds_the_probe_to_the_split() -> None:
    phases = finish.phase_split(0.25, {"split_s": 0.5, "audio_s": 1.0, "segments_s": 3.0,
                                       "join_mux_s": 0.1, "verify_s": 0.2})
    assert phases == {"probe_split_s": 0.75, "audio_s": 1.0, "segments_s": 3.0, "join_mux_s": 0.1, "verify_s": 0.2}
