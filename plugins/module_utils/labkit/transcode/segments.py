"""Step 2: split, the audio once, and the segment batch on the backend; resume from the manifest.

Each segment is one `WorkItem` for the segment worker
(plugins/workers/transcode_segment.sh), handed to the backend longest first on
`plan.workers` slots. The backend reads the worker's RESULT line; `accept`
adds the transcode's own check (the planned frame count); every segment that
passes is recorded in the manifest at once, so a killed run resumes from it.
A failure the same chunk would repeat (a damaged source, a wrong frame count,
arguments the worker refuses) is final: not retried, and named in words.
"""
from __future__ import annotations

import os
import shlex
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Mapping, Optional

from ..backends import Accept, Backend, ItemOutcome, WorkFailed, WorkItem, lost_hosts_text
from ..backends.local import LocalBackend
from ..progress import ProgressFile
from ..supervise import Children, run_owner, watch_owner
from ..text import plural
from . import manifest, plan as planner, planfile
from .audio import AudioEncode
from .plan import Segment
from .planfile import StepError, TranscodePlan
from .split import split

PROGRESS_FILE = "progress.json"  # read by lab_job_progress while the async step runs


# The segment worker's exit statuses that another attempt cannot change
# (plugins/workers/transcode_segment.sh documents them all).
WORKER_BAD_USAGE, WORKER_WRONG_FRAMES, WORKER_INPUT_DAMAGED = 2, 5, 7


def source_span(seg: Segment) -> str:
    """Where a segment lies in the source, in words: "6.40–9.60 s"."""
    return f"{seg.start_s:.2f}–{seg.start_s + seg.duration_s:.2f} s"


def final_causes(plan: TranscodePlan, seg: Segment) -> dict[int, str]:
    """What each final exit status of the worker means for this segment, in words."""
    span = source_span(seg)
    return {
        WORKER_BAD_USAGE: f"the segment worker refused its arguments for segment {seg.index} "
                          "(a setting it cannot take, or a bug in the plan)",
        WORKER_WRONG_FRAMES: f"segment {seg.index} ({span} of the source) does not decode to its planned "
                             f"{seg.frames} frames although ffmpeg reported no error; the source is probably "
                             f"damaged there (check it with: ffmpeg -v error -i {shlex.quote(plan.source)} -f null -)",
        WORKER_INPUT_DAMAGED: f"the source is damaged around {span} (segment {seg.index}); "
                              "repair or re-export it",
    }


def segment_item(plan: TranscodePlan, seg: Segment, *, worker: str, ffmpeg: str, ffprobe: str) -> WorkItem:
    """The worker's command for one segment: its chunk in, its segment file out.

    No --slot: the slot is only known when the backend starts the item; the
    item's outcome (ItemOutcome.slot) gives it, and it is added to the result."""
    chunk = os.path.join(plan.work, "chunks", seg.chunk)
    output = os.path.join(plan.work, "segments", seg.name)
    enc = plan.encoding
    argv = ("sh", worker, "--input", chunk, "--output", output,
            "--frames", str(seg.frames), "--duration", f"{seg.duration_s:.6f}",
            "--tolerance", f"{plan.video.tolerance_s:.6f}",
            "--index", str(seg.index), "--count", str(len(plan.segments)), "--run-id", plan.run_id,
            "--codec", enc.video_codec, "--preset", enc.preset, "--crf", enc.crf,
            "--threads", str(plan.threads_per_worker), "--ffmpeg", ffmpeg, "--ffprobe", ffprobe)
    if seg.lead_s > 0:  # the first frames of the chunk are hidden by the source's edit list
        argv += ("--lead", f"{seg.lead_s:.6f}")
    return WorkItem(name=seg.name, argv=argv, inputs=(chunk,), outputs=(output,), index=seg.index,
                    final_exit_codes=final_causes(plan, seg))


def frames_check(plan: TranscodePlan) -> Accept:
    """Reject a result whose frame count is not the planned one: a final failure,
    since the same chunk and arguments give the same count again."""
    by_name = {seg.name: seg for seg in plan.segments}

    def accept(item: WorkItem, result: dict) -> None:
        seg = by_name[item.name]
        if result.get("frames_out") != seg.frames:
            raise WorkFailed(f"worker reported {result.get('frames_out')} frames, expected {seg.frames} "
                             f"(segment {seg.index}, {source_span(seg)} of the source)", final=True)

    return accept


def failure_message(failed: dict[str, str], final: set[str]) -> str:
    """The segments that failed, in words: first those retrying cannot help, then those that ran out of retries."""
    def named(names: list[str]) -> str:
        # Segments that failed for the same reason (a missing image stops them all) share one line.
        by_error: dict[str, list[str]] = {}
        for name in names:
            by_error.setdefault(failed[name], []).append(name)
        return "; ".join(f"{', '.join(group)}: {error}" for error, group in by_error.items())

    hopeless = sorted(name for name in failed if name in final)
    retried = sorted(name for name in failed if name not in final)
    parts = []
    if hopeless:
        parts.append(f"{plural(len(hopeless), 'segment')} cannot be made, and retrying cannot help: {named(hopeless)}.")
    if retried:
        parts.append(f"{plural(len(retried), 'segment')} failed after every retry: {named(retried)}.")
    if retried and not hopeless:
        parts.append("Verified segments are kept; rerun to redo only the rest.")
    else:
        parts.append("Verified segments are kept; fix the cause above, then rerun to redo only the rest.")
    return " ".join(parts)


@dataclass(frozen=True)
class Hosts:
    """Where the segments run when it is not the controller (the ssh backend).

    `specs`: each host's connection variables and `slots` (labkit.hosts); `remote_work`:
    the work folder's place on every host (its chunks shipped there beforehand); the
    worker and FFmpeg programs as the hosts name them."""

    specs: tuple[Mapping[str, Any], ...]
    remote_work: str
    worker: str
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"

    def backend(self, work: str, children: Children) -> Backend:
        from ..backends.ssh import SshBackend
        from ..hosts import ssh_host

        return SshBackend([ssh_host(spec, int(spec.get("slots") or 1), paths={work: self.remote_work})
                           for spec in self.specs], children)


@dataclass(frozen=True)
class Cluster:
    """Where the segments run on the k3s backend: one Indexed Job (labkit.backends.k3s).

    `settings` are lab_transcode_segments' `k3s` option: the kubeconfig and context, the
    namespace, the pods' image, resources and identity (k8s_items.PodSettings' fields), the
    node storage's folder on the nodes (`node_storage`) and in the pods (`storage_mount`),
    and `nodes`: every node's Kubernetes name with how the controller reaches it. The
    chunks are already in <node_storage>/transcode/<work folder's name>/chunks on every
    node (ansible.posix.synchronize); each segment is fetched from the node that made it."""

    settings: Mapping[str, Any]

    WORKER = "transcode_segment.sh"   # the worker's name in the ConfigMap (k8s_items.PROGRAM_DIR)

    def folder(self, root: str, work: str) -> str:
        return f"{root.rstrip('/')}/transcode/{os.path.basename(work.rstrip('/'))}"

    def backend(self, work: str, worker: str, run_id: str, children: Children) -> Backend:
        from .. import k8s_items
        from ..backends.k3s import K3sBackend, NodeFiles, api_client

        given = self.settings
        pod = k8s_items.PodSettings.from_mapping(
            {key: value for key, value in given.items() if key in k8s_items.PodSettings.__dataclass_fields__})
        with open(worker, encoding="utf-8") as program:
            programs = {self.WORKER: program.read()}
        files = NodeFiles(given.get("nodes") or [], {work: self.folder(str(given["node_storage"]), work)}, children)
        return K3sBackend(api_client(given.get("kubeconfig"), given.get("context")),
                          namespace=str(given["namespace"]), job_name=f"{run_id}-segments", pod=pod,
                          programs=programs, pod_paths={work: self.folder(pod.storage_mount, work)}, files=files,
                          component="transcode-segment",
                          start_timeout_s=float(given.get("start_timeout") or 300),
                          poll_interval_s=float(given.get("poll_interval") or 1.0),
                          keep=bool(given.get("keep")), children=children)


def run_segments(work: str, worker: str, ffmpeg: str, ffprobe: str, owner: Optional[int] = None,
                 on_owner_gone: Optional[Callable[[], None]] = None, hosts: Optional[Hosts] = None,
                 cluster: Optional[Cluster] = None) -> dict[str, Any]:
    """lab_transcode_segments, the work folder locked meanwhile.

    Without `hosts` or `cluster` the segments run as local processes; with `hosts`, on the
    hosts over SSH; with `cluster`, as pods of an Indexed Job.

    With on_owner_gone, a watchdog kills every child process and calls it when
    the process that started the run (ansible-playbook: `owner`, found from
    the process tree when not given) has gone. An async job must be given it:
    it runs detached from ansible-playbook's process tree."""
    plan = planfile.load(work)
    try:
        with planfile.locked(plan.work):
            children = Children()
            if on_owner_gone is not None:
                watch_owner(children, owner or run_owner(), on_owner_gone)
            out = _run(plan, worker, ffmpeg, ffprobe, children, hosts, cluster)
    except (StepError, OSError, WorkFailed) as err:  # WorkFailed: the cluster could not take the batch
        if isinstance(err, StepError) and err.details:
            raise
        raise StepError(str(err), lab_progress=f"segments: {err}") from None
    if out["failed"]:
        raise StepError(failure_message(out["failed"], set(out["not_retried"])), **out)
    if out["audio_error"]:
        raise StepError(out["audio_error"], **out)
    return out


def segments_step(*, work: str, worker: str, ffmpeg: str, ffprobe: str, owner: Optional[int] = None,
                  hosts: Optional[list] = None, remote_work: str = "", host_worker: str = "",
                  host_ffmpeg: str = "ffmpeg", host_ffprobe: str = "ffprobe",
                  k3s: Optional[Mapping[str, Any]] = None,
                  on_owner_gone: Optional[Callable[[], None]] = None) -> dict[str, Any]:
    """lab_transcode_segments' options → run_segments (with `hosts`, on the ssh backend;
    with `k3s`, on the cluster)."""
    on_hosts = None
    if hosts:
        if not remote_work or not host_worker:
            raise StepError("the ssh backend needs remote_work and host_worker")
        on_hosts = Hosts(tuple(hosts), remote_work, host_worker, host_ffmpeg, host_ffprobe)
    cluster = Cluster(dict(k3s)) if k3s else None
    return run_segments(work, worker, ffmpeg, ffprobe, owner, on_owner_gone, on_hosts, cluster)


def _resume(plan: TranscodePlan, recorder: manifest.Recorder) -> tuple[set[str], list[Segment]]:
    """Segments an earlier run verified (intact on disk), and the rest, longest first."""
    done = manifest.verified(plan, recorder.data)
    pending = planner.longest_first([s for s in plan.segments if s.name not in done])
    for seg in pending:  # a stale entry (damaged file) is no longer done
        recorder.forget(seg.name)
    for name in done:  # verified by an earlier run: say so in this run's records
        entry = dict(recorder.data["segments"][name])
        if entry.get("result", {}).get("run_id") != plan.run_id:
            entry["resumed_by"] = plan.run_id
        recorder.segment(name, entry)
    return done, pending


def _run(plan: TranscodePlan, worker: str, ffmpeg: str, ffprobe: str, children: Children,
         hosts: Optional[Hosts] = None, cluster: Optional[Cluster] = None) -> dict[str, Any]:
    recorder = manifest.Recorder(manifest.path_of(plan), manifest.load_for(plan))
    done, pending = _resume(plan, recorder)

    t_split = time.monotonic()
    unsplit = [seg for seg in pending if not os.path.exists(os.path.join(plan.work, "chunks", seg.chunk))]
    split(plan, unsplit, ffmpeg, children)  # normally done by the split step already
    split_s = planfile.load_phases(plan.work).get("split_s", 0.0) + time.monotonic() - t_split

    audio = AudioEncode(plan, ffmpeg, children, recorder)
    audio.start()
    frames = plan.frames_by_segment
    progress = ProgressFile(os.path.join(plan.work, PROGRESS_FILE), len(plan.segments), float(plan.video.frames),
                            "frames", resumed=len(done), resumed_work=float(sum(frames[name] for name in done)))

    def record(_done: int, _total: int, item: ItemOutcome) -> None:
        # Recorded as soon as it is verified: a run killed later still keeps it.
        if item.ok and item.result is not None:
            path = os.path.join(plan.work, "segments", item.name)
            recorder.segment(item.name, manifest.file_entry(path, frames=frames[item.name],
                                                            result=dict(item.result, slot=item.slot, host=item.host)))
            progress.item_done(item.host or str(item.result.get("node", "local")), frames[item.name])
        else:
            progress.item_failed()

    if cluster is not None:  # the pods run the worker from the ConfigMap, the image's ffmpeg
        from ..k8s_items import PROGRAM_DIR
        backend: Backend = cluster.backend(plan.work, worker, plan.run_id, children)
        items = [segment_item(plan, seg, worker=f"{PROGRAM_DIR}/{Cluster.WORKER}", ffmpeg="ffmpeg",
                              ffprobe="ffprobe") for seg in pending]
    elif hosts is None:
        backend = LocalBackend(children)
        items = [segment_item(plan, seg, worker=worker, ffmpeg=ffmpeg, ffprobe=ffprobe) for seg in pending]
    else:  # the items name the controller's files; the backend maps them into hosts.remote_work
        backend = hosts.backend(plan.work, children)
        items = [segment_item(plan, seg, worker=hosts.worker, ffmpeg=hosts.ffmpeg, ffprobe=hosts.ffprobe)
                 for seg in pending]
    t_seg = time.monotonic()
    try:
        outcome = backend.run(items, plan.workers, retries=plan.retries, accept=frames_check(plan),
                              on_progress=record)
    finally:
        getattr(backend, "close", lambda: None)()
    segments_s = time.monotonic() - t_seg
    for host in outcome.hosts_lost:
        progress.host_lost(host)
    audio.finish()
    progress.finish()
    phases = {"split_s": split_s, "audio_s": audio.seconds, "segments_s": segments_s}
    planfile.save_phases(plan.work, phases)  # for the report's phase split (finish)

    finished = [item for item in outcome.items if item.ok]
    failed = {item.name: item.error or "" for item in outcome.failed}
    not_retried = sorted(item.name for item in outcome.failed if item.final)
    fps = sum(frames[item.name] for item in finished) / segments_s if segments_s > 0 else 0.0
    entries = recorder.data["segments"]
    results = [dict(entries[seg.name]["result"], resumed=seg.name in done)
               for seg in plan.segments if seg.name in entries and "result" in entries[seg.name]]
    verified = len(done) + len(finished)
    count = len(plan.segments)
    progress = f"segments: {verified}/{count} verified ({len(done)} resumed), {fps:.1f} fps on {plural(plan.workers, 'worker')}"
    if outcome.hosts_lost:
        progress += "; " + "; ".join(lost_hosts_text(outcome))
    if failed:
        progress += f"; FAILED: {', '.join(sorted(failed))}"
    return {
        "results": results,
        "hosts_lost": lost_hosts_text(outcome),
        "resumed": sorted(done),
        "failed": {name: failed[name] for name in sorted(failed)},
        "not_retried": not_retried,  # failed for a reason another attempt cannot change
        "attempts": [asdict(attempt) for attempt in outcome.attempts],
        "audio_error": audio.error,
        "audio_resumed": audio.resumed,
        "phases": phases,
        "fps": fps,
        "verified": verified,
        "count": count,
        "lab_progress": progress,
    }
