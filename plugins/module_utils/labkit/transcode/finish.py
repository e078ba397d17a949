"""Step 3: join the verified segments, mux the audio, verify against the source, place the output.

Also builds what the report needs of the whole transcode: the strong run's
record, the `context` block and the `extra` block (verification + phase split),
so the role passes them on as they are.
"""
from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import time
from typing import Any

from ..backends import tail
from ..runs import run_record
from ..text import plural
from . import commands, manifest, planfile, probe, streams, verify
from . import seams as seam_analysis
from .audio import intact as audio_intact
from .planfile import StepError, TranscodePlan
from .streams import StreamFacts


def place(tmp: str, final: str) -> None:
    """Move the verified file to its final name without ever replacing one
    that appeared meanwhile (hard link = atomic no-clobber; copy across
    filesystems under a hidden temporary name first)."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise StepError(f"transcode_output {final!r} appeared while transcoding; not overwritten "
                        f"(the verified result is {tmp!r})") from None
    except OSError:
        staging = os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.partial-{os.getpid()}")
        shutil.copyfile(tmp, staging)
        try:
            os.link(staging, final)
        except FileExistsError:
            os.unlink(staging)
            raise StepError(f"transcode_output {final!r} appeared while transcoding; not overwritten") from None
        os.unlink(staging)
    os.unlink(tmp)


def measure(path: str, ffprobe: str) -> list[StreamFacts]:
    """Every stream of a file, measured from its packets (the source was measured the same way);
    the two ffprobe runs at once."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        table = pool.submit(probe.probe_packet_table, path, ffprobe)
        info = probe.probe(path, ffprobe)
        return streams.facts(info, table.result())


def first_frame_psnr(ffmpeg: str, plan: TranscodePlan, output: str) -> float | None:
    """The output's first frame against the source's first shown frame (None when ffmpeg could not say)."""
    proc = subprocess.run(commands.first_frame_psnr_command(ffmpeg, plan.source, plan.video.index, output),
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    return commands.psnr_of(proc.stderr) if proc.returncode == 0 else None


def mux_inputs(plan: TranscodePlan, ffmpeg: str) -> commands.MuxInputs:
    """The audio files and subtitles beside the joined video, each at its source offset, and the rotation."""
    rotation = plan.source_streams[0].rotation
    return commands.MuxInputs(
        audio=[(os.path.join(plan.work, track.file), track.offset_s) for track in plan.audio],
        subtitles=[(track.index, track.output_codec) for track in plan.subtitles],
        subtitle_source=plan.source,
        subtitle_origin_s=plan.source_start_s - plan.video.start_s,
        rotation=rotation,
        rotation_option=rotation is not None and commands.has_display_rotation(ffmpeg),
    )


def finish(work: str, ffmpeg: str, ffprobe: str, seams: bool = False) -> dict[str, Any]:
    """lab_transcode_finish, the work folder locked meanwhile; with seams, the quality at the seams
    of the placed output too (after the timing: it is analysis, not transcoding)."""
    plan = planfile.load(work)
    with planfile.locked(plan.work):
        result = _finish(plan, ffmpeg, ffprobe)
        if seams:
            t0 = time.monotonic()
            result["extra"]["seams"] = seams_of(plan, ffmpeg, ffprobe)
            result["extra"]["phases"]["seams_s"] = time.monotonic() - t0
        return result


def seams_of(plan: TranscodePlan, ffmpeg: str, ffprobe: str) -> dict[str, Any]:
    """Per-frame PSNR and SSIM of the output against the source, the seams marked (labkit.transcode.seams)."""
    proc = subprocess.run(seam_analysis.quality_command(ffmpeg, plan.source, plan.video.index, plan.output),
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL, cwd=plan.work)
    if proc.returncode != 0:
        raise StepError(f"the per-frame quality analysis failed: {tail(proc.stderr, 1)} (the output is verified "
                        f"and kept: {plan.output}; run again without -e transcode_seams=true)")
    logs = []
    for name in (seam_analysis.PSNR_LOG, seam_analysis.SSIM_LOG):
        path = os.path.join(plan.work, name)
        with open(path, encoding="utf-8", errors="replace") as handle:
            logs.append(handle.read())
        os.unlink(path)
    packets = sorted((p for p in probe.probe_packet_table(plan.output, ffprobe).video(0) if p.shown),
                     key=lambda p: p.pts)
    return seam_analysis.analyse(seam_analysis.parse_psnr_log(logs[0]), seam_analysis.parse_ssim_log(logs[1]),
                                 [seg.frames for seg in plan.segments], [(p.key, p.size) for p in packets])


def _checked_inputs(plan: TranscodePlan, man: dict[str, Any]) -> None:
    """Every segment verified and intact, and every audio track."""
    done = manifest.verified(plan, man)
    missing = [seg.name for seg in plan.segments if seg.name not in done]
    if missing:
        raise StepError(f"segments not verified, cannot join: {', '.join(missing)}")
    if plan.audio and not audio_intact(plan.work, plan.audio, man.get("audio")):
        raise StepError("the encoded audio is missing or damaged; rerun to redo it")


def _finish(plan: TranscodePlan, ffmpeg: str, ffprobe: str) -> dict[str, Any]:
    """Join the verified segments in numeric order, mux the audio, verify the
    result against the source, and only then move it into place."""
    man = manifest.load_for(plan)
    _checked_inputs(plan, man)

    t_join = time.monotonic()
    listing = os.path.join(plan.work, "segments", "segments.ffconcat")
    with open(listing, "w", encoding="utf-8") as fh:
        fh.write(commands.concat_list(plan.segments))
    tmp = os.path.join(plan.work, "output.part" + os.path.splitext(plan.output)[1])
    if os.path.exists(tmp):
        os.unlink(tmp)
    proc = subprocess.run(commands.mux_command(ffmpeg, listing, mux_inputs(plan, ffmpeg), tmp, plan.output_format),
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise StepError(f"joining the segments failed: {tail(proc.stderr, 1)}")
    join_mux_s = time.monotonic() - t_join

    t_verify = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:  # three short programs at once
        psnr = pool.submit(first_frame_psnr, ffmpeg, plan, tmp)
        verification = verify.check(plan.source_streams, measure(tmp, ffprobe), plan.video.frame_s, psnr.result())
    verify_s = time.monotonic() - t_verify
    if not verification["passed"]:
        raise StepError(f"verification failed, output not written ({'; '.join(verification['problems'])}); "
                        f"the rejected file is {tmp!r}")
    place(tmp, plan.output)
    t_end = time.monotonic()
    chunks = os.path.join(plan.work, "chunks")
    # What was shipped to the workers, for the network's ceiling on the speed-up (labkit.preflight).
    chunk_bytes = sum(entry.stat().st_size for entry in os.scandir(chunks) if entry.is_file()) \
        if os.path.isdir(chunks) else 0
    shutil.rmtree(chunks, ignore_errors=True)

    results = [dict(man["segments"][seg.name]["result"], resumed=bool(man["segments"][seg.name].get("resumed_by")))
               for seg in plan.segments]
    resumed = sum(1 for r in results if r["resumed"])
    run = strong_run(plan, t_end - plan.t0_monotonic, results, resumed)
    phases = dict(planfile.load_phases(plan.work), join_mux_s=join_mux_s, verify_s=verify_s)
    return {
        "run": run,
        "context": {
            "source": plan.source_block(),
            "output": plan.output, "work": plan.work, "threads_per_worker": plan.threads_per_worker,
            "resumed_segments": resumed, "chunk_bytes": chunk_bytes,
        },
        "extra": {"verification": verification, "phases": phase_split(plan.probe_s, phases)},
        "bytes_out": os.path.getsize(plan.output),
        "t_e2e_s": run["t_e2e_s"],
        "lab_progress": (f"verified: {verification['frames_output']}/{plan.video.frames} frames, "
                         f"{len(verification['checks'])} checks passed, output {plan.output}"),
    }


def strong_run(plan: TranscodePlan, t_e2e_s: float, results: list[dict], resumed: int) -> dict[str, Any]:
    """The strong run's record: t_e2e_s runs from the probe to the verified output."""
    # A resumed run did not do all its work in t_e2e_s: kept, flagged invalid. A resumed
    # result carries the run id of the run that made it: kept as resumed_from, and it
    # counts as one of this run's results (the output is made of it).
    problems = [f"{resumed} of {plural(len(results), 'segment')} resumed from an earlier run"] if resumed else []
    mine = [dict(r, run_id=plan.run_id, resumed_from=r["run_id"]) if r["resumed"] else r for r in results]
    return run_record(plan.planned_run("strong"), t_e2e_s, mine, problems, expected=len(plan.segments)).to_dict()


def phase_split(probe_s: float, phases: dict[str, float]) -> dict[str, float]:
    """The report's phases: probe + split together, the audio overlapping the segments."""
    split = {"probe_split_s": probe_s + phases.get("split_s", 0.0), "audio_s": phases.get("audio_s", 0.0),
             "segments_s": phases.get("segments_s", 0.0), "join_mux_s": phases["join_mux_s"],
             "verify_s": phases["verify_s"]}
    return {name: round(value, 6) for name, value in split.items()}
