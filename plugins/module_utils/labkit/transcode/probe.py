"""Parse ffprobe's JSON into what the planner and the verifier need.

Two probes of the source are used: the container/streams view
(``-show_format -show_streams``) and the video packet list
(``-show_entries packet=pts,dts,duration,flags``, read without decoding).
For the video codecs this tool handles (one packet per frame), the packet
list *is* the frame list: its presentation timestamps give the exact frame
count, the keyframes and every segment's frames.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Sequence


class ProbeError(ValueError):
    """The input is not something this tool can transcode; the message says why."""


@dataclass(frozen=True)
class Packet:
    """One video packet, in decode order. Timestamps are in the stream's time base."""

    pts: int
    dts: int | None
    duration: int
    key: bool


@dataclass
class MediaInfo:
    """What the pipeline needs to know about one media file."""

    path: str
    format_name: str
    duration_s: float | None
    video_index: int | None
    video_codec: str | None
    width: int | None
    height: int | None
    time_base: Fraction | None
    frame_rate: Fraction | None
    video_duration_s: float | None
    audio_index: int | None
    audio_codec: str | None
    audio_duration_s: float | None
    audio_streams: int = 0
    video_streams: int = 0
    streams: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_video(self) -> bool:
        return self.video_index is not None

    @property
    def has_audio(self) -> bool:
        return self.audio_index is not None


def _fraction(text: Any) -> Fraction | None:
    if not text or not isinstance(text, str) or "/" not in text:
        return None
    num, _, den = text.partition("/")
    try:
        n, d = int(num), int(den)
    except ValueError:
        return None
    if n <= 0 or d <= 0:
        return None
    return Fraction(n, d)


def _float(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None  # NaN -> None


def _is_picture(stream: dict[str, Any]) -> bool:
    """A real video stream, not cover art (attached_pic) or a timed thumbnail."""
    disp = stream.get("disposition") or {}
    return stream.get("codec_type") == "video" and not disp.get("attached_pic") and not disp.get("timed_thumbnails")


def parse_streams(text: str, path: str = "") -> MediaInfo:
    """Parse ``ffprobe -show_format -show_streams -of json`` output."""
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ProbeError(f"ffprobe returned unreadable JSON for {path!r}: {exc}") from exc
    fmt = data.get("format") or {}
    streams = list(data.get("streams") or [])
    videos = [s for s in streams if _is_picture(s)]
    audios = [s for s in streams if s.get("codec_type") == "audio"]
    v = videos[0] if videos else None
    a = audios[0] if audios else None
    frame_rate = None
    if v is not None:
        frame_rate = _fraction(v.get("avg_frame_rate")) or _fraction(v.get("r_frame_rate"))
    return MediaInfo(
        path=path,
        format_name=str(fmt.get("format_name", "")),
        duration_s=_float(fmt.get("duration")),
        video_index=int(v["index"]) if v is not None else None,
        video_codec=v.get("codec_name") if v is not None else None,
        width=int(v["width"]) if v is not None and v.get("width") else None,
        height=int(v["height"]) if v is not None and v.get("height") else None,
        time_base=_fraction(v.get("time_base")) if v is not None else None,
        frame_rate=frame_rate,
        video_duration_s=_float(v.get("duration")) if v is not None else None,
        audio_index=int(a["index"]) if a is not None else None,
        audio_codec=a.get("codec_name") if a is not None else None,
        audio_duration_s=_float(a.get("duration")) if a is not None else None,
        audio_streams=len(audios),
        video_streams=len(videos),
        streams=streams,
    )


def parse_packets(text: str) -> list[Packet]:
    """Parse ``ffprobe -select_streams v:0 -show_entries packet=pts,dts,duration,flags -of json``.

    Packets without a presentation timestamp cannot be placed in a segment,
    so they are an error rather than silently dropped.
    """
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ProbeError(f"ffprobe returned unreadable packet JSON: {exc}") from exc
    out: list[Packet] = []
    for i, p in enumerate(data.get("packets") or []):
        pts = p.get("pts")
        if pts is None:
            raise ProbeError(f"video packet {i} has no presentation timestamp; cannot split this file frame-exactly")
        dts = p.get("dts")
        out.append(
            Packet(
                pts=int(pts),
                dts=int(dts) if dts is not None else None,
                duration=int(p.get("duration") or 0),
                key="K" in str(p.get("flags", "")),
            )
        )
    return out


def video_duration_from_packets(packets: Sequence[Packet], time_base: Fraction) -> float:
    """Presentation span of the packets: last frame's end minus first frame's start."""
    if not packets:
        return 0.0
    ordered = sorted(packets, key=lambda p: p.pts)
    last = ordered[-1]
    step = last.duration or (ordered[-1].pts - ordered[-2].pts if len(ordered) > 1 else 0)
    return float((last.pts + step - ordered[0].pts) * time_base)


# --- running ffprobe (argument lists only) ---------------------------------


def streams_command(ffprobe: str, path: str) -> list[str]:
    return [ffprobe, "-v", "error", "-show_format", "-show_streams", "-of", "json", "--", path]


def packets_command(ffprobe: str, path: str, stream: str = "v:0") -> list[str]:
    return [
        ffprobe, "-v", "error", "-select_streams", stream,
        "-show_entries", "packet=pts,dts,duration,flags", "-of", "json", "--", path,
    ]


def count_packets_command(ffprobe: str, path: str, stream: str = "v:0") -> list[str]:
    return [
        ffprobe, "-v", "error", "-select_streams", stream, "-count_packets",
        "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", "--", path,
    ]


def _run(cmd: list[str], what: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        reason = (proc.stderr or "").strip().splitlines()
        raise ProbeError(f"{what}: {reason[-1] if reason else f'ffprobe exited {proc.returncode}'}")
    return proc.stdout


def probe(path: str, ffprobe: str = "ffprobe") -> MediaInfo:
    """Probe a file's container and streams (raises ProbeError naming the file)."""
    text = _run(streams_command(ffprobe, path), f"{path!r} is not a media file FFmpeg can read")
    return parse_streams(text, path)


def probe_packets(path: str, ffprobe: str = "ffprobe", stream: str = "v:0") -> list[Packet]:
    return parse_packets(_run(packets_command(ffprobe, path, stream), f"cannot read the video packets of {path!r}"))


def count_packets(path: str, ffprobe: str = "ffprobe", stream: str = "v:0") -> int:
    """Number of packets of one stream (one per frame for the video codecs handled)."""
    text = _run(count_packets_command(ffprobe, path, stream), f"cannot count the packets of {path!r}").strip()
    first = text.splitlines()[0].strip().rstrip(",") if text else ""
    try:
        return int(first)
    except ValueError as exc:
        raise ProbeError(f"ffprobe gave no packet count for {path!r} (stream {stream})") from exc
