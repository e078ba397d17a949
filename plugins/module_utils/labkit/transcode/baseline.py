"""The baseline: one plain ffmpeg over the whole file with the same settings, timed.

Seed 000's single-machine command (with explicit stream selection), on the
controller's monotonic clock, returned as a run of mode "baseline" with one
RESULT-shaped record, so the report compares it with the strong run.
"""
from __future__ import annotations

import os
import platform
import subprocess
import time
from typing import Any

from ..backends import tail
from ..runs import run_record
from . import commands, planfile
from .finish import measure
from .planfile import StepError, TranscodePlan


def baseline(work: str, ffmpeg: str, ffprobe: str) -> dict[str, Any]:
    """lab_transcode_baseline, the work folder locked meanwhile."""
    plan = planfile.load(work)
    with planfile.locked(plan.work):
        return _baseline(plan, ffmpeg, ffprobe)


def _baseline(plan: TranscodePlan, ffmpeg: str, ffprobe: str) -> dict[str, Any]:
    out = os.path.join(plan.work, "baseline" + os.path.splitext(plan.output)[1])
    if os.path.exists(out):
        os.unlink(out)
    enc = plan.encoding
    cmd = commands.baseline_command(
        ffmpeg, plan.source, plan.video.index, [track.index for track in plan.audio],
        [(track.index, track.output_codec) for track in plan.subtitles],
        enc.video_codec, enc.preset, enc.crf, enc.audio_codec, enc.audio_bitrate, out, plan.output_format,
    )
    t_start_ns = time.time_ns()
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - t0
    t_end_ns = time.time_ns()
    if proc.returncode != 0:
        raise StepError(f"the baseline ffmpeg failed: {tail(proc.stderr, 1)}")
    frames_out = measure(out, ffprobe)[0].packets  # the video comes first
    planned = plan.planned_run("baseline")
    record = {
        "schema": 1, "workload": "transcode", "run_id": planned.run_id,
        "index": 0, "count": 1, "node": platform.node(),
        "t_start_ns": t_start_ns, "t_end_ns": t_end_ns, "compute_s": round(elapsed, 6),
        "segment": os.path.basename(out), "frames_in": plan.video.frames, "frames_out": frames_out,
        "media_s": plan.video.duration_s, "bytes_out": os.path.getsize(out),
    }
    os.unlink(out)
    problems = ([] if frames_out == plan.video.frames
                else [f"the baseline wrote {frames_out} frames, the source has {plan.video.frames}"])
    run = run_record(planned, elapsed, [record], problems).to_dict()
    return {
        "run": run,
        "result": record,
        "t_e2e_s": elapsed,
        "lab_progress": f"baseline: one ffmpeg, {elapsed:.2f}s, {frames_out} frames",
    }
