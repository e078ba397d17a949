"""Output-against-source rules (DESIGN §6.5), over the streams as measured.

Both sides are `StreamFacts` lists measured the same way (packet timestamps,
edit lists honoured): the source's kept streams in output order, and every
stream of the output. Every rule is one `check` with the two values, the rule
in words and whether it passed, so the report shows what was checked, not
only the verdict.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from .streams import StreamFacts

AUDIO_TOLERANCE_S = 0.050   # an audio track's duration, and its start against the video's
SUBTITLE_TOLERANCE_S = 0.050
# The first frame shown, output against source: the same picture re-encoded
# scores 30-50 dB; a picture from elsewhere in the video (a hidden frame, a
# frame off by one at the start) scores far lower.
FIRST_FRAME_MIN_PSNR_DB = 20.0


def _check(name: str, source: Any, output: Any, rule: str, passed: bool) -> dict[str, Any]:
    return {"check": name, "source": source, "output": output, "rule": rule, "passed": bool(passed)}


def _within(a: Optional[float], b: Optional[float], tolerance: float) -> bool:
    return a is not None and b is not None and abs(a - b) <= tolerance + 1e-9


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 6)


def _offset(stream: StreamFacts, video: StreamFacts) -> Optional[float]:
    """Where a stream starts, measured from the video's start."""
    if stream.start_s is None or video.start_s is None:
        return None
    return round(stream.start_s - video.start_s, 6)


def _same_rotation(a: Optional[float], b: Optional[float]) -> bool:
    if a is None or b is None:
        return (a or 0.0) % 360 == (b or 0.0) % 360
    return abs((a - b) % 360) < 0.5 or abs((a - b) % 360 - 360) < 0.5


def _video_checks(src: StreamFacts, out: StreamFacts, frame_s: float) -> list[dict[str, Any]]:
    checks = [
        _check("video frames shown", src.packets, out.packets, "equal", src.packets == out.packets),
        _check("video duration, s", _round(src.duration_s), _round(out.duration_s),
               f"within one frame ({frame_s:.6f} s)", _within(src.duration_s, out.duration_s, frame_s)),
        _check("video rotation, degrees", src.rotation, out.rotation, "equal",
               _same_rotation(src.rotation, out.rotation)),
        _check("video sample aspect ratio", src.sample_aspect_ratio, out.sample_aspect_ratio, "equal",
               src.sample_aspect_ratio == out.sample_aspect_ratio),
    ]
    for name, value in sorted(src.colours.items()):
        checks.append(_check(f"video {name.replace('_', ' ')}", value, out.colours.get(name), "equal",
                             out.colours.get(name) == value))
    lost = sorted(set(src.side_data) - set(out.side_data))
    checks.append(_check("video side data", list(src.side_data), list(out.side_data),
                         "everything the source carries", not lost))
    return checks


def _track_checks(kind: str, number: int, src: StreamFacts, out: StreamFacts,
                  src_video: StreamFacts, out_video: StreamFacts) -> list[dict[str, Any]]:
    label = f"{kind} {number}"
    checks = []
    if kind == "audio":
        checks.append(_check(f"{label} duration, s", _round(src.duration_s), _round(out.duration_s),
                             f"within {AUDIO_TOLERANCE_S * 1000:.0f} ms",
                             _within(src.duration_s, out.duration_s, AUDIO_TOLERANCE_S)))
        tolerance = AUDIO_TOLERANCE_S
    else:
        checks.append(_check(f"{label} cues", src.packets, out.packets, "equal", src.packets == out.packets))
        tolerance = SUBTITLE_TOLERANCE_S
    checks.append(_check(f"{label} start - video start, s", _offset(src, src_video), _offset(out, out_video),
                         f"within {tolerance * 1000:.0f} ms",
                         _within(_offset(src, src_video), _offset(out, out_video), tolerance)))
    if src.language:
        checks.append(_check(f"{label} language", src.language, out.language, "equal", src.language == out.language))
    return checks


def check(source: Sequence[StreamFacts], output: Sequence[StreamFacts], frame_s: float,
          first_frame_psnr_db: Optional[float] = None) -> dict[str, Any]:
    """The verification block: every check, the streams on both sides, and
    DESIGN §5's summary fields (frames, video and first audio durations).

    first_frame_psnr_db: the first frame shown, output against source (None: not measured)."""
    src_kinds = [s.kind for s in source]
    out_kinds = [s.kind for s in output]
    checks = [_check("streams, in order", src_kinds, out_kinds, "the same kinds", src_kinds == out_kinds)]
    src_video = source[0]
    out_video = next((s for s in output if s.kind == "video"), None)
    if out_video is not None:
        checks += _video_checks(src_video, out_video, frame_s)
        if first_frame_psnr_db is not None:
            checks.append(_check("first frame shown, PSNR dB", "-", round(first_frame_psnr_db, 2),
                                 f"the source's first frame (at least {FIRST_FRAME_MIN_PSNR_DB:g} dB)",
                                 first_frame_psnr_db >= FIRST_FRAME_MIN_PSNR_DB))
        numbers = {"audio": 0, "subtitle": 0}
        for src, out in zip(source[1:], output[1:]):
            if src.kind != out.kind or src.kind not in numbers:
                continue
            checks += _track_checks(src.kind, numbers[src.kind], src, out, src_video, out_video)
            numbers[src.kind] += 1
    problems = [f"{c['check']}: output {c['output']!r}, source {c['source']!r} ({c['rule']})"
                for c in checks if not c["passed"]]
    if out_video is None:
        problems.append("the output has no video stream")
    first_audio = [next((s for s in side if s.kind == "audio"), None) for side in (source, output)]
    return {
        "frames_source": src_video.packets,
        "frames_output": out_video.packets if out_video else 0,
        "duration_source_s": src_video.duration_s,
        "duration_output_s": out_video.duration_s if out_video else None,
        "audio_source_s": first_audio[0].duration_s if first_audio[0] else None,
        "audio_output_s": first_audio[1].duration_s if first_audio[1] else None,
        "checks": checks,
        "streams": {"source": [s.to_dict() for s in source], "output": [s.to_dict() for s in output]},
        "passed": not problems,
        "problems": problems,
    }
