#!/usr/bin/python
"""Validate the transcode parameters and the source video, probe it and plan the segments."""
from __future__ import annotations

from ansible.module_utils.labkit_transcode_module import run_module
from ansible.module_utils.labkit.transcode.prepare import plan_step

DOCUMENTATION = r"""
module: lab_transcode_plan
short_description: Check a transcode request, probe the video and plan its segments
description:
  - Validates every parameter and the source file (exists, is a regular non-empty
    file, FFmpeg can read it, has a video stream in a codec that can be split)
    before anything is written; each failure names the value.
  - Probes the video with ffprobe (streams, every video packet's timestamp and
    keyframe flag) and plans segments of about I(segment_seconds) cut at
    keyframes, with the exact frame count of each (open GOPs and B-frames
    included), in a work folder keyed by the source and the settings so that a
    rerun resumes.
  - Writes only C(<work_dir>/<key>/plan.json) (and creates the folders); check mode
    validates and plans without writing.
options:
  video:
    description: The source video; only ever read.
    type: raw
    required: true
  output:
    description: Output file; empty for a new file in the run's own work folder.
      Must not exist and must not be the source.
    type: str
    required: true
  segment_seconds:
    description: Target segment length in seconds (segments are cut at the next keyframe).
    type: raw
    required: true
  workers:
    description: Parallel worker slots; empty or 0 for the controller's cores.
    type: raw
    required: true
  retries:
    description: Extra attempts for a failed segment before the run fails.
    type: raw
    required: true
  video_codec:
    description: FFmpeg video encoder.
    type: str
    required: true
  preset:
    description: Encoder preset.
    type: str
    required: true
  crf:
    description: Constant rate factor.
    type: raw
    required: true
  audio_codec:
    description: FFmpeg audio encoder.
    type: str
    required: true
  audio_bitrate:
    description: Audio bitrate, e.g. 128k.
    type: str
    required: true
  streams:
    description: Which audio and subtitle streams to keep (C(all), or e.g. C(video,audio:0,subtitle)).
    type: str
    required: true
  baseline:
    description: Also time one plain ffmpeg encode of the whole file.
    type: raw
    required: true
  work_dir:
    description: Folder holding the per-source work folders.
    type: path
    required: true
  cores:
    description: The worker slots there are (the hosts' usable cores on the ssh backend); the controller's cores when omitted.
    type: int
  ffmpeg:
    description: ffmpeg program (checked with the encoders before any work).
    type: str
    required: true
  ffprobe:
    description: ffprobe program.
    type: str
    required: true
  cwd:
    description: Directory that relative I(video) and I(output) names are relative to
      (the directory ansible-playbook was started in).
    type: path
notes:
  - Every value comes from the transcode role (its defaults/main.yml); this module has no defaults of its own.
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Check the request and plan the segments
  lab_transcode_plan:
    video: "{{ video }}"
    output: ""
    segment_seconds: 10
    workers: ""
    retries: 2
    video_codec: libx264
    preset: veryfast
    crf: 28
    audio_codec: aac
    audio_bitrate: 128k
    baseline: false
    work_dir: "{{ playbook_dir }}/work/transcode"
    ffprobe: ffprobe
  register: transcode_plan
"""

RETURN = r"""
work:
  description: The run's work folder (segments, manifest, plan.json).
  type: str
  returned: success
run_id:
  description: Run id of the strong run, also carried by every worker result.
  type: str
  returned: success
output:
  description: Where the verified output will be placed.
  type: str
  returned: success
workers:
  description: Worker slots used (no more than segments).
  type: int
  returned: success
threads_per_worker:
  description: Encoder threads given to each worker (cores / workers).
  type: int
  returned: success
segments:
  description: Number of planned segments.
  type: int
  returned: success
video:
  description: index, codec, width, height, time_base, frame_rate, frames, duration_s, frame_s,
    keyframes, tolerance_s.
  type: dict
  returned: success
audio:
  description: index, codec, duration_s, streams of the first audio stream, or null when there is none.
  type: dict
  returned: success
parameters:
  description: The validated parameters (workers = the slots used, output = where it goes).
  type: dict
  returned: success
probe_s:
  description: Seconds spent validating, probing and planning.
  type: float
  returned: success
lab_progress:
  description: One line describing the plan.
  type: str
  returned: success
"""

# Every value comes from the role (defaults/main.yml): no defaults here.
OPTIONS = {
    **{name: {"type": "raw", "required": True}
       for name in ("video", "segment_seconds", "workers", "retries", "crf", "baseline")},
    **{name: {"type": "str", "required": True}
       for name in ("output", "video_codec", "preset", "audio_codec", "audio_bitrate", "streams", "ffmpeg", "ffprobe")},
    "work_dir": {"type": "path", "required": True},
    "cwd": {"type": "path"},
    "cores": {"type": "int"},
}


if __name__ == "__main__":
    run_module(plan_step, OPTIONS, check_mode=True)
