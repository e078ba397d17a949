"""transcode.yml for real on the embedded default (local backend), with real ffmpeg.

Videos are generated with lavfi. The main one is encoded by libx264 with
B-frames and open GOPs and a short keyframe interval: the case that makes a
naive copy-split gain or lose frames at every join."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from labtest import REPO, run_playbook
from mediatest import ffmpeg, lavfi_video, min_psnr, probe, sha256

pytestmark = pytest.mark.integration

HOSTILE = "a b'$(x);é.mp4"


@pytest.fixture(scope="session")
def videos(ffmpeg_available: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    open_gop = lavfi_video(d / "open_gop.mp4", 12)
    odd = d / "odd dir"
    odd.mkdir()
    hostile = odd / HOSTILE
    shutil.copyfile(open_gop, hostile)
    audio_only = d / "tone.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", str(audio_only))
    text = d / "notes.mp4"
    text.write_text("this is not a video\n")
    empty = d / "empty.mp4"
    empty.touch()
    return {
        "open_gop": open_gop,
        "hostile": hostile,
        "no_audio": lavfi_video(d / "silent.mp4", 5, audio=False, open_gop=False),
        "short": lavfi_video(d / "short.mp4", 2),
        "audio_only": audio_only,
        "text": text,
        "empty": empty,
        "dir": d / "odd dir",
    }


def dirs(tmp_path: Path) -> dict[str, str]:
    return {"transcode_reports_dir": str(tmp_path / "reports"), "transcode_work_dir": str(tmp_path / "work")}


def tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


def transcode(tmp_path: Path, video: Path, **extra: object) -> subprocess.CompletedProcess[str]:
    return run_playbook("transcode.yml", extra_vars={"video": str(video), **dirs(tmp_path), **extra}, timeout=600)


def output_of(tmp_path: Path) -> tuple[dict, Path]:
    results = json.loads((tmp_path / "reports" / "latest-transcode" / "results.json").read_text())
    return results, Path(results["context"]["output"])


def test_open_gop_video_is_transcoded_frame_exact_with_a_report(videos: dict[str, Path], tmp_path: Path) -> None:
    src = videos["open_gop"]
    before, listing = sha256(src), tree(src.parent)
    proc = transcode(tmp_path, src, transcode_segment_seconds=2.5, transcode_workers=2, transcode_baseline=True)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert sha256(src) == before and tree(src.parent) == listing  # only ever read
    results, out = output_of(tmp_path)
    assert out.is_file() and str(out).startswith(str(tmp_path / "work"))
    got, want = probe(out), probe(src)
    assert got["frames"] == want["frames"] == 360
    assert abs(got["video_s"] - want["video_s"]) <= 1 / 30
    assert abs(got["audio_s"] - want["audio_s"]) <= 0.050
    assert min_psnr(src, out) > 28  # every frame in its place, none shifted by a join
    ver = results["verification"]
    assert ver["passed"] and ver["frames_source"] == ver["frames_output"] == 360
    assert set(results["phases"]) >= {"probe_split_s", "audio_s", "segments_s", "join_mux_s", "verify_s"}
    runs = {r["mode"]: r for r in results["runs"]}
    assert set(runs) == {"strong", "baseline"}
    strong = runs["strong"]
    assert strong["workers"] == 2 and strong["work"] == pytest.approx(12.0)
    segs = sorted(strong["results"], key=lambda r: r["index"])
    assert [r["index"] for r in segs] == list(range(len(segs))) and len(segs) >= 4
    assert sum(r["frames_out"] for r in segs) == 360
    assert all(r["frames_in"] == r["frames_out"] and r["workload"] == "transcode" and r["schema"] == 1 for r in segs)
    assert runs["baseline"]["workers"] == 1 and runs["baseline"]["results"][0]["frames_out"] == 360
    assert "segments: " in proc.stdout and "verified" in proc.stdout  # progress lines
    report = tmp_path / "reports" / "latest-transcode"
    for name in ("index.html", "summary.md", "runs.csv", "summary.csv", "results.json"):
        assert (report / name).stat().st_size > 0, name
    # Nothing left but the work folder and the report: no chunks, no temporaries.
    work = next((tmp_path / "work").iterdir())
    assert not (work / "chunks").exists() and not list(work.rglob("*.part*"))


def test_hostile_names_just_work(videos: dict[str, Path], tmp_path: Path) -> None:
    src = videos["hostile"]
    before = sha256(src)
    out_dir = tmp_path / "out; $(touch pwned) 'q'"
    out_dir.mkdir()
    out = out_dir / "résultat $(x).mp4"
    proc = transcode(tmp_path, src, transcode_output=str(out), transcode_segment_seconds=4)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert sha256(src) == before
    assert probe(out)["frames"] == 360
    assert sorted(p.name for p in out_dir.iterdir()) == [out.name]  # only the finished output
    assert not list(Path.cwd().glob("pwned")) and not (REPO / "pwned").exists()


@pytest.mark.parametrize("name", ["no_audio", "short"])
def test_no_audio_and_shorter_than_a_segment(videos: dict[str, Path], tmp_path: Path, name: str) -> None:
    src = videos[name]
    proc = transcode(tmp_path, src)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    results, out = output_of(tmp_path)
    got, want = probe(out), probe(src)
    assert got["frames"] == want["frames"]
    assert abs(got["video_s"] - want["video_s"]) <= 1 / 30
    if name == "no_audio":
        assert got["audio_streams"] == 0 and results["verification"]["audio_output_s"] is None
    else:
        assert len(results["runs"][0]["results"]) == 1  # one segment
        assert abs(got["audio_s"] - want["audio_s"]) <= 0.050


@pytest.mark.parametrize(
    ("case", "extra", "expected"),
    [
        ("missing", {}, "does not exist"),
        ("text", {}, "is not a video FFmpeg can read"),
        ("empty", {}, "is empty"),
        ("dir", {}, "is a directory"),
        ("audio_only", {}, "has no video stream"),
        ("source_as_output", {}, "is the source video itself"),
        ("existing_output", {}, "already exists"),
        ("bad_segment", {"transcode_segment_seconds": "ten"}, "transcode_segment_seconds"),
    ],
)
def test_bad_input_fails_before_any_work(videos: dict[str, Path], tmp_path: Path, case: str, extra: dict, expected: str) -> None:
    video = {
        "missing": videos["open_gop"].parent / "nope.mp4", "text": videos["text"], "empty": videos["empty"],
        "dir": videos["dir"], "audio_only": videos["audio_only"],
    }.get(case, videos["open_gop"])
    if case == "source_as_output":
        extra = {"transcode_output": str(video)}
    if case == "existing_output":
        existing = tmp_path / "keep.mp4"
        existing.write_bytes(b"precious")
        extra = {"transcode_output": str(existing)}
    before = sha256(videos["open_gop"])
    proc = transcode(tmp_path, video, **extra)
    assert proc.returncode != 0
    text = proc.stdout + proc.stderr
    assert expected in text, text[-3000:]
    if case not in ("bad_segment", "source_as_output", "existing_output"):
        assert video.name in text  # the message names the value
    assert "Traceback" not in text
    assert not (tmp_path / "work").exists() and not (tmp_path / "reports").exists()
    assert sha256(videos["open_gop"]) == before
    if case == "existing_output":
        assert (tmp_path / "keep.mp4").read_bytes() == b"precious"


def test_a_failing_segment_is_retried_then_named_and_a_rerun_redoes_only_it(
    videos: dict[str, Path], tmp_path: Path
) -> None:
    # An ffmpeg that always fails on segment 2 (and counts its attempts).
    log = tmp_path / "attempts.log"
    fake = tmp_path / "ffmpeg-breaks-seg2"
    real = shutil.which("ffmpeg")
    fake.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in *seg_0002.mp4.part.*) echo x >> "$BREAK_LOG"; '
        'printf partial > "$a"; echo "simulated encoder crash" >&2; exit 1;; esac; done\n'
        f'exec "{real}" "$@"\n'
    )
    fake.chmod(0o755)
    env_extra = {"BREAK_LOG": str(log)}
    from labtest import ansible_env

    common = {"video": str(videos["open_gop"]), **dirs(tmp_path), "transcode_segment_seconds": 2.5,
              "transcode_retries": 2}
    proc = run_playbook("transcode.yml", extra_vars=common | {"transcode_ffmpeg": str(fake)},
                        env=ansible_env(**env_extra), timeout=600)
    assert proc.returncode != 0
    assert "seg_0002.mp4" in proc.stdout and "simulated encoder crash" in proc.stdout, proc.stdout[-4000:]
    assert len(log.read_text().splitlines()) == 3  # 1 try + 2 retries
    work = next((tmp_path / "work").iterdir())
    assert not (work / "segments" / "seg_0002.mp4").exists()
    assert not list(work.rglob("*.part*"))  # the worker removed its temporary
    assert not (tmp_path / "reports").exists()

    manifest = json.loads((work / "manifest.json").read_text())
    verified_before = set(manifest["segments"])
    assert "seg_0002.mp4" not in verified_before and len(verified_before) >= 3

    proc = run_playbook("transcode.yml", extra_vars=common, timeout=600)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    count = len(verified_before) + 1
    assert f"segments: {count}/{count} verified ({count - 1} resumed)" in proc.stdout
    results, out = output_of(tmp_path)
    assert probe(out)["frames"] == 360 and results["verification"]["passed"]
    redone = [r for r in results["runs"][0]["results"] if not r["resumed"]]
    assert [r["segment"] for r in redone] == ["seg_0002.mp4"]
    assert results["runs"][0]["valid"] is False  # a resumed run's time is not a full measurement


def test_rerun_redoes_damaged_and_half_written_segments(videos: dict[str, Path], tmp_path: Path) -> None:
    common = {"transcode_segment_seconds": 2.5}
    proc = transcode(tmp_path, videos["open_gop"], **common)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    work = next((tmp_path / "work").iterdir())
    segs = work / "segments"
    names = sorted(p.name for p in segs.glob("seg_*.mp4"))
    assert len(names) >= 4
    # A worker killed mid-segment: a half-written temporary, never renamed.
    (segs / names[1]).rename(segs / (names[1] + ".part"))
    (segs / (names[1] + ".part")).write_bytes(b"half")
    # A damaged segment: same name, wrong bytes.
    data = (segs / names[2]).read_bytes()
    (segs / names[2]).write_bytes(data[: len(data) // 2])
    proc = transcode(tmp_path, videos["open_gop"], **common)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    n = len(names)
    assert f"segments: {n}/{n} verified ({n - 2} resumed)" in proc.stdout
    results, out = output_of(tmp_path)
    redone = sorted(r["segment"] for r in results["runs"][0]["results"] if not r["resumed"])
    assert redone == [names[1], names[2]]
    assert probe(out)["frames"] == 360 and min_psnr(videos["open_gop"], out) > 28


def test_worker_refuses_bad_arguments_and_a_wrong_frame_count(videos: dict[str, Path], tmp_path: Path) -> None:
    worker = REPO / "plugins" / "workers" / "transcode_segment.sh"
    out = tmp_path / "seg_0000.mp4"
    base = ["sh", str(worker), "--input", str(videos["no_audio"]), "--output", str(out), "--duration", "5",
            "--tolerance", "0.016", "--index", "0", "--count", "1", "--run-id", "t-1",
            "--codec", "libx264", "--preset", "veryfast", "--crf", "28", "--threads", "0",  # all required
            "--ffmpeg", "ffmpeg", "--ffprobe", "ffprobe"]
    bad = subprocess.run([*base, "--frames", "1; rm -rf /"], capture_output=True, text=True, check=False)
    assert bad.returncode != 0 and "--frames must be a positive integer" in bad.stderr and bad.stdout == ""
    wrong = subprocess.run([*base, "--frames", "151"], capture_output=True, text=True, check=False)
    assert wrong.returncode != 0 and "wrote 150 frames, expected 151" in wrong.stderr
    assert wrong.stdout == "" and not out.exists() and not list(tmp_path.glob("seg_0000.mp4.part*"))
    good = subprocess.run([*base, "--frames", "150", "--slot", "1"], capture_output=True, text=True, check=False)
    assert good.returncode == 0, good.stderr
    lines = good.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("RESULT ")
    rec = json.loads(lines[0][len("RESULT "):])
    assert rec["frames_out"] == rec["frames_in"] == 150 and rec["bytes_out"] == out.stat().st_size
    assert rec["t_end_ns"] >= rec["t_start_ns"] and rec["compute_s"] >= 0 and rec["slot"] == 1
    assert {"schema", "workload", "run_id", "index", "count", "node", "segment", "media_s"} <= set(rec)


def test_the_test_video_defeats_seed_000s_method(videos: dict[str, Path], tmp_path: Path) -> None:
    """The open-GOP fixture is a real trap: the seed's copy-split / per-piece
    encode / concat loses frames and time on it (so the tests above can fail)."""
    src = videos["open_gop"]
    ffmpeg("-i", str(src), "-c", "copy", "-map", "0", "-segment_time", "2.5", "-f", "segment",
           "-reset_timestamps", "1", str(tmp_path / "part%03d.mp4"))
    parts = sorted(tmp_path.glob("part*.mp4"))
    for part in parts:
        ffmpeg("-i", str(part), "-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-c:a", "aac",
               "-b:a", "128k", str(part.with_name(part.stem + "_output.mp4")))
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"file '{p.stem}_output.mp4'\n" for p in parts))
    ffmpeg("-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy", str(tmp_path / "final.mp4"))
    got, want = probe(tmp_path / "final.mp4"), probe(src)
    assert got["frames"] != want["frames"] or abs(got["video_s"] - want["video_s"]) > 1 / 30


def test_killing_the_playbook_mid_segments_then_rerunning(videos: dict[str, Path], tmp_path: Path) -> None:
    """kill -9 of the whole playbook (workers included) while segments run:
    whatever was being written is never counted, the rerun finishes the job."""
    import signal
    import time

    from labtest import BIN, ansible_env, processes_left

    extra = {"video": str(videos["open_gop"]), **dirs(tmp_path), "transcode_segment_seconds": 1.5,
             "transcode_workers": 1}
    proc = subprocess.Popen(
        [str(BIN / "ansible-playbook"), "transcode.yml", "-e", json.dumps(extra)],
        cwd=REPO, env=ansible_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.monotonic() + 120
    manifest = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((tmp_path / "work").glob("*/manifest.json"))
        if found:
            try:
                if json.loads(found[0].read_text())["segments"]:
                    manifest = found[0]
                    break
            except (ValueError, KeyError):
                pass
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert manifest is not None, "the first segment never got verified"
    # Ansible runs modules in their own session: the module's watchdog must
    # notice and stop its encoders. After that nothing changes any more.
    time.sleep(3)
    done_before = set(json.loads(manifest.read_text())["segments"])
    time.sleep(2)
    assert set(json.loads(manifest.read_text())["segments"]) == done_before
    assert 1 <= len(done_before) < 8
    assert not (tmp_path / "reports").exists()
    # Nothing of the killed run stays: Ansible's workers live in sessions of their own, out of
    # reach of the kill, and must end with the playbook; the detached job and its encoders too.
    assert processes_left(str(tmp_path)) == []
    import fcntl

    with open(manifest.parent / ".lock", "rb") as fh:  # free again: the run is gone
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fh, fcntl.LOCK_UN)

    proc2 = transcode(tmp_path, videos["open_gop"], transcode_segment_seconds=1.5, transcode_workers=1)
    assert proc2.returncode == 0, proc2.stdout[-6000:] + proc2.stderr[-3000:]
    results, out = output_of(tmp_path)
    resumed = {r["segment"] for r in results["runs"][0]["results"] if r["resumed"]}
    assert resumed and resumed <= done_before
    assert probe(out)["frames"] == 360 and results["verification"]["passed"]


def test_the_seams_are_measured_where_the_plan_put_them(videos: dict[str, Path], tmp_path: Path) -> None:
    proc = transcode(tmp_path, videos["open_gop"], transcode_segment_seconds=3, transcode_seams=True,
                     transcode_preset="ultrafast")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    results, _out = output_of(tmp_path)
    plan = json.loads(next((tmp_path / "work").glob("*/plan.json")).read_text())
    block = results["seams"]
    # Every output frame compared, each seam where a segment of the plan starts.
    starts, total = [], 0
    for segment in plan["segments"][:-1]:
        total += segment["frames"]
        starts.append(total)
    assert block["boundaries"] == starts and len(starts) == len(plan["segments"]) - 1 >= 2
    assert block["frames"] == len(block["psnr_db"]) == len(block["ssim"]) == plan["video"]["frames"]
    assert 25 < block["psnr_mean_db"] < 100 and 0.8 < block["ssim_mean"] <= 1
    assert block["forced_keyframe_bytes"] > block["frame_bytes"]
    assert results["phases"]["seams_s"] > 0 and not list((tmp_path / "work").glob("*/seams-*.log"))
    page = (tmp_path / "reports" / "latest-transcode" / "index.html").read_text()
    assert "Quality at the seams" in page and "first frame after a seam" in page
    assert "Quality at the seams" in (tmp_path / "reports" / "latest-transcode" / "summary.md").read_text()
