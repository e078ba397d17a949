"""Preflight with real ffmpeg: impossible settings, missing programs, read-only folders and
damaged sources are refused before any work, in words; a damaged segment is not retried.

Videos are generated with lavfi and damaged with Python (truncated, or bytes overwritten).
Read-only folders: as root (permissions do not stop root) the check runs in a private
mount namespace (`unshare -m`) on a tmpfs mounted read-only; otherwise a chmod 0555 folder.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from labkit.backends import WorkFailed
from labkit.backends.local import LocalBackend
from labkit.params import ParameterError
from labkit.transcode import preflight, segments

REPO = Path(__file__).resolve().parents[2]
WORKER = REPO / "plugins" / "workers" / "transcode_segment.sh"
MODULE_UTILS = REPO / "plugins" / "module_utils"

pytestmark = pytest.mark.usefixtures("ffmpeg_available")


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def lavfi_video(path: Path, seconds: float = 10, *, faststart: bool = True) -> Path:
    """libx264 + AAC, a keyframe every 24 frames; faststart puts the index (moov) in front."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=30:duration={seconds}",
           "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
           "-c:v", "libx264", "-preset", "veryfast", "-x264-params", "keyint=24", "-pix_fmt", "yuv420p",
           "-c:a", "aac", *(["-movflags", "+faststart"] if faststart else []), str(path))
    return path


def truncated(src: Path, dest: Path, keep: float = 0.8) -> Path:
    """The first `keep` of the file's bytes: a copy or a recording cut short."""
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep)])
    return dest


def video_packets(path: Path) -> list[tuple[int, bool]]:
    """(byte position, keyframe) of every video packet."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=pos,flags", "-of", "csv=p=0", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return [(int(pos), "K" in flags) for pos, flags in (line.split(",")[:2] for line in out.split())]


def slice_headers_damaged(src: Path, dest: Path, first: int = 20, count: int = 3) -> Path:
    """Three P/B frames whose slice headers are overwritten (just past the 4-byte length and the NAL
    header): ffprobe still lists every packet without an error, but the decoder drops those frames."""
    data = bytearray(src.read_bytes())
    inter = [pos for pos, key in video_packets(src) if not key]
    for pos in inter[first:first + count]:
        data[pos + 5:pos + 9] = b"\xff\xff\xff\xff"
    dest.write_bytes(bytes(data))
    return dest


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("preflight")
    fast = lavfi_video(d / "fast.mp4")
    slow = lavfi_video(d / "slow.mp4", faststart=False)
    mkv = d / "whole.mkv"
    ffmpeg("-i", str(fast), "-c", "copy", str(mkv))
    notes = d / "notes.mp4"
    notes.write_text("this is not a video\n")
    return {
        "intact": fast,
        "cut_faststart": truncated(fast, d / "cut_faststart.mp4"),
        "cut_at_end_index": truncated(slow, d / "cut_at_end_index.mp4"),
        "cut_mkv": truncated(mkv, d / "cut.mkv"),
        "slices_damaged": slice_headers_damaged(fast, d / "slices_damaged.mp4"),
        "notes": notes,
    }


def encoding(**changed: str) -> SimpleNamespace:
    values = {"video_codec": "libx264", "preset": "veryfast", "crf": "28", "audio_codec": "aac",
              "audio_bitrate": "128k"}
    return SimpleNamespace(**{**values, **changed})


def refused(tmp_path: Path, enc: SimpleNamespace | None = None, **kw: object) -> str:
    """The message preflight refuses with (fails the test when it accepts)."""
    args: dict = {"work_dir": str(tmp_path / "work"), "has_audio": True}
    args.update(kw)
    ff, fp = args.pop("ffmpeg", "ffmpeg"), args.pop("ffprobe", "ffprobe")
    with pytest.raises(ParameterError) as err:
        preflight.preflight(ff, fp, enc or encoding(), **args)
    return str(err.value)


# --- settings and programs ---------------------------------------------------------------------


def test_good_settings_pass_quickly_and_write_nothing(tmp_path: Path) -> None:
    start = time.monotonic()
    preflight.preflight("ffmpeg", "ffprobe", encoding(), work_dir=str(tmp_path / "work" / "transcode"),
                        output_dir=str(tmp_path), has_audio=True)
    assert time.monotonic() - start < 2.0  # ~0.3 s here; generous for a loaded machine
    assert list(tmp_path.iterdir()) == []  # the write test cleans up; the work folder is not made


def test_an_unknown_video_encoder_is_named(tmp_path: Path) -> None:
    msg = refused(tmp_path, encoding(video_codec="nonexistent"))
    assert msg.startswith("transcode_video_codec 'nonexistent' is not a video encoder this ffmpeg has")


def test_a_misspelt_encoder_gets_the_closest_names(tmp_path: Path) -> None:
    msg = refused(tmp_path, encoding(audio_codec="aacc"))
    assert msg.startswith("transcode_audio_codec 'aacc' is not an audio encoder") and "did you mean 'aac'" in msg


def test_a_video_encoder_given_as_the_audio_codec_is_refused(tmp_path: Path) -> None:
    assert refused(tmp_path, encoding(audio_codec="libx264")) == \
        "transcode_audio_codec 'libx264' is a video encoder, not an audio encoder"
    assert refused(tmp_path, encoding(video_codec="aac")) == \
        "transcode_video_codec 'aac' is an audio encoder, not a video encoder"


def test_a_preset_the_encoder_refuses_is_caught_by_the_test_encode(tmp_path: Path) -> None:
    msg = refused(tmp_path, encoding(preset="notapreset"))
    assert msg.startswith("transcode_video_codec=libx264 with transcode_preset=notapreset and transcode_crf=28: "
                          "a test encode with these settings failed")
    assert "invalid preset 'notapreset'" in msg and " @ 0x" not in msg  # ffmpeg's own words, no addresses


def test_an_experimental_audio_encoder_is_caught_by_the_test_encode(tmp_path: Path) -> None:
    # ffmpeg's native opus encoder exists but refuses to run without -strict -2, as the run would.
    msg = refused(tmp_path, encoding(audio_codec="opus"))
    assert msg.startswith("transcode_audio_codec=opus with transcode_audio_bitrate=128k") and "experimental" in msg


def test_without_audio_the_audio_settings_are_not_tested(tmp_path: Path) -> None:
    preflight.preflight("ffmpeg", "ffprobe", encoding(audio_codec="libx264"), work_dir=str(tmp_path),
                        has_audio=False)


def test_a_wrong_program_path_is_named(tmp_path: Path) -> None:
    assert refused(tmp_path, ffmpeg="/nonexistent/ffmpeg").startswith(
        "transcode_ffmpeg '/nonexistent/ffmpeg' does not exist: install FFmpeg")
    assert refused(tmp_path, ffprobe="ffprobe-nope").startswith(
        "transcode_ffprobe 'ffprobe-nope' was not found on PATH")
    not_executable = tmp_path / "ffmpeg"
    not_executable.write_text("#!/bin/sh\n")
    assert refused(tmp_path, ffmpeg=str(not_executable)) == \
        f"transcode_ffmpeg {str(not_executable)!r} is not an executable program (check its permissions)"
    assert refused(tmp_path, ffmpeg=shutil.which("ffprobe") or "ffprobe").startswith("transcode_ffmpeg")
    assert "is not ffprobe" in refused(tmp_path, ffprobe=shutil.which("true") or "/bin/true")


# --- folders ------------------------------------------------------------------------------------


def preflight_in_read_only_folder(folder: Path, role: str) -> subprocess.CompletedProcess[str]:
    """Run preflight with `folder` read-only as `role` ("output" or "work"); prints its message."""
    call = (f"preflight.preflight('ffmpeg', 'ffprobe', enc, work_dir={str(folder) if role == 'work' else '/tmp'!r}, "
            f"output_dir={str(folder) if role == 'output' else None!r})")
    code = ("import sys, types; sys.path.insert(0, %r)\n"
            "from labkit.transcode import preflight\n"
            "enc = types.SimpleNamespace(video_codec='libx264', preset='veryfast', crf='28', audio_codec='aac', "
            "audio_bitrate='128k')\n"
            "try:\n    %s\nexcept ValueError as err:\n    print(err)\n" % (str(MODULE_UTILS), call))
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
        finally:
            folder.chmod(0o755)
    # Root ignores permissions: a read-only tmpfs in a mount namespace of its own (gone with the process).
    script = 'mount -t tmpfs -o ro tmpfs "$1" && shift && exec "$@"'
    proc = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(folder),
                           sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if "mount" in proc.stderr or "unshare" in proc.stderr:
        pytest.skip(f"running as root and cannot mount a read-only tmpfs: {proc.stderr.strip()}")
    return proc


@pytest.mark.parametrize("role", ["output", "work"])
def test_a_read_only_folder_is_refused_before_any_work(tmp_path: Path, role: str) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    proc = preflight_in_read_only_folder(folder, role)
    label = "transcode_output folder" if role == "output" else "transcode_work_dir"
    assert proc.stdout.strip().startswith(f"{label} {str(folder)!r} is not writable"), proc.stdout + proc.stderr


def test_a_work_folder_under_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("")
    assert refused(tmp_path, work_dir=str(tmp_path / "plain" / "work")) == (
        f"transcode_work_dir {str(tmp_path / 'plain' / 'work')!r} cannot be created: "
        f"its parent {str(tmp_path / 'plain')!r} is not a folder")


# --- damaged sources ----------------------------------------------------------------------------


def damage_of(videos: dict[str, Path], name: str) -> str:
    with pytest.raises(ParameterError) as err:
        preflight.check_source(str(videos[name]), videos[name].name, "ffprobe")
    return str(err.value)


def test_a_truncated_mp4_with_its_index_in_front_is_named_damaged(videos: dict[str, Path]) -> None:
    # The index still lists every frame; the data of the last ~20 % is gone.
    msg = damage_of(videos, "cut_faststart")
    assert msg.startswith("video 'cut_faststart.mp4' is damaged: ffprobe could not read past ")
    assert msg.endswith(" s of 10.0 s (partial file); repair or re-export it")
    read = float(msg.split("read past ")[1].split(" s")[0])
    assert 7.0 <= read <= 8.5


def test_a_truncated_mp4_with_its_index_at_the_end_is_named_damaged(videos: dict[str, Path]) -> None:
    # Cutting the end takes the index (moov) with it: without this, "not a video FFmpeg can read".
    assert "is damaged: its index (the moov atom) is missing" in damage_of(videos, "cut_at_end_index")


def test_a_truncated_matroska_is_named_damaged(videos: dict[str, Path]) -> None:
    assert "could not read past" in damage_of(videos, "cut_mkv") and "(file ended prematurely)" in \
        damage_of(videos, "cut_mkv")


@pytest.mark.parametrize("name", ["intact", "slices_damaged", "notes"])
def test_what_ffprobe_reads_cleanly_or_cannot_open_is_not_called_damaged(videos: dict[str, Path], name: str) -> None:
    # slices_damaged: only decoding shows it (the worker's job); notes: the probe names it, not as damage.
    preflight.check_source(str(videos[name]), videos[name].name, "ffprobe")


# --- the segment worker and the backend: final versus transient ----------------------------------


def worker_run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(WORKER), *args], capture_output=True, text=True, check=False)


def worker_args(video: Path, out: Path, frames: int) -> list[str]:
    return ["--input", str(video), "--output", str(out), "--frames", str(frames), "--duration", "0",
            "--tolerance", "0.016", "--index", "0", "--count", "1", "--run-id", "t-1", "--codec", "libx264",
            "--preset", "ultrafast", "--crf", "28", "--threads", "1", "--ffmpeg", "ffmpeg", "--ffprobe", "ffprobe"]


def test_the_worker_exit_statuses_tell_bad_usage_wrong_frames_and_damage_apart(
        videos: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "seg_0000.mp4"
    usage = worker_run(*worker_args(videos["intact"], out, 300), "--colour", "red")
    assert usage.returncode == 2 and "unknown option: --colour" in usage.stderr
    assert worker_run(*worker_args(videos["intact"], out, 0)).returncode == 2  # --frames must be positive
    wrong = worker_run(*worker_args(videos["intact"], out, 301))
    assert wrong.returncode == 5 and "wrote 300 frames, expected 301" in wrong.stderr
    damaged = worker_run(*worker_args(videos["slices_damaged"], out, 300))
    assert damaged.returncode == 7, damaged.stderr
    assert "the input is damaged (ffmpeg: decode_slice_header error); wrote 297 frames, expected 300" in damaged.stderr
    assert not out.exists() and not list(tmp_path.glob("seg_0000.mp4.part*"))  # temporary and log removed
    good = worker_run(*worker_args(videos["intact"], out, 300))
    assert good.returncode == 0, good.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg_0000.mp4"]  # the segment only, no ffmpeg log


def a_plan(work: Path, source: str = "/videos/a.mp4") -> SimpleNamespace:
    """What segment_item and frames_check read of a TranscodePlan (duck-typed: no ffmpeg planning needed)."""
    seg = SimpleNamespace(index=0, name="seg_0000.mp4", chunk="chunk_0000.ts", start_s=0.0, duration_s=3.2,
                          frames=96, lead_s=0.0)
    return SimpleNamespace(work=str(work), source=source, run_id="transcode-1-strong-n1-r1", segments=[seg],
                           encoding=SimpleNamespace(video_codec="libx264", preset="ultrafast", crf="28"),
                           video=SimpleNamespace(tolerance_s=0.016), threads_per_worker=1)


def segment_of(tmp_path: Path, chunk: Path) -> tuple[SimpleNamespace, object]:
    plan = a_plan(tmp_path)
    (tmp_path / "chunks").mkdir()
    (tmp_path / "segments").mkdir()
    shutil.copyfile(chunk, tmp_path / "chunks" / "chunk_0000.ts")
    return plan, segments.segment_item(plan, plan.segments[0], worker=str(WORKER), ffmpeg="ffmpeg", ffprobe="ffprobe")


def test_a_damaged_segment_is_attempted_once_and_named_by_its_time(videos: dict[str, Path], tmp_path: Path) -> None:
    plan, item = segment_of(tmp_path, videos["slices_damaged"])
    outcome = LocalBackend().run([item], slots=1, retries=2, accept=segments.frames_check(plan))
    only = outcome.items[0]
    assert only.attempts == 1 and only.final and len(outcome.attempts) == 1
    assert (only.error or "").startswith("the source is damaged around 0.00–3.20 s (segment 0); repair or "
                                         "re-export it (exited 7, not retried)")
    assert "decode_slice_header error" in (only.error or "")


def test_an_ffmpeg_failure_without_damage_is_retried(videos: dict[str, Path], tmp_path: Path) -> None:
    fake = tmp_path / "ffmpeg-crashes"
    fake.write_text('#!/bin/sh\necho "simulated encoder crash" >&2\nexit 1\n')
    fake.chmod(0o755)
    plan, item = segment_of(tmp_path, videos["intact"])
    item = dataclasses.replace(item, argv=tuple(str(fake) if a == "ffmpeg" else a for a in item.argv))
    outcome = LocalBackend().run([item], slots=1, retries=2)
    only = outcome.items[0]
    assert only.attempts == 3 and not only.final
    assert only.error == "exited 3: simulated encoder crash | transcode_segment: ffmpeg failed on segment 0 " \
                         "('seg_0000.mp4')"


def test_segment_items_carry_their_final_causes_and_a_wrong_count_is_final(tmp_path: Path) -> None:
    plan = a_plan(tmp_path)
    item = segments.segment_item(plan, plan.segments[0], worker="w", ffmpeg="f", ffprobe="p")
    assert set(item.final_exit_codes) == {2, 5, 7}
    wrong_frames = item.final_exit_codes[5]
    assert "0.00–3.20 s of the source" in wrong_frames
    assert "ffmpeg -v error -i /videos/a.mp4 -f null -" in wrong_frames
    with pytest.raises(WorkFailed) as err:
        segments.frames_check(plan)(item, {"frames_out": 95})
    assert err.value.final and str(err.value) == ("worker reported 95 frames, expected 96 "
                                                  "(segment 0, 0.00–3.20 s of the source)")


def test_the_failure_message_tells_final_failures_from_retried_ones() -> None:
    failed = {"seg_0001.mp4": "the source is damaged around 3.20–6.40 s", "seg_0002.mp4": "exited 3: crash"}
    msg = segments.failure_message(failed, {"seg_0001.mp4"})
    assert msg == ("1 segment cannot be made, and retrying cannot help: seg_0001.mp4: the source is damaged "
                   "around 3.20–6.40 s. 1 segment failed after every retry: seg_0002.mp4: exited 3: crash. "
                   "Verified segments are kept; fix the cause above, then rerun to redo only the rest.")
    assert segments.failure_message({"seg_0002.mp4": "exited 3: crash"}, set()).endswith(
        "Verified segments are kept; rerun to redo only the rest.")


def test_segments_that_failed_for_one_reason_share_one_line() -> None:
    why = "the pods cannot run: pod p-0 cannot start: ErrImageNeverPull (image x:1, imagePullPolicy Never)"
    msg = segments.failure_message({"seg_0000.mp4": why, "seg_0001.mp4": why}, {"seg_0000.mp4", "seg_0001.mp4"})
    assert msg.startswith(f"2 segments cannot be made, and retrying cannot help: seg_0000.mp4, seg_0001.mp4: {why}.")
    assert msg.count("ErrImageNeverPull") == 1
