"""Output-against-source rules (DESIGN §6.5)."""
from __future__ import annotations

from typing import Any

AUDIO_TOLERANCE_S = 0.050


def check(
    frames_source: int,
    frames_output: int,
    duration_source_s: float,
    duration_output_s: float | None,
    frame_duration_s: float,
    audio_source_s: float | None,
    audio_output_s: float | None,
    has_audio_source: bool,
    has_audio_output: bool,
) -> dict[str, Any]:
    """The verification block: the same frame count, video duration within
    one frame, audio within 50 ms -- and no audio out when none came in.

    Returns DESIGN §5's fields plus ``problems`` (a list of sentences)."""
    problems: list[str] = []
    if frames_output != frames_source:
        problems.append(f"video frames: output has {frames_output}, source has {frames_source}")
    if duration_output_s is None:
        problems.append("the output's video duration is unknown")
    elif abs(duration_output_s - duration_source_s) > frame_duration_s + 1e-6:
        problems.append(
            f"video duration: output {duration_output_s:.6f} s, source {duration_source_s:.6f} s "
            f"(more than one frame, {frame_duration_s:.6f} s, apart)"
        )
    if has_audio_source and not has_audio_output:
        problems.append("the source has audio but the output has none")
    if has_audio_output and not has_audio_source:
        problems.append("the source has no audio but the output has an audio stream")
    if has_audio_source and has_audio_output:
        if audio_source_s is None or audio_output_s is None:
            problems.append("an audio duration is unknown")
        elif abs(audio_output_s - audio_source_s) > AUDIO_TOLERANCE_S + 1e-9:
            problems.append(
                f"audio duration: output {audio_output_s:.3f} s, source {audio_source_s:.3f} s "
                f"(more than {AUDIO_TOLERANCE_S * 1000:.0f} ms apart)"
            )
    return {
        "frames_source": frames_source,
        "frames_output": frames_output,
        "duration_source_s": duration_source_s,
        "duration_output_s": duration_output_s,
        "audio_source_s": audio_source_s if has_audio_source else None,
        "audio_output_s": audio_output_s if has_audio_output else None,
        "passed": not problems,
        "problems": problems,
    }
