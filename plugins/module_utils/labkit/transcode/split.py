"""Step 2: copy-split the video stream into pieces and assemble each pending segment's chunk.

One stream-copy pass cuts the video at every segment start and at the
keyframe right after it; segment k's chunk is its own pieces plus the first
piece of segment k+1 (the open-GOP leading frames it needs). Its own step, so
that a multi-host backend can ship the chunks before the segments run.
"""
from __future__ import annotations

import os
import shutil
import time
from typing import Any, Sequence

from ..backends import tail
from ..supervise import Children
from ..text import plural
from . import commands, manifest, planfile
from .plan import Segment
from .planfile import StepError, TranscodePlan


def pending_segments(plan: TranscodePlan) -> list[Segment]:
    """The segments no earlier run verified (intact on disk, right frame count), in plan order."""
    done = manifest.verified(plan, manifest.load_for(plan))
    return [seg for seg in plan.segments if seg.name not in done]


def split_step(work: str, ffmpeg: str, ffprobe: str) -> dict[str, Any]:
    """lab_transcode_split: the chunks of every pending segment, the work folder locked meanwhile."""
    plan = planfile.load(work)
    with planfile.locked(plan.work):
        pending = pending_segments(plan)
        t0 = time.monotonic()
        split(plan, pending, ffmpeg, Children())
        split_s = time.monotonic() - t0
    planfile.save_phases(plan.work, {"split_s": split_s})
    resumed = len(plan.segments) - len(pending)
    return {
        "chunks": [seg.chunk for seg in pending],
        "chunks_dir": os.path.join(plan.work, "chunks"),
        "pending": len(pending),
        "split_s": split_s,
        "lab_progress": (f"split: {plural(len(pending), 'chunk')} in {split_s:.2f} s"
                         + (f" ({resumed} of {plural(len(plan.segments), 'segment')} already verified)"
                            if resumed else "")),
    }


def piece_name(number: int) -> str:
    return f"piece_{number:06d}.ts"


def split(plan: TranscodePlan, pending: Sequence[Segment], ffmpeg: str, children: Children) -> None:
    """Write <work>/chunks/<chunk> for every pending segment (nothing when none is pending)."""
    if not pending:
        return
    pieces_dir = os.path.join(plan.work, "pieces")
    shutil.rmtree(pieces_dir, ignore_errors=True)
    os.makedirs(pieces_dir)
    cmd = commands.split_command(ffmpeg, plan.source, plan.video.index, plan.video.codec, plan.cut_times,
                                 os.path.join(pieces_dir, "piece_%06d.ts"))
    proc = children.run(cmd)
    if proc.returncode != 0:
        raise StepError(f"splitting {plan.source!r} failed: {tail(proc.stderr, 1)}")
    expected = len(plan.cuts) + 1
    made = sorted(f for f in os.listdir(pieces_dir) if f.endswith(".ts"))
    if len(made) != expected:
        raise StepError(f"splitting {plan.source!r} made {len(made)} pieces, planned {expected}")
    chunks_dir = os.path.join(plan.work, "chunks")
    os.makedirs(chunks_dir, exist_ok=True)
    for seg in pending:
        dest = os.path.join(chunks_dir, seg.chunk)
        tmp = dest + ".part"
        with open(tmp, "wb") as out:
            for number in plan.chunks[seg.index]:
                with open(os.path.join(pieces_dir, piece_name(number)), "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, dest)
    shutil.rmtree(pieces_dir, ignore_errors=True)
