"""ffmpeg argument lists for every step. Values are single list items: no
shell ever sees a file name."""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Sequence

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


def audio_command(ffmpeg: str, source: str, tracks: Sequence[tuple[int, str]], codec: str, bitrate: str,
                  ) -> list[str]:
    """Every kept audio track, encoded once, on its own, by one ffmpeg that
    reads the source once: (source stream index, output file) pairs. Matroska
    holds any codec and keeps each track's start time."""
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", source]
    for index, output in tracks:
        cmd += ["-map", f"0:{index}", "-vn", "-sn", "-dn", "-c:a", codec, "-b:a", bitrate, "-f", "matroska", output]
    return cmd


def concat_list(segments: Sequence[Segment]) -> str:
    """ffconcat list in numeric order; each entry's duration is the source's
    exact span for that segment, so joins neither gain nor lose time."""
    lines = ["ffconcat version 1.0"]
    for seg in sorted(segments, key=lambda s: s.index):
        lines.append(f"file '{seg.name}'")
        lines.append(f"duration {seg.duration_s:.6f}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class MuxInputs:
    """What the mux puts beside the joined video, and where each stream starts.

    Offsets are seconds from the video's start, as in the source (negative:
    the stream starts before the video). No timestamp may be negative in the
    output, so everything is shifted by the earliest negative offset."""

    audio: Sequence[tuple[str, float]] = ()         # (encoded track file, offset)
    subtitles: Sequence[tuple[int, str]] = ()       # (source stream index, "copy" or an encoder)
    subtitle_source: str = ""                       # the source file, read for its subtitles
    subtitle_origin_s: float = 0.0                  # source start time minus its video start
    rotation: Optional[float] = None                # the source video's display rotation, degrees
    rotation_option: bool = False                   # ffmpeg has -display_rotation (FFmpeg >= 6)

    def shift_s(self) -> float:
        return max([0.0] + [-offset for _, offset in self.audio])


def first_frame_psnr_command(ffmpeg: str, source: str, video_index: int, output: str) -> list[str]:
    """PSNR of the output's first frame against the first frame the source
    shows (edit lists honoured), paired by position, not by timestamp."""
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "info", "-i", source, "-i", output,
            "-lavfi", f"[0:{video_index}]settb=1/30,setpts=N[a];[1:v:0]settb=1/30,setpts=N[b];[a][b]psnr",
            "-frames:v", "1", "-f", "null", "-"]


def psnr_of(stderr: str) -> Optional[float]:
    """The average PSNR ffmpeg's psnr filter logs at the end ("... average:41.62 ...").

    Identical pictures (ffmpeg: inf) count as 100 dB: JSON has no infinity."""
    found = re.findall(r"average:(inf|[0-9.]+)", stderr)
    if not found:
        return None
    return 100.0 if found[-1] == "inf" else float(found[-1])


def has_display_rotation(ffmpeg: str) -> bool:
    """FFmpeg >= 6 sets a stream's display matrix with -display_rotation; older ones read the `rotate` tag."""
    proc = subprocess.run([ffmpeg, "-hide_banner", "-h", "full"], capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL)
    return "-display_rotation" in proc.stdout


def _offset(seconds: float) -> list[str]:
    return ["-itsoffset", f"{seconds:.6f}"] if abs(seconds) > 1e-9 else []


def mux_command(ffmpeg: str, concat_file: str, inputs: MuxInputs, output: str, fmt: str) -> list[str]:
    """The joined video, every audio track at its source offset, the subtitles, the rotation.

    Without -copyts ffmpeg starts every input at its own first timestamp, so
    -itsoffset places each one: the video at `shift`, each audio track at its
    offset + `shift`, the subtitles (read from the source, whose own origin is
    `subtitle_origin_s` before its video) at the same distance from the video
    as in the source."""
    shift = inputs.shift_s()
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    if inputs.rotation is not None and inputs.rotation_option:
        cmd += ["-display_rotation:v:0", f"{inputs.rotation:g}"]
    cmd += _offset(shift) + ["-f", "concat", "-safe", "0", "-i", concat_file]
    maps = ["-map", "0:v:0"]
    for number, (path, offset) in enumerate(inputs.audio, start=1):
        cmd += _offset(offset + shift) + ["-i", path]
        maps += ["-map", f"{number}:a:0"]
    codecs = ["-c", "copy"]
    if inputs.subtitles:
        number = len(inputs.audio) + 1
        cmd += _offset(shift + inputs.subtitle_origin_s) + ["-i", inputs.subtitle_source]
        for position, (index, how) in enumerate(inputs.subtitles):
            maps += ["-map", f"{number}:{index}"]
            codecs += [f"-c:s:{position}", how]
    if inputs.rotation is not None and not inputs.rotation_option:
        # FFmpeg < 6 writes the display matrix from the stream's `rotate` tag.
        codecs += ["-metadata:s:v:0", f"rotate={inputs.rotation % 360:g}"]
    return cmd + maps + codecs + ["-f", fmt, output]


def baseline_command(
    ffmpeg: str, source: str, video_index: int, audio: Sequence[int], subtitles: Sequence[tuple[int, str]],
    codec: str, preset: str, crf: str, audio_codec: str, audio_bitrate: str, output: str, fmt: str,
) -> list[str]:
    """One plain ffmpeg on the whole file with the same settings and the same
    streams (seed 000's single-machine command, with explicit stream
    selection). -noautorotate: the segments are not rotated either, so both
    do the same work."""
    cmd = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
           "-noautorotate", "-i", source, "-map", f"0:{video_index}"]
    for index in audio:
        cmd += ["-map", f"0:{index}"]
    for index, _ in subtitles:
        cmd += ["-map", f"0:{index}"]
    if audio:
        cmd += ["-c:a", audio_codec, "-b:a", audio_bitrate]
    for position, (_, how) in enumerate(subtitles):
        cmd += [f"-c:s:{position}", how]
    return cmd + ["-c:v", codec, "-preset", preset, "-crf", crf, "-f", fmt, output]


OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
