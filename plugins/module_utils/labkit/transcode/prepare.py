"""Step 1: validate every parameter and the source, probe it, plan the segments -> <work>/plan.json.

Nothing is written until every check has passed.
"""
from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import re
import time
from typing import Any, Optional

from ..environment import usable_cores
from ..text import plural
from . import commands, plan as planner, planfile, preflight, probe, streams
from .params import ParamError, check_output_path, validate
from .planfile import AudioTrack, Encoding, StepError, SubtitleTrack, TranscodePlan, VideoInfo


def _safe_stem(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "video"
    return safe[:40]


def work_key(source: str, settings: dict[str, Any]) -> str:
    """Same source file (path, size, mtime) and settings -> same work folder, so reruns resume."""
    st = os.stat(source)
    ident = json.dumps([os.path.realpath(source), st.st_size, st.st_mtime_ns, settings], sort_keys=True)
    return f"{_safe_stem(source)}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}"


def _stream_label(info: probe.MediaInfo) -> str:
    kinds = [str(s.get("codec_type", "?")) for s in info.streams]
    return ", ".join(kinds) if kinds else "none"


def _probe_source(src: str, named: str, ffprobe: str) -> tuple[probe.MediaInfo, probe.PacketTable]:
    """The source's streams and packets; ParamError naming the video when it cannot be split.

    The packet table is read while the streams are (two ffprobe at once); a problem with the
    streams is named first, as when they ran one after the other."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        packets = pool.submit(probe.probe_packet_table, src, ffprobe)
        info = _probe_streams(src, named, ffprobe)
        try:
            table = packets.result()
        except probe.ProbeError as exc:
            raise ParamError(f"video {named!r}: {exc}") from None
    damage = preflight.damage_of(info, table)
    if damage is not None:
        raise ParamError(f"video {named!r} is damaged: {damage}; repair or re-export it")
    return info, table


def _probe_streams(src: str, named: str, ffprobe: str) -> probe.MediaInfo:
    """The source's streams; ParamError naming the video when they cannot be split."""
    try:
        info = probe.probe(src, ffprobe)
    except probe.ProbeError as exc:
        damage = preflight.unopenable_damage(src, exc.stderr)
        if damage is not None:
            raise ParamError(f"video {named!r} is damaged: {damage}; repair or re-export it") from None
        raise ParamError(f"video {named!r} is not a video FFmpeg can read ({exc})") from None
    if not info.has_video:
        raise ParamError(f"video {named!r} has no video stream (streams: {_stream_label(info)})")
    if info.video_codec not in commands.SPLITTABLE_CODECS:
        raise ParamError(
            f"video {named!r}: its video codec {info.video_codec!r} cannot be split at keyframes "
            f"by this tool (supported: {', '.join(commands.SPLITTABLE_CODECS)})"
        )
    if info.time_base is None:
        raise ParamError(f"video {named!r}: ffprobe reports no time base for its video stream")
    return info


def _tracks(selection: streams.Selection, measured: dict[int, streams.StreamFacts],
            video_start_s: float) -> tuple[list[AudioTrack], list[SubtitleTrack]]:
    """The kept audio and subtitle streams, each audio track with its offset from the video."""
    audio = []
    for number, index in enumerate(selection.audio):
        facts = measured[index]
        offset = (facts.start_s - video_start_s) if facts.start_s is not None else 0.0
        audio.append(AudioTrack(index=index, codec=facts.codec, duration_s=facts.duration_s,
                                offset_s=round(offset, 6), file=f"audio_{number}.mka"))
    subtitles = [SubtitleTrack(index=index, codec=measured[index].codec, output_codec=how)
                 for index, how in selection.subtitles]
    return audio, subtitles


def prepare(raw: dict[str, Any], work_dir: str, output: Optional[str], cores: int, ffmpeg: str, ffprobe: str,
            now: Optional[float] = None, write: bool = True) -> TranscodePlan:
    """Validate every parameter and the source, probe it, check that the
    settings, programs and folders can work, and plan the segments.

    Raises ParamError for bad input (the message names the value)."""
    t0 = time.monotonic()
    params = validate(raw, cores)
    try:
        params["streams"] = streams.parse_choice(raw["streams"])
    except streams.StreamChoiceError as exc:
        raise ParamError(str(exc)) from None
    src = params["video"]
    given_output = check_output_path(output, src) if output else None
    named = str(raw["video"])
    encoding = Encoding(**{k: params[k] for k in ("segment_seconds", "video_codec", "preset", "crf",
                                                   "audio_codec", "audio_bitrate")}, streams=params["streams"].text)
    # The programs preflight judges run while the source is probed: they need nothing of it.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        program_runs = pool.submit(preflight.program_runs, ffmpeg, ffprobe, encoding)
        preflight.check_program("transcode_ffprobe", ffprobe, "ffprobe")
        info, table = _probe_source(src, named, ffprobe)
        runs = program_runs.result()
    assert info.time_base is not None and info.video_index is not None and info.video_codec is not None
    try:
        packets = table.video(info.video_index)
        segments = planner.plan_segments(packets, info.time_base, params["segment_seconds"])
    except probe.ProbeError as exc:
        raise ParamError(f"video {named!r}: {exc}") from None
    work = os.path.join(os.path.abspath(work_dir), work_key(src, encoding.to_dict()))
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    if given_output:
        out_path = given_output
    else:  # a new file in the run's own work folder
        out_path = os.path.join(work, f"out-{stamp}", os.path.splitext(os.path.basename(src))[0] + ".transcoded.mp4")
        if os.path.lexists(out_path):
            raise ParamError(f"transcode_output {out_path!r} already exists; choose a new name (nothing is overwritten)")
    output_format = commands.OUTPUT_FORMATS[os.path.splitext(out_path)[1].lower()]
    measured = {f.index: f for f in streams.facts(info, table)}
    try:
        selection = streams.select(list(measured.values()), info.video_index, params["streams"], output_format)
    except streams.StreamChoiceError as exc:
        raise ParamError(f"video {named!r}: {exc}") from None
    preflight.preflight(ffmpeg, ffprobe, encoding, work_dir=work_dir,
                        output_dir=os.path.dirname(given_output) if given_output else None,
                        has_audio=bool(selection.audio), runs=runs)
    tol = planner.frame_tolerance(packets, info.time_base)
    keys = [p.pts for p in packets if p.key and p.shown]
    cuts = commands.piece_cuts(segments, keys)
    workers = planner.worker_count(params["workers"], len(segments))
    shown = probe.span(packets, info.time_base)
    assert shown.start_s is not None and shown.duration_s is not None
    video = VideoInfo(
        index=info.video_index, codec=info.video_codec, width=info.width, height=info.height,
        time_base=str(info.time_base), frame_rate=str(info.frame_rate) if info.frame_rate else None,
        frames=shown.packets, duration_s=shown.duration_s, start_s=shown.start_s,
        frame_s=float(1 / info.frame_rate) if info.frame_rate else float(tol * 2),
        keyframes=len(keys), tolerance_s=float(tol),
    )
    audio, subtitles = _tracks(selection, measured, shown.start_s)
    kept = [selection.video, *selection.audio, *(index for index, _ in selection.subtitles)]
    plan = TranscodePlan(
        run_stamp=stamp, run_id=f"transcode-{stamp}-strong-n{workers}-r1", t0_monotonic=t0, probe_s=0.0,
        source=src, work=work, output=out_path,
        output_format=output_format,
        encoding=encoding, retries=params["retries"], baseline=params["baseline"],
        requested_workers=params["workers"], workers=workers, cores=cores,
        threads_per_worker=planner.thread_budget(cores, workers), video=video, audio=audio,
        subtitles=subtitles, source_start_s=info.start_time_s or 0.0,
        source_streams=[measured[index] for index in kept],
        cuts=cuts, cut_times=commands.cut_times(cuts, info.time_base, tol),
        chunks=commands.chunk_pieces(segments, cuts), segments=segments,
    )
    plan.probe_s = time.monotonic() - t0
    if write:  # everything checked: only now touch the disk
        os.makedirs(os.path.join(work, "segments"), exist_ok=True)
        os.makedirs(os.path.dirname(out_path), exist_ok=True)
        planfile.save(plan)
    return plan


def plan_step(*, video: Any, output: str, segment_seconds: Any, workers: Any, retries: Any, video_codec: str,
              preset: str, crf: Any, audio_codec: str, audio_bitrate: str, streams: str, baseline: Any, work_dir: str,
              ffmpeg: str, ffprobe: str, cwd: Optional[str] = None, cores: Optional[int] = None,
              check_mode: bool = False) -> dict[str, Any]:
    """lab_transcode_plan: the plan (written unless check_mode) and what the play needs of it.

    cores: the worker slots there are (the hosts' on the ssh backend); the controller's by default."""
    raw = {"video": video, "segment_seconds": segment_seconds, "workers": workers, "retries": retries,
           "video_codec": video_codec, "preset": preset, "crf": crf, "audio_codec": audio_codec,
           "audio_bitrate": audio_bitrate, "streams": streams, "baseline": baseline}
    out = output or None
    if cwd:  # relative names are relative to where ansible-playbook was started
        if video not in (None, "") and not os.path.isabs(str(video)):
            raw["video"] = os.path.join(cwd, str(video))
        if out and not os.path.isabs(out):
            out = os.path.join(cwd, out)
    try:
        plan = prepare(raw, work_dir, out, cores or usable_cores() or 1, ffmpeg, ffprobe,
                       write=not check_mode)
    except OSError as err:
        raise StepError(f"cannot prepare the work folder under {work_dir!r}: {err}") from None
    v = plan.video
    progress = (
        f"plan: {plural(len(plan.segments), 'segment')} of ~{plan.encoding.segment_seconds:g} s "
        f"({plural(v.frames, 'frame')} shown, {v.duration_s:.2f} s, {v.codec} {v.width}x{v.height}), "
        f"{plural(plan.workers, 'worker')} x {plural(plan.threads_per_worker, 'thread')}, "
        f"{plural(len(plan.audio), 'audio track')}, {plural(len(plan.subtitles), 'subtitle stream')}"
    )
    as_dict = plan.to_dict()
    return {
        "work": plan.work, "run_id": plan.run_id, "output": plan.output, "workers": plan.workers,
        "threads_per_worker": plan.threads_per_worker, "cores": plan.cores, "segments": len(plan.segments),
        "video": as_dict["video"], "audio": as_dict["audio"], "parameters": plan.parameters,
        "probe_s": plan.probe_s, "lab_progress": progress,
    }
