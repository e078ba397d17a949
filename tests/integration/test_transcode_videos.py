"""transcode.yml on the videos phones, cameras, editors and capture cards make.

Each video is made here with lavfi and ffmpeg's own tools, transcoded for real
through the playbook, and the result is measured independently (ffprobe's
stream view, decoded frame counts, PSNR against the source): a damaged output
must fail these even where the kit's own verification would pass it."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from labtest import run_playbook
from mediatest import ffmpeg, lavfi_video, min_psnr, probe, rotation_of, streams_of

pytestmark = pytest.mark.integration

SRT = "1\n00:00:00,500 --> 00:00:02,000\nHello\n\n2\n00:00:03,000 --> 00:00:04,500\nWorld\n"


@pytest.fixture(scope="module")
def made(ffmpeg_available: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("real-world")
    base = lavfi_video(d / "base.mp4", 6)
    silent = lavfi_video(d / "silent.mp4", 6, audio=False)
    late = d / "late.mp4"  # a camera's audio starting half a second after the picture
    ffmpeg("-i", str(silent), "-itsoffset", "0.5", "-f", "lavfi", "-i", "sine=frequency=440:duration=5.5",
           "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(late))
    rotated = d / "portrait phone.mp4"
    ffmpeg("-i", str(base), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))
    mkv, ts = d / "late.mkv", d / "capture.ts"
    ffmpeg("-i", str(late), "-c", "copy", str(mkv))
    ffmpeg("-i", str(late), "-c", "copy", str(ts))
    gop = d / "gop.mp4"  # 20 s, one keyframe every 10 s
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=30:duration=20", "-c:v", "libx264", "-preset",
           "veryfast", "-x264-params", "keyint=300:min-keyint=300:scenecut=0", "-pix_fmt", "yuv420p", str(gop))
    trimmed = d / "trimmed.mp4"  # cut without re-encoding: an edit list hides the first 5 s of the GOP
    ffmpeg("-ss", "5", "-i", str(gop), "-c", "copy", str(trimmed))
    srt = d / "subs.srt"
    srt.write_text(SRT)
    tracks = d / "two tracks.mp4"
    ffmpeg("-i", str(late), "-f", "lavfi", "-i", "sine=frequency=880:duration=6", "-i", str(srt),
           "-map", "0:v", "-map", "0:a", "-map", "1:a", "-map", "2:s", "-c:v", "copy", "-c:a", "aac",
           "-c:s", "mov_text", "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra",
           "-metadata:s:s:0", "language=eng", str(tracks))
    font = d / "font.ttf"
    font.write_bytes(b"\0\1\0\0" + b"\0" * 60)
    attached = d / "attached.mkv"  # a Matroska attachment (a font): no .mp4 can hold it
    ffmpeg("-i", str(base), "-attach", str(font), "-metadata:s:t", "mimetype=application/x-truetype-font",
           "-c", "copy", str(attached))
    return {"late": late, "rotated": rotated, "mkv": mkv, "ts": ts, "trimmed": trimmed, "tracks": tracks,
            "attached": attached}


def transcode(tmp_path: Path, video: Path, **extra: object) -> subprocess.CompletedProcess[str]:
    extra_vars = {"video": str(video), "transcode_segment_seconds": 2, "transcode_preset": "ultrafast",
                  "transcode_reports_dir": str(tmp_path / "reports"), "transcode_work_dir": str(tmp_path / "work")}
    return run_playbook("transcode.yml", extra_vars={**extra_vars, **extra}, timeout=600)


def transcoded(tmp_path: Path, video: Path, **extra: object) -> tuple[dict, Path]:
    proc = transcode(tmp_path, video, **extra)
    assert proc.returncode == 0, proc.stdout[-3000:]
    results = json.loads((tmp_path / "reports" / "latest-transcode" / "results.json").read_text())
    verification = results["verification"]
    assert verification["passed"] and all(c["passed"] for c in verification["checks"])
    return verification, Path(results["context"]["output"])


def start(stream: dict) -> float:
    return float(stream["start_time"])


def test_audio_that_starts_after_the_video_keeps_its_offset(made: dict[str, Path], tmp_path: Path) -> None:
    verification, out = transcoded(tmp_path, made["late"])
    video, audio = streams_of(out)
    source_offset = start(streams_of(made["late"])[1]) - start(streams_of(made["late"])[0])
    assert source_offset == pytest.approx(0.478, abs=0.01)
    assert start(audio) - start(video) == pytest.approx(source_offset, abs=0.05)
    offset = next(c for c in verification["checks"] if c["check"] == "audio 0 start - video start, s")
    assert offset["source"] == pytest.approx(0.478, abs=0.01)


def test_a_rotated_phone_video_stays_upright(made: dict[str, Path], tmp_path: Path) -> None:
    verification, out = transcoded(tmp_path, made["rotated"])
    assert rotation_of(streams_of(made["rotated"])[0]) is not None
    assert rotation_of(streams_of(out)[0]) == rotation_of(streams_of(made["rotated"])[0])
    assert "Display Matrix" in verification["streams"]["output"][0]["side_data"]


@pytest.mark.parametrize("name", ["mkv", "ts"])
def test_matroska_and_mpeg_ts_sources_are_measured_by_their_packets(made: dict[str, Path], tmp_path: Path,
                                                                    name: str) -> None:
    verification, out = transcoded(tmp_path, made[name])
    assert probe(out)["frames"] == 180 and verification["frames_source"] == 180
    video, audio = streams_of(out)
    assert start(audio) - start(video) == pytest.approx(0.478, abs=0.05)
    assert min_psnr(made[name], out) > 30


def test_a_clip_trimmed_without_re_encoding_shows_the_same_frames(made: dict[str, Path], tmp_path: Path) -> None:
    verification, out = transcoded(tmp_path, made["trimmed"])
    assert verification["frames_source"] == 450 and probe(out)["frames"] == 450
    assert min_psnr(made["trimmed"], out) > 30  # the frames a player shows, not the hidden ones


def test_every_audio_track_and_the_subtitles_are_kept(made: dict[str, Path], tmp_path: Path) -> None:
    verification, out = transcoded(tmp_path, made["tracks"])
    kinds = [(s["codec_type"], s.get("tags", {}).get("language")) for s in streams_of(out)]
    assert kinds == [("video", "und"), ("audio", "eng"), ("audio", "fra"), ("subtitle", "eng")]
    _, late, tone, subs = streams_of(out)
    assert start(late) == pytest.approx(0.478, abs=0.05) and start(tone) == pytest.approx(0.0, abs=0.05)
    assert len(verification["streams"]["output"]) == 4
    # into Matroska: mov_text subtitles converted to SubRip, the same cues at the same times
    verification, out = transcoded(tmp_path / "mkv", made["tracks"], transcode_output=str(tmp_path / "tracks.mkv"))
    assert [(s["codec_type"], s["codec_name"]) for s in streams_of(out)][2:] == [("audio", "aac"),
                                                                               ("subtitle", "subrip")]
    cues = next(c for c in verification["checks"] if c["check"] == "subtitle 0 cues")
    assert cues["source"] == cues["output"] == 2
    # one track, chosen: the other and the subtitles are left out because the user said so
    verification, out = transcoded(tmp_path / "one", made["tracks"], transcode_streams="video,audio:1")
    assert [(s["codec_type"], s.get("tags", {}).get("language")) for s in streams_of(out)][1:] == [("audio", "fra")]


def test_a_stream_that_cannot_be_kept_is_refused_before_any_work(made: dict[str, Path], tmp_path: Path) -> None:
    proc = transcode(tmp_path, made["attached"])
    assert proc.returncode != 0
    assert "stream 2 (attachment" in proc.stdout and "transcode_streams" in proc.stdout, proc.stdout[-2000:]
    assert not (tmp_path / "work").exists() and not (tmp_path / "reports").exists()
    _, out = transcoded(tmp_path, made["attached"], transcode_streams="video,audio", transcode_output=str(
        tmp_path / "kept.mp4"))
    assert [s["codec_type"] for s in streams_of(out)] == ["video", "audio"]
