"""transcode.yml refuses impossible settings and damaged sources before any work, and
never retries a segment that a damaged source makes impossible (real ffmpeg, lavfi videos).

Read-only output folder: as root (permissions do not stop root) the playbook runs in a
private mount namespace (`unshare -m`) where the folder is a tmpfs mounted read-only;
otherwise the folder is chmod 0555."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from labtest import BIN, REPO, ansible_env, run_playbook

pytestmark = pytest.mark.integration


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def lavfi_video(path: Path, seconds: float = 10) -> Path:
    """libx264 + AAC, a keyframe every 24 frames, the index (moov) in front."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=30:duration={seconds}",
           "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
           "-c:v", "libx264", "-preset", "veryfast", "-x264-params", "keyint=24", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-movflags", "+faststart", str(path))
    return path


def slice_headers_damaged(src: Path, dest: Path, first: int = 20, count: int = 3) -> Path:
    """Three inter frames near 0.8 s whose slice headers are overwritten: ffprobe lists every
    packet without complaint (so no preflight can see it), the decoder drops those frames."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pos,flags",
                          "-of", "csv=p=0", str(src)], capture_output=True, text=True, check=True).stdout
    inter = [int(pos) for pos, flags in (line.split(",")[:2] for line in out.split()) if "K" not in flags]
    data = bytearray(src.read_bytes())
    for pos in inter[first:first + count]:
        data[pos + 5:pos + 9] = b"\xff\xff\xff\xff"
    dest.write_bytes(bytes(data))
    return dest


@pytest.fixture(scope="module")
def videos(ffmpeg_available: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("preflight-videos")
    intact = lavfi_video(d / "intact.mp4")
    data = intact.read_bytes()
    cut = d / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.8)])  # the last ~20 % of the bytes gone
    return {"intact": intact, "cut": cut, "slices_damaged": slice_headers_damaged(intact, d / "slices.mp4")}


def dirs(tmp_path: Path) -> dict[str, str]:
    return {"transcode_reports_dir": str(tmp_path / "reports"), "transcode_work_dir": str(tmp_path / "work")}


def transcode(tmp_path: Path, video: Path, **extra: object) -> subprocess.CompletedProcess[str]:
    return run_playbook("transcode.yml", extra_vars={"video": str(video), **dirs(tmp_path), **extra}, timeout=600)


def assert_refused_before_any_work(proc: subprocess.CompletedProcess[str], tmp_path: Path, expected: str) -> str:
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert expected in text, text[-3000:]
    assert "Traceback" not in text and "[Errno" not in text
    assert not (tmp_path / "work").exists() and not (tmp_path / "reports").exists()
    return text


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"transcode_video_codec": "nonexistent"},
         "transcode_video_codec 'nonexistent' is not a video encoder this ffmpeg has"),
        ({"transcode_audio_codec": "libx264"},
         "transcode_audio_codec 'libx264' is a video encoder, not an audio encoder"),
        ({"transcode_audio_codec": "opus"}, "transcode_audio_codec=opus with transcode_audio_bitrate=128k: "
                                            "a test encode with these settings failed"),
        ({"transcode_ffmpeg": "/nonexistent/ffmpeg"}, "transcode_ffmpeg '/nonexistent/ffmpeg' does not exist"),
        ({"transcode_ffprobe": "/nonexistent/ffprobe"}, "/nonexistent/ffprobe"),
        ({"cluster_backend": "k3s", "transcode_k3s_kubeconfig": "/nonexistent/kubeconfig.yaml"},
         "No kubeconfig at /nonexistent/kubeconfig.yaml: run `ansible-playbook site.yml"),
    ],
    ids=["unknown-video-encoder", "video-encoder-as-audio", "refused-audio-settings", "ffmpeg-path", "ffprobe-path",
         "k3s-without-kubeconfig"],
)
def test_impossible_settings_are_refused_before_any_work(videos: dict[str, Path], tmp_path: Path, extra: dict,
                                                         expected: str) -> None:
    before = sha256(videos["intact"])
    proc = transcode(tmp_path, videos["intact"], **extra)
    assert_refused_before_any_work(proc, tmp_path, expected)
    assert sha256(videos["intact"]) == before


def test_a_read_only_output_folder_is_refused_before_any_work(videos: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "read-only"
    folder.mkdir()
    out = folder / "out.mp4"
    extra = {"video": str(videos["intact"]), **dirs(tmp_path), "transcode_output": str(out)}
    cmd = [str(BIN / "ansible-playbook"), "transcode.yml", "-e", json.dumps(extra)]
    if os.geteuid() == 0:  # root writes anywhere: a read-only tmpfs, in a mount namespace of the run's own
        script = 'mount -t tmpfs -o ro tmpfs "$1" && shift && exec "$@"'
        cmd = ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", str(folder), *cmd]
    else:
        folder.chmod(0o555)
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=600,
                              check=False)
    finally:
        folder.chmod(0o755)
    if os.geteuid() == 0 and proc.returncode != 0 and "mount:" in proc.stderr:
        pytest.skip(f"running as root and cannot mount a read-only tmpfs: {proc.stderr.strip()[-300:]}")
    assert_refused_before_any_work(proc, tmp_path, f"transcode_output folder {str(folder)!r} is not writable")
    assert not out.exists()


def test_a_truncated_source_is_named_damaged_before_any_work(videos: dict[str, Path], tmp_path: Path) -> None:
    proc = transcode(tmp_path, videos["cut"])
    text = assert_refused_before_any_work(proc, tmp_path, "cut.mp4' is damaged: ffprobe could not read past ")
    assert "s of 10.0 s (partial file); repair or re-export it" in text
    assert "wrote" not in text  # not found late, by a segment's frame count


def test_a_segment_the_source_damages_is_attempted_once_and_named_by_its_time(
        videos: dict[str, Path], tmp_path: Path) -> None:
    proc = transcode(tmp_path, videos["slices_damaged"], transcode_segment_seconds=2.5, transcode_retries=2)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "1 segment cannot be made, and retrying cannot help: seg_0000.mp4: the source is damaged around 0.00–" \
        in text, text[-4000:]
    assert "(segment 0); repair or re-export it (exited 7, not retried)" in text
    assert "decode_slice_header error" in text  # ffmpeg's own words
    assert "Traceback" not in text and not (tmp_path / "reports").exists()
    fatal = next(line for line in proc.stdout.splitlines() if line.startswith("fatal:"))
    failed = json.loads(fatal.split(" => ", 1)[1])
    job = failed["job"]  # the segments step's own values (an until loop owns `attempts` at the top)
    assert [a["attempt"] for a in job["attempts"]] == [1] and job["not_retried"] == ["seg_0000.mp4"]
    work = next((tmp_path / "work").iterdir())
    assert not (work / "segments" / "seg_0000.mp4").exists() and not list(work.rglob("*.part*"))
