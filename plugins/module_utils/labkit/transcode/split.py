"""Step 2a: copy-split the video stream into pieces and assemble each pending segment's chunk.

One stream-copy pass cuts the video at every segment start and at the
keyframe right after it; segment k's chunk is its own pieces plus the first
piece of segment k+1 (the open-GOP leading frames it needs).
"""
from __future__ import annotations

import os
import shutil
from typing import Sequence

from ..backends import tail
from ..supervise import Children
from . import commands
from .plan import Segment
from .planfile import StepError, TranscodePlan


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
