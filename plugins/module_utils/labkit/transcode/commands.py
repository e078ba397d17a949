"""ffmpeg argument lists for every step. Values are single list items: no
shell ever sees a file name."""
from __future__ import annotations

from fractions import Fraction
from typing import Sequence

from .plan import Segment

# Bitstream filters that make every copied piece self-contained (parameter
# sets repeated at each keyframe, Annex B framing for MPEG-TS), so that a
# chunk starting at a non-IDR keyframe (open GOP) can be decoded on its own.
SPLIT_BSF = {
    "h264": "h264_mp4toannexb,dump_extra=freq=keyframe",
    "hevc": "hevc_mp4toannexb,dump_extra=freq=keyframe",
    "mpeg2video": "dump_extra=freq=keyframe",
    "mpeg4": "dump_extra=freq=keyframe",
}
SPLITTABLE_CODECS = tuple(sorted(SPLIT_BSF))


def piece_cuts(segments: Sequence[Segment], keyframes: Sequence[int]) -> list[int]:
    """Where the copy-split cuts the video (stream timestamps): at every
    segment start B_k (k > 0) and at the keyframe right after it, so that the
    first GOP of each segment is a piece of its own -- the previous segment's
    chunk needs it for its open-GOP leading frames."""
    keys = sorted(set(keyframes))
    cuts: set[int] = set()
    for seg in segments[1:]:
        cuts.add(seg.start_pts)
        later = [k for k in keys if k > seg.start_pts]
        if later:
            cuts.add(later[0])
    return sorted(cuts)


def chunk_pieces(segments: Sequence[Segment], cuts: Sequence[int]) -> dict[int, list[int]]:
    """Piece numbers (0-based, in order) that make up each segment's chunk:
    its own pieces plus the next segment's first piece."""
    starts = [segments[0].start_pts, *cuts]
    out: dict[int, list[int]] = {}
    for seg in segments:
        first = starts.index(seg.start_pts)
        last = starts.index(segments[seg.index + 1].start_pts) if seg.index + 1 < len(segments) else len(starts) - 1
        out[seg.index] = list(range(first, last + 1))
    return out


def split_command(
    ffmpeg: str,
    source: str,
    video_index: int,
    codec: str,
    cut_times: Sequence[float],
    pattern: str,
) -> list[str]:
    """One stream-copy pass over the video stream into MPEG-TS pieces cut at
    the given keyframe times (timestamps kept: -copyts, no reset)."""
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-copyts", "-i", source, "-map", f"0:{video_index}", "-c", "copy"]
    bsf = SPLIT_BSF.get(codec)
    if bsf:
        cmd += ["-bsf:v", bsf]
    cmd += ["-f", "segment", "-segment_format", "mpegts", "-reset_timestamps", "0"]
    if cut_times:
        cmd += ["-segment_times", ",".join(f"{t:.6f}" for t in cut_times)]
    else:
        cmd += ["-segment_time", "1000000000"]
    return cmd + [pattern]


def cut_times(cuts: Sequence[int], time_base: Fraction, tolerance: Fraction) -> list[float]:
    """Cut times half a frame before each keyframe: the segment muxer cuts at
    the first keyframe at or after the time, which is then exactly that one."""
    return [float(Fraction(c) * time_base - tolerance) for c in cuts]


def audio_command(ffmpeg: str, source: str, audio_index: int, codec: str, bitrate: str, output: str) -> list[str]:
    """The audio, encoded once, on its own."""
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-i", source, "-map", f"0:{audio_index}", "-vn", "-sn", "-dn",
            "-c:a", codec, "-b:a", bitrate, "-f", "mp4", output]


def concat_list(segments: Sequence[Segment]) -> str:
    """ffconcat list in numeric order; each entry's duration is the source's
    exact span for that segment, so joins neither gain nor lose time."""
    lines = ["ffconcat version 1.0"]
    for seg in sorted(segments, key=lambda s: s.index):
        lines.append(f"file '{seg.name}'")
        lines.append(f"duration {seg.duration_s:.6f}")
    return "\n".join(lines) + "\n"


def mux_command(ffmpeg: str, concat_file: str, audio: str | None, output: str, fmt: str) -> list[str]:
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-f", "concat", "-safe", "0", "-i", concat_file]
    if audio:
        cmd += ["-i", audio, "-map", "0:v:0", "-map", "1:a:0"]
    else:
        cmd += ["-map", "0:v:0"]
    return cmd + ["-c", "copy", "-f", fmt, output]


def baseline_command(
    ffmpeg: str, source: str, video_index: int, audio_index: int | None,
    codec: str, preset: str, crf: str, audio_codec: str, audio_bitrate: str, output: str, fmt: str,
) -> list[str]:
    """One plain ffmpeg on the whole file with the same settings (seed 000's
    single-machine command, with explicit stream selection)."""
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-i", source, "-map", f"0:{video_index}"]
    if audio_index is not None:
        cmd += ["-map", f"0:{audio_index}", "-c:a", audio_codec, "-b:a", audio_bitrate]
    return cmd + ["-c:v", codec, "-preset", preset, "-crf", crf, "-f", fmt, output]


OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
