"""The typed plan of one transcode (`TranscodePlan`) and its file, <work>/plan.json.

`prepare` writes it once everything is checked; every later step (split,
segments, finish, baseline) reads it back, so the Ansible modules pass only
the work folder between them.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Mapping, Optional

from ..runs import PlannedRun
from ..supervise import WorkLock
from .plan import Segment
from .streams import StreamFacts

SCHEMA = 3  # 1: the untyped dict of earlier versions; 2: one audio track, no stream facts


class StepError(RuntimeError):
    """A step failed; the message names what and why (no traceback needed).

    `details` are extra return values for the task that failed (e.g. the
    segments that did succeed), so the play's output still shows them."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.details = details


@dataclass(frozen=True)
class VideoInfo:
    """The source's video stream, as probed."""

    index: int
    codec: str
    width: Optional[int]
    height: Optional[int]
    time_base: str              # a fraction, e.g. "1/15360"
    frame_rate: Optional[str]   # a fraction, e.g. "30/1"; None when ffprobe gave none
    frames: int                 # frames a player shows (edit lists honoured)
    duration_s: float           # from the shown frames' timestamps
    start_s: float              # the first shown frame's time: the origin of every stream's offset
    frame_s: float              # one frame's duration: the verification's tolerance
    keyframes: int
    tolerance_s: float          # half the smallest frame gap: the slack when comparing times


@dataclass(frozen=True)
class AudioTrack:
    """One kept audio stream: encoded once, on its own, into `file` (in the work folder)."""

    index: int                  # the source's stream index
    codec: Optional[str]        # the source's codec
    duration_s: Optional[float]
    offset_s: float             # its start minus the video's start, in the source: kept in the output
    file: str                   # e.g. audio_0.mka


@dataclass(frozen=True)
class SubtitleTrack:
    """One kept subtitle stream: taken from the source at the mux."""

    index: int
    codec: Optional[str]
    output_codec: str           # "copy" or the encoder that converts it for the output container


@dataclass(frozen=True)
class Encoding:
    """The settings that decide the output: the work folder's key and the manifest's."""

    segment_seconds: float
    video_codec: str
    preset: str
    crf: str
    audio_codec: str
    audio_bitrate: str
    streams: str                # transcode_streams: which audio/subtitle streams are kept

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TranscodePlan:
    run_stamp: str                   # YYYYmmdd-HHMMSS of the run, in its run ids
    run_id: str                      # the strong run's id, carried by every segment's result
    t0_monotonic: float              # the start of t_e2e_s (controller monotonic clock)
    probe_s: float                   # seconds spent validating, probing and planning
    source: str
    work: str
    output: str
    output_format: str               # ffmpeg muxer name of the output's extension
    encoding: Encoding
    retries: int
    baseline: bool
    requested_workers: int
    workers: int                     # slots used: no more than segments
    cores: int
    threads_per_worker: int
    video: VideoInfo
    audio: list[AudioTrack]
    subtitles: list[SubtitleTrack]
    source_start_s: float            # the source's start time as ffmpeg reads it (its timestamps' origin)
    source_streams: list[StreamFacts]  # the kept streams as measured in the source, in output order
    cuts: list[int]                  # where the copy-split cuts (stream timestamps)
    cut_times: list[float]
    chunks: dict[int, list[int]]     # segment index -> the pieces its chunk is made of
    segments: list[Segment] = field(default_factory=list)

    @property
    def frames_by_segment(self) -> dict[str, int]:
        """Each segment's planned frame count, by name: what the worker must produce."""
        return {seg.name: seg.frames for seg in self.segments}

    @property
    def parameters(self) -> dict[str, Any]:
        """The validated parameters as the report shows them (workers: the slots used)."""
        enc = self.encoding
        return {"video": self.source, "segment_seconds": enc.segment_seconds, "workers": self.workers,
                "retries": self.retries, "video_codec": enc.video_codec, "preset": enc.preset, "crf": enc.crf,
                "audio_codec": enc.audio_codec, "audio_bitrate": enc.audio_bitrate, "streams": enc.streams,
                "baseline": self.baseline, "output": self.output}

    def planned_run(self, mode: str) -> PlannedRun:
        """The strong run (N workers) or the baseline (one plain ffmpeg) of this transcode."""
        strong = mode == "strong"
        return PlannedRun(
            run_id=self.run_id if strong else f"transcode-{self.run_stamp}-baseline-n1-r1",
            workload="transcode", mode=mode, workers=self.workers if strong else 1, repetition=1,
            warmup=False, order=1 if strong else 2, work=self.video.duration_s,
            oversubscribed=strong and self.workers > self.cores,
        )

    def source_block(self) -> dict[str, Any]:
        """The source as the report's context shows it."""
        return {"path": self.source, "video": asdict(self.video), "audio": [asdict(a) for a in self.audio],
                "subtitles": [asdict(s) for s in self.subtitles],
                "streams": [s.to_dict() for s in self.source_streams]}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["chunks"] = {str(k): v for k, v in self.chunks.items()}  # JSON keys are strings
        data["source_streams"] = [s.to_dict() for s in self.source_streams]
        return {"schema": SCHEMA, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TranscodePlan":
        if data.get("schema") != SCHEMA:
            raise ValueError(f"plan schema {data.get('schema')!r}, expected {SCHEMA}")
        values = {k: v for k, v in data.items() if k != "schema"}
        values.update(
            encoding=Encoding(**data["encoding"]),
            video=VideoInfo(**data["video"]),
            audio=[AudioTrack(**a) for a in data["audio"]],
            subtitles=[SubtitleTrack(**t) for t in data["subtitles"]],
            source_streams=[StreamFacts.from_dict(s) for s in data["source_streams"]],
            chunks={int(k): list(v) for k, v in data["chunks"].items()},
            segments=[Segment(**s) for s in data["segments"]],
        )
        return cls(**values)


@contextmanager
def locked(work: str) -> Iterator[None]:
    """Hold the work folder's lock for one step; StepError naming the folder when another run has it."""
    try:
        with WorkLock(work):
            yield
    except BlockingIOError as exc:
        raise StepError(str(exc)) from None


def plan_path(work: str) -> str:
    return os.path.join(work, "plan.json")


def write_json(path: str, data: Any) -> None:
    """Temporary file + rename: a crash leaves the old file or the new one, never half of one."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


def save(plan: TranscodePlan) -> None:
    write_json(plan_path(plan.work), plan.to_dict())


def load(work: str) -> TranscodePlan:
    try:
        with open(plan_path(work), encoding="utf-8") as fh:
            return TranscodePlan.from_dict(json.load(fh))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StepError(f"no usable plan in {work!r}: {exc}") from None


# The step timings the report's phase split needs, kept beside the plan.
PHASES_FILE = "phases.json"


def save_phases(work: str, phases: Mapping[str, float]) -> None:
    write_json(os.path.join(work, PHASES_FILE), dict(phases))


def load_phases(work: str) -> dict[str, float]:
    try:
        with open(os.path.join(work, PHASES_FILE), encoding="utf-8") as fh:
            return {str(k): float(v) for k, v in json.load(fh).items()}
    except (OSError, ValueError, AttributeError):
        return {}
