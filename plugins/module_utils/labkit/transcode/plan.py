"""Plan the segments: boundaries at keyframes, exact frame sets, chunk packet ranges.

Segment k holds exactly the source frames whose presentation timestamp lies in
[B_k, B_{k+1}), where every B is a keyframe's timestamp (B_0 is the first
frame). Copy-cutting the file at those keyframes is not enough with B-frames
and open GOPs: the leading B-frames decoded after the keyframe at B_{k+1} are
*displayed before it*, so they belong to segment k, and they reference frames
of segment k. So each segment's *chunk* (the copy-extracted input handed to a
worker) runs in decode order from the keyframe at B_k up to the last packet
whose timestamp is before B_{k+1}; the worker decodes it and keeps exactly the
frames in [B_k, B_{k+1}) -- their count is known here from the source's
timestamps, and the worker checks it.

Only the frames a player shows are planned: a clip trimmed without
re-encoding keeps, hidden by its edit list, the start of the GOP before its
first shown frame. That frame is then the first segment's start; its chunk
still begins at the keyframe (the decoder needs it), and `lead_s` tells the
worker how far into the chunk the segment's frames begin.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, Sequence

from .probe import Packet, ProbeError


@dataclass(frozen=True)
class Segment:
    """One unit of work: a numbered slice of the source's frames."""

    index: int
    name: str            # encoded output file, e.g. seg_0003.mp4
    chunk: str           # copy-extracted input, e.g. chunk_0003.ts (MPEG-TS)
    start_pts: int       # first frame's timestamp (stream time base), inclusive
    end_pts: int | None  # next segment's first timestamp, exclusive; None for the last
    start_s: float       # start_pts in seconds (absolute stream time)
    duration_s: float    # media seconds covered by the segment's frames
    frames: int          # frames the worker must produce
    seek_s: float | None  # input -ss (absolute timestamp) that lands on the keyframe; None = from the start
    chunk_packets: int   # packets to copy from that keyframe, in decode order
    lead_s: float = 0.0  # from the chunk's first packet to the segment's first shown frame

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def segment_width(count: int) -> int:
    """Digits in a segment number: at least 4, enough for count - 1."""
    return max(4, len(str(max(count - 1, 0))))


def segment_name(index: int, count: int, prefix: str = "seg", ext: str = "mp4") -> str:
    """Zero-padded so that names sort in numeric order: seg_0000.mp4, seg_0001.mp4, ..."""
    return f"{prefix}_{index:0{segment_width(count)}d}.{ext}"


def frame_tolerance(packets: Sequence[Packet], time_base: Fraction) -> Fraction:
    """Half the smallest gap between two frames: the slack for comparing times."""
    ordered = sorted({p.pts for p in packets})
    gaps = [b - a for a, b in zip(ordered, ordered[1:]) if b > a]
    if not gaps:
        step = max((p.duration for p in packets), default=0) or 1
        return Fraction(step, 2) * time_base
    return Fraction(min(gaps), 2) * time_base


def choose_boundaries(packets: Sequence[Packet], time_base: Fraction, segment_seconds: float) -> list[int]:
    """Boundary timestamps: the first shown frame, then the first shown
    keyframe at least segment_seconds after the previous boundary."""
    if not any(p.shown for p in packets):
        raise ProbeError("the video stream has no frames")
    if not packets[0].key:
        raise ProbeError("the video stream does not start with a keyframe; it cannot be split")
    first = min(p.pts for p in packets if p.shown)
    keys = sorted({p.pts for p in packets if p.key and p.shown})
    step = Fraction(segment_seconds).limit_denominator(1_000_000) / time_base  # in stream ticks
    bounds = [first]
    for k in keys:
        if k > bounds[-1] and k - bounds[-1] >= step:
            bounds.append(k)
    return bounds


def plan_segments(
    packets: Sequence[Packet],
    time_base: Fraction,
    segment_seconds: float,
    prefix: str = "seg",
) -> list[Segment]:
    """Split the video at keyframes into segments of about segment_seconds.

    Raises ProbeError when the stream cannot be split frame-exactly (a frame
    that would need packets outside its chunk).
    """
    if segment_seconds <= 0:
        raise ValueError(f"segment_seconds must be > 0, got {segment_seconds!r}")
    bounds = choose_boundaries(packets, time_base, segment_seconds)
    count = len(bounds)
    half = frame_tolerance(packets, time_base)
    last = max((p for p in packets if p.shown), key=lambda p: p.pts)
    last_end = last.pts + (last.duration or int(half * 2 / time_base) or 1)
    key_index = {p.pts: i for i, p in enumerate(packets) if p.key and p.shown}
    segments: list[Segment] = []
    for k, start in enumerate(bounds):
        end = bounds[k + 1] if k + 1 < count else None
        first_i = 0 if k == 0 else key_index[start]
        in_range = [i for i, p in enumerate(packets)
                    if p.shown and p.pts >= start and (end is None or p.pts < end)]
        if not in_range:
            raise ProbeError(f"segment {k} would hold no frames")
        if min(in_range) < first_i:
            raise ProbeError(
                f"a frame of segment {k} is decoded before its keyframe (packet {min(in_range)}); "
                "this stream cannot be split at keyframes"
            )
        last_i = max(in_range)
        seek = None if k == 0 else float(Fraction(start) * time_base - half)
        span_end = end if end is not None else last_end
        segments.append(
            Segment(
                index=k,
                name=segment_name(k, count, prefix, "mp4"),
                chunk=segment_name(k, count, "chunk", "ts"),
                start_pts=start,
                end_pts=end,
                start_s=float(Fraction(start) * time_base),
                duration_s=float(Fraction(span_end - start) * time_base),
                frames=len(in_range),
                seek_s=seek,
                chunk_packets=last_i - first_i + 1,
                lead_s=float(Fraction(max(0, start - packets[first_i].pts)) * time_base),
            )
        )
    total = sum(s.frames for s in segments)
    visible = sum(1 for p in packets if p.shown)
    if total != visible:
        raise ProbeError(f"planning lost frames: {total} planned for {visible} shown in the source")
    return segments


def longest_first(segments: Sequence[Segment]) -> list[Segment]:
    """Work order: the most frames first (ties: lower index first), so the
    pool's tail is made of short segments."""
    return sorted(segments, key=lambda s: (-s.frames, -s.duration_s, s.index))


def worker_count(requested: int, segments: int) -> int:
    """No more worker slots than segments."""
    return max(1, min(requested, segments))


def thread_budget(cores: int, workers: int) -> int:
    """Encoder threads per worker so that N workers share the cores instead of fighting."""
    return max(1, cores // max(1, workers))
