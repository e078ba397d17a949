"""Parse ffprobe's output into what the planner and the verifier need.

Two probes of a file are used: the container/streams view
(``-show_format -show_streams``, JSON) and the packet table of every stream
(``-show_entries packet=stream_index,pts,dts,duration,size,flags``, CSV, read
without decoding). For the video codecs this tool handles (one packet per
frame), the video's packets *are* its frames: their presentation timestamps
give the exact frame count, the keyframes and every segment's frames.

Packets flagged ``D`` (discard) are hidden by an edit list (a clip trimmed
without re-encoding keeps the GOP before its first shown frame): a player
never shows them, so frames, starts and durations are counted over the
*shown* packets only. Durations and start times come from the packets, never
from container fields, which Matroska leaves out and MPEG-TS gets wrong.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Sequence


class ProbeError(ValueError):
    """The input is not something this tool can transcode; the message says why.

    `stderr`: everything ffprobe said, when it failed (the cause may be before its last line)."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


@dataclass(frozen=True)
class Packet:
    """One video packet, in decode order. Timestamps are in the stream's time base."""

    pts: int
    dts: int | None
    duration: int
    key: bool
    shown: bool = True   # False: hidden by an edit list (ffprobe flag D)
    size: int = 0        # bytes


@dataclass
class MediaInfo:
    """What the pipeline needs to know about one media file."""

    path: str
    format_name: str
    duration_s: float | None
    start_time_s: float | None   # the container's start: where ffmpeg puts the origin of its timestamps
    video_index: int | None
    video_codec: str | None
    width: int | None
    height: int | None
    time_base: Fraction | None
    frame_rate: Fraction | None
    streams: list[dict[str, Any]] = field(default_factory=list)

    @property
    def has_video(self) -> bool:
        return self.video_index is not None


def fraction(text: Any) -> Fraction | None:
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


def stream_kind(stream: dict[str, Any]) -> str:
    """video, audio, subtitle, data, attachment -- or cover: a picture stream
    that is cover art (attached_pic) or a timed thumbnail, not the video."""
    disposition = stream.get("disposition") or {}
    kind = str(stream.get("codec_type") or "data")
    if kind == "video" and (disposition.get("attached_pic") or disposition.get("timed_thumbnails")):
        return "cover"
    return kind


def parse_streams(text: str, path: str = "") -> MediaInfo:
    """Parse ``ffprobe -show_format -show_streams -of json`` output."""
    try:
        data = json.loads(text or "{}")
    except json.JSONDecodeError as exc:
        raise ProbeError(f"ffprobe returned unreadable JSON for {path!r}: {exc}") from exc
    fmt = data.get("format") or {}
    streams = list(data.get("streams") or [])
    videos = [s for s in streams if stream_kind(s) == "video"]
    v = videos[0] if videos else None
    frame_rate = None
    if v is not None:
        frame_rate = fraction(v.get("avg_frame_rate")) or fraction(v.get("r_frame_rate"))
    return MediaInfo(
        path=path,
        format_name=str(fmt.get("format_name", "")),
        duration_s=_float(fmt.get("duration")),
        start_time_s=_float(fmt.get("start_time")),
        video_index=int(v["index"]) if v is not None else None,
        video_codec=v.get("codec_name") if v is not None else None,
        width=int(v["width"]) if v is not None and v.get("width") else None,
        height=int(v["height"]) if v is not None and v.get("height") else None,
        time_base=fraction(v.get("time_base")) if v is not None else None,
        frame_rate=frame_rate,
        streams=streams,
    )


def _int_or_none(text: str) -> int | None:
    text = text.strip()
    if text in ("", "N/A"):
        return None
    try:
        return int(text)
    except ValueError:
        return None


@dataclass
class PacketTable:
    """Every stream's packets in file order, by stream index.

    ``untimed`` names the streams that had a packet without a presentation
    timestamp: such a packet cannot be placed in time."""

    streams: dict[int, list[Packet]] = field(default_factory=dict)
    untimed: set[int] = field(default_factory=set)
    errors: str = ""  # what ffprobe complained about while reading (damaged data shows here)

    def of(self, index: int) -> list[Packet]:
        return list(self.streams.get(index, []))

    def video(self, index: int) -> list[Packet]:
        """The video stream's packets; ProbeError when one cannot be placed in time."""
        if index in self.untimed:
            raise ProbeError("a video packet has no presentation timestamp; cannot split this file frame-exactly")
        return self.of(index)


def parse_packet_table(text: str) -> PacketTable:
    """Parse ``ffprobe -show_entries packet=stream_index,pts,dts,duration,size,flags -of csv=p=0``.

    Lines that are not packets (side data) are skipped."""
    table = PacketTable()
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) < 6:
            continue
        stream = _int_or_none(fields[0])
        if stream is None:
            continue
        pts = _int_or_none(fields[1])
        if pts is None:
            table.untimed.add(stream)
            continue
        flags = fields[5]
        table.streams.setdefault(stream, []).append(Packet(
            pts=pts, dts=_int_or_none(fields[2]), duration=_int_or_none(fields[3]) or 0,
            key="K" in flags, shown="D" not in flags, size=_int_or_none(fields[4]) or 0,
        ))
    return table


def shown(packets: Sequence[Packet]) -> list[Packet]:
    """The packets a player shows (edit lists honoured)."""
    return [p for p in packets if p.shown]


@dataclass(frozen=True)
class Span:
    """Where one stream's shown packets lie on the file's timeline."""

    packets: int
    start_s: float | None     # the first shown packet's time
    duration_s: float | None  # the last shown packet's end minus start_s


def span(packets: Sequence[Packet], time_base: Fraction | None) -> Span:
    """Start and duration of the shown packets, from their timestamps.

    A packet without a duration (Matroska may leave it out) lasts until the
    next one; the last then lasts as long as the smallest gap seen."""
    visible = sorted(shown(packets), key=lambda p: p.pts)
    if not visible or time_base is None:
        return Span(len(visible), None, None)
    gaps = [b.pts - a.pts for a, b in zip(visible, visible[1:]) if b.pts > a.pts]
    last = visible[-1]
    end = max(p.pts + (p.duration or 0) for p in visible)
    end = max(end, last.pts + (last.duration or (min(gaps) if gaps else 0)))
    first = visible[0].pts
    return Span(len(visible), float(first * time_base), float((end - first) * time_base))


def video_duration_from_packets(packets: Sequence[Packet], time_base: Fraction) -> float:
    """Presentation span of the shown packets: last frame's end minus first frame's start."""
    return span(packets, time_base).duration_s or 0.0


# --- running ffprobe (argument lists only) ---------------------------------


def streams_command(ffprobe: str, path: str) -> list[str]:
    return [ffprobe, "-v", "error", "-show_format", "-show_streams", "-of", "json", "--", path]


def packet_table_command(ffprobe: str, path: str) -> list[str]:
    return [ffprobe, "-v", "error", "-show_entries", "packet=stream_index,pts,dts,duration,size,flags",
            "-of", "csv=p=0", "--", path]


def _run(cmd: list[str], what: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        reason = (proc.stderr or "").strip().splitlines()
        raise ProbeError(f"{what}: {reason[-1] if reason else f'ffprobe exited {proc.returncode}'}",
                         proc.stderr or "")
    return proc


def probe(path: str, ffprobe: str = "ffprobe") -> MediaInfo:
    """Probe a file's container and streams (raises ProbeError naming the file)."""
    proc = _run(streams_command(ffprobe, path), f"{path!r} is not a media file FFmpeg can read")
    return parse_streams(proc.stdout, path)


def probe_packet_table(path: str, ffprobe: str = "ffprobe") -> PacketTable:
    """Every stream's packets (no decoding), and ffprobe's complaints while reading them."""
    proc = _run(packet_table_command(ffprobe, path), f"cannot read the packets of {path!r}")
    table = parse_packet_table(proc.stdout)
    table.errors = proc.stderr or ""
    return table
