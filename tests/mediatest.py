"""Test videos made with FFmpeg's lavfi sources and ffmpeg's own tools, and
independent measurements of a result (ffprobe, PSNR), for the transcode tests."""
from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def lavfi_video(path: Path, seconds: float, audio: bool = True, open_gop: bool = True) -> Path:
    args = ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=30:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    x264 = "bframes=3:open_gop=1:keyint=24:min-keyint=24:scenecut=0" if open_gop else "bframes=0:keyint=30"
    args += ["-c:v", "libx264", "-preset", "veryfast", "-x264-params", x264, "-pix_fmt", "yuv420p"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "96k"]
    ffmpeg(*args, str(path))
    return path


def probe(path: Path) -> dict:
    """Decoded frame count (not the container's claim), stream durations."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_entries",
         "stream=codec_type,nb_read_frames,duration", "-of", "json", "--", str(path)],
        capture_output=True, text=True, check=True,
    )
    streams = json.loads(out.stdout)["streams"]
    video = [s for s in streams if s["codec_type"] == "video"]
    audio = [s for s in streams if s["codec_type"] == "audio"]
    return {
        "frames": int(video[0]["nb_read_frames"]) if video else 0,
        "video_s": float(video[0]["duration"]) if video else None,
        "audio_s": float(audio[0]["duration"]) if audio else None,
        "audio_streams": len(audio),
    }


def min_psnr(a: Path, b: Path) -> float:
    """Lowest per-frame PSNR of b against a, frame n against frame n (whatever
    their timestamps): a frame out of place drops it far below 30 dB."""
    proc = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(a), "-i", str(b), "-lavfi",
         "[0:v]settb=1/30,setpts=N[a];[1:v]settb=1/30,setpts=N[b];[a][b]psnr=stats_file=-", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )
    values = [float(tok.split(":")[1]) for line in proc.stdout.splitlines()
              for tok in line.split() if tok.startswith("psnr_avg:")]
    assert values, proc.stderr[-2000:]
    return min(values)


def streams_of(path: Path) -> list[dict]:
    """ffprobe's view of every stream (start times, tags, side data), independent of the kit's parser."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-of", "json", "--", str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["streams"]


def rotation_of(stream: dict) -> float | None:
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return float(side["rotation"])
    return None
