"""The transcode pipeline's steps on the controller (local backend).

Each step reads and writes the run's work folder, so the Ansible modules that
call them stay thin and a rerun can resume:

  prepare()      validate, probe, plan            -> <work>/plan.json
  run_segments() split, audio (once, in parallel), segment pool -> manifest
  finish()       join, mux, verify, rename into place
  baseline()     one plain ffmpeg over the whole file, timed
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import threading
import time
from fractions import Fraction
from typing import Any, Callable

from . import commands, manifest, plan as planner, pool, probe, supervise, verify
from .params import ParamError, check_output_path, validate


class PipelineError(RuntimeError):
    """A step failed; the message names what and why (no traceback needed)."""


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


def _tail(text: str, n: int = 1) -> str:
    """The last n non-empty lines of a program's stderr, joined by ' | '."""
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    return " | ".join(lines[-n:])


def prepare(
    raw: dict[str, Any],
    work_dir: str,
    output: str | None,
    cores: int,
    ffprobe: str = "ffprobe",
    now: float | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Validate every parameter and the source, probe it and plan the segments.

    Nothing is created until all checks passed. Raises ParamError for bad
    input (message names the value)."""
    t0 = time.monotonic()
    params = validate(raw, cores)
    src = params["video"]
    given_output = check_output_path(output, src) if output else None
    try:
        info = probe.probe(src, ffprobe)
    except probe.ProbeError as exc:
        raise ParamError(f"video {raw.get('video')!r} is not a video FFmpeg can read ({exc})") from None
    if not info.has_video:
        raise ParamError(f"video {raw.get('video')!r} has no video stream (streams: {_stream_label(info)})")
    if info.video_codec not in commands.SPLITTABLE_CODECS:
        raise ParamError(
            f"video {raw.get('video')!r}: its video codec {info.video_codec!r} cannot be split at keyframes "
            f"by this tool (supported: {', '.join(commands.SPLITTABLE_CODECS)})"
        )
    if info.time_base is None:
        raise ParamError(f"video {raw.get('video')!r}: ffprobe reports no time base for its video stream")
    try:
        packets = probe.probe_packets(src, ffprobe, str(info.video_index))
        segments = planner.plan_segments(packets, info.time_base, params["segment_seconds"])
    except probe.ProbeError as exc:
        raise ParamError(f"video {raw.get('video')!r}: {exc}") from None
    settings = {k: params[k] for k in ("segment_seconds", "video_codec", "preset", "crf", "audio_codec", "audio_bitrate")}
    key = work_key(src, settings)
    work = os.path.join(os.path.abspath(work_dir), key)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    if output:
        out_path = given_output
    else:  # a new file in the run's own work folder
        out_path = os.path.join(work, f"out-{stamp}", os.path.splitext(os.path.basename(src))[0] + ".transcoded.mp4")
        if os.path.lexists(out_path):
            raise ParamError(f"transcode_output {out_path!r} already exists; choose a new name (nothing is overwritten)")
    tol = planner.frame_tolerance(packets, info.time_base)
    keys = [p.pts for p in packets if p.key]
    cuts = commands.piece_cuts(segments, keys)
    workers = planner.worker_count(params["workers"], len(segments))
    duration_src = info.video_duration_s or probe.video_duration_from_packets(packets, info.time_base)
    frame_s = float(1 / info.frame_rate) if info.frame_rate else float(tol * 2)
    run_stamp = stamp
    data = {
        "schema": 1,
        "run_stamp": run_stamp,
        "run_id": f"transcode-{run_stamp}-strong-n{workers}-r1",
        "t0_monotonic": t0,
        "source": src,
        "work": work,
        "output": out_path,
        "output_format": commands.OUTPUT_FORMATS[os.path.splitext(out_path)[1].lower()],
        "params": params,
        "settings": settings,
        "workers": workers,
        "requested_workers": params["workers"],
        "cores": cores,
        "threads_per_worker": planner.thread_budget(cores, workers),
        "video": {
            "index": info.video_index, "codec": info.video_codec, "width": info.width, "height": info.height,
            "time_base": str(info.time_base), "frame_rate": str(info.frame_rate) if info.frame_rate else None,
            "frames": len(packets), "duration_s": duration_src, "frame_s": frame_s,
            "keyframes": len(keys), "tolerance_s": float(tol),
        },
        "audio": {
            "index": info.audio_index, "codec": info.audio_codec, "duration_s": info.audio_duration_s,
            "streams": info.audio_streams,
        } if info.has_audio else None,
        "cuts": cuts,
        "cut_times": commands.cut_times(cuts, info.time_base, tol),
        "chunks": {str(k): v for k, v in commands.chunk_pieces(segments, cuts).items()},
        "segments": [s.to_dict() for s in segments],
    }
    data["probe_s"] = time.monotonic() - t0
    if not write:
        return data
    # Everything checked: only now touch the disk.
    os.makedirs(os.path.join(work, "segments"), exist_ok=True)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    _write_json(os.path.join(work, "plan.json"), data)
    return data


def _write_json(path: str, data: Any) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


def load_plan(work: str) -> dict[str, Any]:
    try:
        with open(os.path.join(work, "plan.json"), encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"no usable plan in {work!r}: {exc}") from None


def _segments(data: dict[str, Any]) -> list[planner.Segment]:
    return [planner.Segment(**s) for s in data["segments"]]


def parse_result_line(stdout: str) -> dict[str, Any] | None:
    """The one ``RESULT <json>`` line of a worker's stdout (None if absent or broken)."""
    found = None
    for line in (stdout or "").splitlines():
        if line.startswith("RESULT "):
            try:
                found = json.loads(line[len("RESULT "):])
            except ValueError:
                return None
    return found if isinstance(found, dict) else None


def split(data: dict[str, Any], pending: list[planner.Segment], ffmpeg: str = "ffmpeg",
          children: supervise.Children | None = None) -> None:
    """Copy-split the video stream into pieces and assemble each pending
    segment's chunk (its pieces + the next segment's first GOP)."""
    if not pending:
        return
    work = data["work"]
    pieces_dir = os.path.join(work, "pieces")
    shutil.rmtree(pieces_dir, ignore_errors=True)
    os.makedirs(pieces_dir)
    cmd = commands.split_command(
        ffmpeg, data["source"], data["video"]["index"], data["video"]["codec"],
        data["cut_times"], os.path.join(pieces_dir, "piece_%06d.ts"),
    )
    proc = (children or supervise.Children()).run(cmd)
    if proc.returncode != 0:
        raise PipelineError(f"splitting {data['source']!r} failed: {_tail(proc.stderr)}")
    expected = len(data["cuts"]) + 1
    made = sorted(f for f in os.listdir(pieces_dir) if f.endswith(".ts"))
    if len(made) != expected:
        raise PipelineError(f"splitting {data['source']!r} made {len(made)} pieces, planned {expected}")
    chunks_dir = os.path.join(work, "chunks")
    os.makedirs(chunks_dir, exist_ok=True)
    for seg in pending:
        dest = os.path.join(chunks_dir, seg.chunk)
        tmp = dest + ".part"
        with open(tmp, "wb") as out:
            for n in data["chunks"][str(seg.index)]:
                with open(os.path.join(pieces_dir, f"piece_{n:06d}.ts"), "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, dest)
    shutil.rmtree(pieces_dir, ignore_errors=True)


def run_segments(
    work: str,
    worker: str,
    ffmpeg: str = "ffmpeg",
    ffprobe: str = "ffprobe",
    on_owner_gone: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Split, start the audio encode, run the segment pool; resume from the manifest.

    With on_owner_gone, a watchdog kills every child process and calls it when
    the process that started the run (ansible-playbook) has gone."""
    data = load_plan(work)
    try:
        with supervise.WorkLock(data["work"]):
            children = supervise.Children()
            if on_owner_gone is not None:
                supervise.watch_owner(children, supervise.run_owner(), on_owner_gone)
            return _run_segments(data, worker, ffmpeg, ffprobe, children)
    except BlockingIOError as exc:
        raise PipelineError(str(exc)) from None


def _run_segments(
    data: dict[str, Any], worker: str, ffmpeg: str, ffprobe: str, children: supervise.Children
) -> dict[str, Any]:
    work = data["work"]
    segments = _segments(data)
    mpath = os.path.join(work, "manifest.json")
    man = manifest.load(mpath, data["settings"])
    rec = manifest.Recorder(mpath, man)
    seg_dir = os.path.join(work, "segments")
    done = manifest.done_segments(man, seg_dir, [s.name for s in segments], {s.name: s.frames for s in segments})
    pending = planner.longest_first([s for s in segments if s.name not in done])
    for seg in pending:  # a stale entry (damaged file) is no longer done
        rec.forget(seg.name)
    for name in done:  # verified by an earlier run: say so in this run's records
        entry = dict(man["segments"][name])
        if entry.get("result", {}).get("run_id") != data["run_id"]:
            entry["resumed_by"] = data["run_id"]
        rec.segment(name, entry)

    t_split = time.monotonic()
    split(data, pending, ffmpeg, children)
    split_s = time.monotonic() - t_split

    # The audio, once, on its own, while the segments run.
    audio_proc = None
    audio_state: dict[str, Any] = {}
    audio_out = os.path.join(work, "audio.m4a")
    audio_resumed = False
    t_audio = time.monotonic()
    if data["audio"] is not None:
        if manifest.is_intact(audio_out, man.get("audio")):
            audio_resumed = True
        else:
            rec.audio(None)
            p = data["params"]
            audio_proc = children.popen(
                commands.audio_command(ffmpeg, data["source"], data["audio"]["index"],
                                       p["audio_codec"], p["audio_bitrate"], audio_out + ".part"),
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )

            def _wait_audio(proc: subprocess.Popen = audio_proc) -> None:
                audio_state["err"] = proc.communicate()[1]
                audio_state["end"] = time.monotonic()

            audio_thread = threading.Thread(target=_wait_audio, daemon=True)
            audio_thread.start()

    count = len(segments)
    p = data["params"]

    def run_one(seg: planner.Segment, slot: int) -> dict:
        out = os.path.join(seg_dir, seg.name)
        cmd = commands.worker_command(
            worker, seg, os.path.join(work, "chunks", seg.chunk), out, count, data["run_id"],
            data["video"]["tolerance_s"], p["video_codec"], p["preset"], p["crf"],
            data["threads_per_worker"], slot, ffmpeg, ffprobe,
        )
        proc = children.run(cmd)
        result = parse_result_line(proc.stdout)
        if proc.returncode != 0 or result is None:
            raise pool.WorkFailed(_tail(proc.stderr, 2) or f"worker exited {proc.returncode} without a RESULT line")
        if result.get("frames_out") != seg.frames:
            raise pool.WorkFailed(f"worker reported {result.get('frames_out')} frames, expected {seg.frames}")
        rec.segment(seg.name, manifest.file_entry(out, frames=seg.frames, result=result))
        return result

    t_seg = time.monotonic()
    outcome = pool.run_pool(pending, lambda s: s.name, run_one, data["workers"], data["params"]["retries"])
    segments_s = time.monotonic() - t_seg

    audio_error = None
    audio_s = 0.0
    if audio_proc is not None:
        audio_thread.join()
        audio_s = audio_state["end"] - t_audio
        if audio_proc.returncode != 0:
            audio_error = f"encoding the audio failed: {_tail(audio_state.get('err', ''))}"
        else:
            os.replace(audio_out + ".part", audio_out)
            rec.audio(manifest.file_entry(audio_out))

    frames_done = sum(s.frames for s in pending if s.name in outcome.results)
    fps = frames_done / segments_s if segments_s > 0 else 0.0
    failed = sorted(outcome.failed)
    results = []
    for seg in segments:
        r = outcome.results.get(seg.name) or (man["segments"].get(seg.name) or {}).get("result")
        if r is not None:
            results.append(dict(r, resumed=seg.name in done))
    verified = len(done) + len(outcome.results)
    progress = (f"segments: {verified}/{count} verified ({len(done)} resumed), "
                f"{fps:.1f} fps on {data['workers']} workers")
    if failed:
        progress += f"; FAILED: {', '.join(failed)}"
    return {
        "results": results,
        "resumed": sorted(done),
        "failed": {name: outcome.failed[name] for name in failed},
        "attempts": [a.__dict__ for a in outcome.attempts],
        "audio_error": audio_error,
        "audio_resumed": audio_resumed,
        "phases": {"split_s": split_s, "audio_s": audio_s, "segments_s": segments_s},
        "fps": fps,
        "verified": verified,
        "count": count,
        "lab_progress": progress,
    }


def _probe_output(path: str, ffprobe: str) -> tuple[int, float | None, float | None, bool]:
    info = probe.probe(path, ffprobe)
    if not info.has_video:
        return 0, None, info.audio_duration_s, info.has_audio
    frames = probe.count_packets(path, ffprobe, str(info.video_index))
    vdur = info.video_duration_s
    if vdur is None:  # e.g. Matroska keeps durations per file, not per stream
        vdur = probe.video_duration_from_packets(probe.probe_packets(path, ffprobe, str(info.video_index)), info.time_base or Fraction(1, 1000))
    adur = info.audio_duration_s
    if info.has_audio and adur is None:
        adur = info.duration_s
    return frames, vdur, adur, info.has_audio


def _locked(step: Callable[..., dict[str, Any]], work: str, *args: Any) -> dict[str, Any]:
    try:
        with supervise.WorkLock(work):
            return step(work, *args)
    except BlockingIOError as exc:
        raise PipelineError(str(exc)) from None


def finish(work: str, ffmpeg: str = "ffmpeg", ffprobe: str = "ffprobe") -> dict[str, Any]:
    """Join, mux, verify and place the output (the work folder locked meanwhile)."""
    return _locked(_finish, work, ffmpeg, ffprobe)


def baseline(work: str, ffmpeg: str = "ffmpeg", ffprobe: str = "ffprobe") -> dict[str, Any]:
    """Time one plain ffmpeg over the whole file (the work folder locked meanwhile)."""
    return _locked(_baseline, work, ffmpeg, ffprobe)


def _finish(work: str, ffmpeg: str = "ffmpeg", ffprobe: str = "ffprobe") -> dict[str, Any]:
    """Join the verified segments in numeric order, mux the audio, verify the
    result against the source, and only then move it into place."""
    data = load_plan(work)
    segments = _segments(data)
    man = manifest.load(os.path.join(work, "manifest.json"), data["settings"])
    seg_dir = os.path.join(work, "segments")
    missing = [s.name for s in segments
               if s.name not in manifest.done_segments(man, seg_dir, [s.name], {s.name: s.frames})]
    if missing:
        raise PipelineError(f"segments not verified, cannot join: {', '.join(missing)}")
    audio = None
    if data["audio"] is not None:
        audio = os.path.join(work, "audio.m4a")
        if not manifest.is_intact(audio, man.get("audio")):
            raise PipelineError("the encoded audio is missing or damaged; rerun to redo it")

    t_join = time.monotonic()
    listing = os.path.join(seg_dir, "segments.ffconcat")
    with open(listing, "w", encoding="utf-8") as fh:
        fh.write(commands.concat_list(segments))
    fmt = data["output_format"]
    tmp = os.path.join(work, "output.part" + os.path.splitext(data["output"])[1])
    if os.path.exists(tmp):
        os.unlink(tmp)
    proc = subprocess.run(commands.mux_command(ffmpeg, listing, audio, tmp, fmt),
                          capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise PipelineError(f"joining the segments failed: {_tail(proc.stderr)}")
    join_mux_s = time.monotonic() - t_join

    t_verify = time.monotonic()
    frames_out, vdur_out, adur_out, has_a_out = _probe_output(tmp, ffprobe)
    src_audio = data["audio"]["duration_s"] if data["audio"] else None
    result = verify.check(
        frames_source=data["video"]["frames"], frames_output=frames_out,
        duration_source_s=data["video"]["duration_s"], duration_output_s=vdur_out,
        frame_duration_s=data["video"]["frame_s"],
        audio_source_s=src_audio, audio_output_s=adur_out,
        has_audio_source=data["audio"] is not None, has_audio_output=has_a_out,
    )
    verify_s = time.monotonic() - t_verify
    if not result["passed"]:
        raise PipelineError(f"verification failed, output not written ({'; '.join(result['problems'])}); "
                            f"the rejected file is {tmp!r}")
    place(tmp, data["output"])
    t_end = time.monotonic()
    shutil.rmtree(os.path.join(work, "chunks"), ignore_errors=True)
    results = []
    for seg in segments:
        entry = man["segments"][seg.name]
        results.append(dict(entry["result"], resumed=bool(entry.get("resumed_by"))))
    resumed = sum(1 for r in results if r["resumed"])
    run = {
        "run_id": data["run_id"], "workload": "transcode", "mode": "strong",
        "workers": data["workers"], "repetition": 1, "warmup": False, "order": 1,
        "work": data["video"]["duration_s"], "t_e2e_s": t_end - data["t0_monotonic"],
        "oversubscribed": data["workers"] > data["cores"], "throttled": False,
        # A resumed run did not do all its work in t_e2e_s: kept, flagged invalid.
        "valid": resumed == 0,
        "results": results,
    }
    return {
        "run": run,
        "resumed_segments": resumed,
        "verification": result,
        "output": data["output"],
        "bytes_out": os.path.getsize(data["output"]),
        "phases": {"join_mux_s": join_mux_s, "verify_s": verify_s},
        "t_end_monotonic": t_end,
        "t_e2e_s": t_end - data["t0_monotonic"],
        "lab_progress": (f"verified: {frames_out}/{data['video']['frames']} frames, "
                         f"video {vdur_out:.3f}s, output {data['output']}"),
    }


def place(tmp: str, final: str) -> None:
    """Move the verified file to its final name without ever replacing one
    that appeared meanwhile (hard link = atomic no-clobber; copy across
    filesystems under a hidden temporary name first)."""
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise PipelineError(f"transcode_output {final!r} appeared while transcoding; not overwritten "
                            f"(the verified result is {tmp!r})") from None
    except OSError:
        staging = os.path.join(os.path.dirname(final), f".{os.path.basename(final)}.partial-{os.getpid()}")
        shutil.copyfile(tmp, staging)
        try:
            os.link(staging, final)
        except FileExistsError:
            os.unlink(staging)
            raise PipelineError(f"transcode_output {final!r} appeared while transcoding; not overwritten") from None
        os.unlink(staging)
    os.unlink(tmp)


def _baseline(work: str, ffmpeg: str = "ffmpeg", ffprobe: str = "ffprobe") -> dict[str, Any]:
    """One plain ffmpeg encode of the whole file with the same settings,
    timed on the controller's monotonic clock; returns a RESULT-shaped record."""
    data = load_plan(work)
    p = data["params"]
    out = os.path.join(work, "baseline.mp4")
    if os.path.exists(out):
        os.unlink(out)
    cmd = commands.baseline_command(
        ffmpeg, data["source"], data["video"]["index"], data["audio"]["index"] if data["audio"] else None,
        p["video_codec"], p["preset"], p["crf"], p["audio_codec"], p["audio_bitrate"], out, "mp4",
    )
    t_start_ns = time.time_ns()
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    elapsed = time.monotonic() - t0
    t_end_ns = time.time_ns()
    if proc.returncode != 0:
        raise PipelineError(f"the baseline ffmpeg failed: {_tail(proc.stderr)}")
    frames_out = probe.count_packets(out, ffprobe, "v:0")
    record = {
        "schema": 1, "workload": "transcode",
        "run_id": f"transcode-{data['run_stamp']}-baseline-n1-r1",
        "index": 0, "count": 1, "node": platform.node(),
        "t_start_ns": t_start_ns, "t_end_ns": t_end_ns, "compute_s": round(elapsed, 6),
        "segment": "baseline.mp4", "frames_in": data["video"]["frames"], "frames_out": frames_out,
        "media_s": data["video"]["duration_s"], "bytes_out": os.path.getsize(out),
    }
    os.unlink(out)
    run = {
        "run_id": record["run_id"], "workload": "transcode", "mode": "baseline",
        "workers": 1, "repetition": 1, "warmup": False, "order": 2,
        "work": data["video"]["duration_s"], "t_e2e_s": elapsed,
        "oversubscribed": False, "throttled": False, "valid": frames_out == data["video"]["frames"],
        "results": [record],
    }
    return {
        "run": run,
        "result": record,
        "t_e2e_s": elapsed,
        "lab_progress": f"baseline: one ffmpeg, {elapsed:.2f}s, {frames_out} frames",
    }
