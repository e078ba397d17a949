"""The baseline: one plain ffmpeg over the whole file with the same settings, timed.

Seed 000's single-machine command (with explicit stream selection), on the
controller's monotonic clock, returned as a run of mode "baseline" with one
RESULT-shaped record, so the report compares it with the strong run.
"""
from __future__ import annotations

import os
import platform
import posixpath
import shlex
import subprocess
import time
from typing import Any, Mapping, Optional

from ..backends import tail
from ..backends.ssh import ssh_argv
from ..hosts import ssh_host
from ..runs import run_record
from . import commands, planfile
from .finish import measure
from .planfile import StepError, TranscodePlan


# On a host: the plain ffmpeg, timed by the host's clock around it alone (not the SSH
# connection), then its output's video packets counted there and the file removed.
# Prints "<start ns> <end ns> <frames> <bytes>". Arguments: the output, then the ffprobe, then
# the ffmpeg command line; nothing is interpolated into the script.
REMOTE_BASELINE = (
    'out=$1; ffprobe=$2; shift 2; t0=$(date +%s%N); "$@" || exit $?; t1=$(date +%s%N); '
    'frames=$("$ffprobe" -v error -select_streams v:0 -count_packets -show_entries stream=nb_read_packets '
    '-of csv=p=0 -- "$out" | head -n 1 | tr -d ", \r"); bytes=$(wc -c <"$out" | tr -d " "); rm -f -- "$out"; '
    'echo "$t0 $t1 $frames $bytes"'
)


def baseline(work: str, ffmpeg: str, ffprobe: str, host: Optional[Mapping[str, Any]] = None,
             remote_source: str = "", host_ffmpeg: str = "ffmpeg", host_ffprobe: str = "ffprobe") -> dict[str, Any]:
    """lab_transcode_baseline, the work folder locked meanwhile: on the controller, or with
    `host` on that host (the source shipped there as `remote_source`), where a cluster's
    single machine is one of its hosts, not the controller."""
    plan = planfile.load(work)
    with planfile.locked(plan.work):
        if host is None:
            return _baseline(plan, ffmpeg, ffprobe)
        return _baseline_on_host(plan, host, remote_source, host_ffmpeg, host_ffprobe)


def _command(plan: TranscodePlan, ffmpeg: str, source: str, out: str) -> list[str]:
    enc = plan.encoding
    return commands.baseline_command(
        ffmpeg, source, plan.video.index, [track.index for track in plan.audio],
        [(track.index, track.output_codec) for track in plan.subtitles],
        enc.video_codec, enc.preset, enc.crf, enc.audio_codec, enc.audio_bitrate, out, plan.output_format,
    )


def _baseline(plan: TranscodePlan, ffmpeg: str, ffprobe: str) -> dict[str, Any]:
    out = os.path.join(plan.work, "baseline" + os.path.splitext(plan.output)[1])
    if os.path.exists(out):
        os.unlink(out)
    t_start_ns = time.time_ns()
    t0 = time.monotonic()
    proc = subprocess.run(_command(plan, ffmpeg, plan.source, out), capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - t0
    t_end_ns = time.time_ns()
    if proc.returncode != 0:
        raise StepError(f"the baseline ffmpeg failed: {tail(proc.stderr, 1)}")
    frames_out = measure(out, ffprobe)[0].packets  # the video comes first
    bytes_out = os.path.getsize(out)
    os.unlink(out)
    return _result(plan, platform.node(), t_start_ns, t_end_ns, elapsed, frames_out, bytes_out, os.path.basename(out))


def _baseline_on_host(plan: TranscodePlan, spec: Mapping[str, Any], source: str, ffmpeg: str,
                      ffprobe: str) -> dict[str, Any]:
    host = ssh_host(spec)
    out = posixpath.join(posixpath.dirname(source), "baseline" + os.path.splitext(plan.output)[1])
    remote = ["sh", "-c", REMOTE_BASELINE, "sh", out, ffprobe, *_command(plan, ffmpeg, source, out)]
    proc = subprocess.run([*ssh_argv(host), host.destination, "--", shlex.join(remote)], capture_output=True,
                          text=True, check=False, stdin=subprocess.DEVNULL)
    fields = proc.stdout.split()
    if proc.returncode != 0 or len(fields) != 4 or not all(f.isdigit() for f in fields):
        raise StepError(f"the baseline ffmpeg failed on {host.name}: {tail(proc.stderr, 1) or proc.stdout.strip()}")
    t_start_ns, t_end_ns, frames_out, bytes_out = (int(f) for f in fields)
    return _result(plan, host.name, t_start_ns, t_end_ns, (t_end_ns - t_start_ns) / 1e9, frames_out, bytes_out,
                   posixpath.basename(out), host=host.name)


def _result(plan: TranscodePlan, node: str, t_start_ns: int, t_end_ns: int, elapsed: float, frames_out: int,
            bytes_out: int, name: str, host: Optional[str] = None) -> dict[str, Any]:
    planned = plan.planned_run("baseline")
    record = {
        "schema": 1, "workload": "transcode", "run_id": planned.run_id,
        "index": 0, "count": 1, "node": node,
        "t_start_ns": t_start_ns, "t_end_ns": t_end_ns, "compute_s": round(elapsed, 6),
        "segment": name, "frames_in": plan.video.frames, "frames_out": frames_out,
        "media_s": plan.video.duration_s, "bytes_out": bytes_out,
    }
    if host:
        record["host"] = host
    problems = ([] if frames_out == plan.video.frames
                else [f"the baseline wrote {frames_out} frames, the source has {plan.video.frames}"])
    run = run_record(planned, elapsed, [record], problems).to_dict()
    return {
        "run": run,
        "result": record,
        "t_e2e_s": elapsed,
        "lab_progress": f"baseline: one ffmpeg on {node}, {elapsed:.2f}s, {frames_out} frames",
    }
