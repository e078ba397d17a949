"""Quality at the seams: did cutting the video into segments cost anything where they meet?

Every output frame is compared with the source frame at the same position (ffmpeg's psnr and
ssim filters, frames paired by position as the verification pairs the first one). The plan says
where each segment starts; the *seam penalty* is how much worse the first frames after a seam
are than the frames elsewhere (dB of PSNR, SSIM points), and the forced keyframe each segment
starts with is weighed against the output's other keyframes (bytes). Pure functions: the
command, the parsers, the arithmetic; finish.py runs the command (`-e transcode_seams=true`).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from statistics import mean
from typing import Any, Optional

from ..text import plural

# Frames after a seam that count as "at the seam": about a fifth of a second at 25–30 fps.
SEAM_FRAMES = 5
PSNR_LOG = "seams-psnr.log"
SSIM_LOG = "seams-ssim.log"
# ffmpeg writes inf for identical frames; JSON has no infinity (as commands.psnr_of).
IDENTICAL_DB = 100.0
_PSNR = re.compile(r"\bn:(\d+).*?\bpsnr_avg:(inf|[-0-9.]+)")
_SSIM = re.compile(r"\bn:(\d+).*?\bAll:([-0-9.]+)")


def quality_command(ffmpeg: str, source: str, video_index: int, output: str) -> list[str]:
    """Per-frame PSNR and SSIM of the output against the source, written to PSNR_LOG and SSIM_LOG in
    the working directory (run it in the work folder: no path goes through the filter syntax)."""
    graph = (f"[0:{video_index}]settb=1/30,setpts=N,split[s1][s2];[1:v:0]settb=1/30,setpts=N,split[o1][o2];"
             f"[o1][s1]psnr=stats_file={PSNR_LOG};[o2][s2]ssim=stats_file={SSIM_LOG}")
    return [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-i", source, "-i", output,
            "-lavfi", graph, "-f", "null", "-"]


def parse_psnr_log(text: str) -> list[float]:
    """The psnr filter's stats file -> each frame's average PSNR in dB, in frame order."""
    frames = sorted((int(n), IDENTICAL_DB if value == "inf" else float(value)) for n, value in _PSNR.findall(text))
    return [value for _n, value in frames]


def parse_ssim_log(text: str) -> list[float]:
    """The ssim filter's stats file -> each frame's SSIM (All), in frame order."""
    frames = sorted((int(n), float(value)) for n, value in _SSIM.findall(text))
    return [value for _n, value in frames]


def boundaries(frames_per_segment: Sequence[int]) -> list[int]:
    """The output frame index at which each segment after the first starts."""
    starts, total = [], 0
    for frames in frames_per_segment[:-1]:
        total += frames
        starts.append(total)
    return starts


def seam_frames(starts: Sequence[int], total: int, width: int = SEAM_FRAMES) -> set[int]:
    return {i for start in starts for i in range(start, min(start + width, total))}


def penalty(values: Sequence[float], starts: Sequence[int], width: int = SEAM_FRAMES) -> Optional[float]:
    """Mean over the frames at the seams minus mean elsewhere (negative: worse at the seams)."""
    at = seam_frames(starts, len(values), width)
    inside = [v for i, v in enumerate(values) if i in at]
    rest = [v for i, v in enumerate(values) if i not in at]
    if not inside or not rest:
        return None
    return mean(inside) - mean(rest)


def keyframe_bytes(packets: Sequence[tuple[bool, int]], starts: Sequence[int]) -> dict[str, Optional[float]]:
    """Mean size of the keyframes the seams forced against the output's other keyframes and frames.

    packets: (keyframe, size in bytes) per output frame, in presentation order."""
    at_seam = set(starts)  # once, not per frame: an hour of video is 10⁵ frames
    forced = [size for i, (_key, size) in enumerate(packets) if i in at_seam]
    other_keys = [size for i, (key, size) in enumerate(packets) if key and i not in at_seam]
    frames = [size for _key, size in packets]
    return {
        "forced_keyframe_bytes": mean(forced) if forced else None,
        "other_keyframe_bytes": mean(other_keys) if other_keys else None,
        "frame_bytes": mean(frames) if frames else None,
    }


def analyse(psnr: Sequence[float], ssim: Sequence[float], frames_per_segment: Sequence[int],
            packets: Sequence[tuple[bool, int]] = ()) -> dict[str, Any]:
    """The `seams` block of results.json (DESIGN §5)."""
    starts = boundaries(frames_per_segment)
    block: dict[str, Any] = {
        "boundaries": starts, "seam_frames": SEAM_FRAMES, "frames": len(psnr),
        "psnr_db": [round(v, 3) for v in psnr], "ssim": [round(v, 5) for v in ssim],
        "psnr_mean_db": mean(psnr) if psnr else None, "ssim_mean": mean(ssim) if ssim else None,
        "psnr_min_db": min(psnr) if psnr else None, "ssim_min": min(ssim) if ssim else None,
        "psnr_penalty_db": penalty(psnr, starts), "ssim_penalty": penalty(ssim, starts),
    }
    block.update(keyframe_bytes(packets, starts))
    return block


def summary(block: dict[str, Any]) -> str:
    """The seams in one sentence, as the report says it."""
    seams = len(block.get("boundaries") or [])
    if not seams:
        return (f"One segment: no seam. PSNR {block.get('psnr_mean_db') or 0:.1f} dB on average "
                f"(lowest {block.get('psnr_min_db') or 0:.1f}), SSIM {block.get('ssim_mean') or 0:.4f}.")
    text = (f"{plural(seams, 'seam')}. The first {block['seam_frames']} frames after a seam against the rest: "
            f"PSNR {block['psnr_penalty_db']:+.2f} dB, SSIM {block['ssim_penalty']:+.4f} "
            f"(negative: worse at the seams); PSNR {block['psnr_mean_db']:.1f} dB on average, "
            f"lowest {block['psnr_min_db']:.1f} dB.") if block.get("psnr_penalty_db") is not None else f"{plural(seams, 'seam')}."
    forced, other = block.get("forced_keyframe_bytes"), block.get("other_keyframe_bytes")
    if forced is not None:
        text += (f" The keyframes the seams forced average {forced / 1000:.1f} kB"
                 + (f" against {other / 1000:.1f} kB for the encoder's own keyframes" if other is not None else "")
                 + (f" and {block['frame_bytes'] / 1000:.1f} kB per frame." if block.get("frame_bytes") else "."))
    return text
