#!/usr/bin/python
"""Validate the transcode parameters and the source video, probe it and plan the segments."""
from __future__ import annotations

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
  output:
    description: Output file; empty for a new file in the run's own work folder.
      Must not exist and must not be the source.
    type: str
    default: ""
  segment_seconds:
    description: Target segment length in seconds (segments are cut at the next keyframe).
    type: raw
    default: 10
  workers:
    description: Parallel worker slots; empty or 0 for the controller's cores.
    type: raw
    default: ""
  retries:
    description: Extra attempts for a failed segment before the run fails.
    type: raw
    default: 2
  video_codec:
    description: FFmpeg video encoder.
    type: str
    default: libx264
  preset:
    description: Encoder preset.
    type: str
    default: veryfast
  crf:
    description: Constant rate factor.
    type: raw
    default: 28
  audio_codec:
    description: FFmpeg audio encoder.
    type: str
    default: aac
  audio_bitrate:
    description: Audio bitrate, e.g. 128k.
    type: str
    default: 128k
  baseline:
    description: Also time one plain ffmpeg encode of the whole file.
    type: raw
    default: false
  work_dir:
    description: Folder holding the per-source work folders.
    type: path
    required: true
  ffprobe:
    description: ffprobe program.
    type: str
    default: ffprobe
  cwd:
    description: Directory that relative I(video) and I(output) names are relative to
      (the directory ansible-playbook was started in).
    type: path
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Check the request and plan the segments
  lab_transcode_plan:
    video: "{{ video }}"
    work_dir: "{{ playbook_dir }}/work/transcode"
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
  description: index, codec, width, height, time_base, frame_rate, frames, duration_s, keyframes.
  type: dict
  returned: success
audio:
  description: index, codec, duration_s of the first audio stream, or null when there is none.
  type: dict
  returned: success
parameters:
  description: The validated parameters.
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

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.transcode.params import ParamError
from ansible.module_utils.labkit.transcode.pipeline import prepare


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "video": {"type": "raw"},
            "output": {"type": "str", "default": ""},
            "segment_seconds": {"type": "raw", "default": 10},
            "workers": {"type": "raw", "default": ""},
            "retries": {"type": "raw", "default": 2},
            "video_codec": {"type": "str", "default": "libx264"},
            "preset": {"type": "str", "default": "veryfast"},
            "crf": {"type": "raw", "default": 28},
            "audio_codec": {"type": "str", "default": "aac"},
            "audio_bitrate": {"type": "str", "default": "128k"},
            "baseline": {"type": "raw", "default": False},
            "work_dir": {"type": "path", "required": True},
            "ffprobe": {"type": "str", "default": "ffprobe"},
            "cwd": {"type": "path"},
        },
        supports_check_mode=True,
    )
    p = module.params
    if module.get_bin_path(p["ffprobe"]) is None:
        module.fail_json(msg=f"ffprobe not found ({p['ffprobe']!r}): install FFmpeg (apt-get install ffmpeg)")
    raw = {k: p[k] for k in ("video", "segment_seconds", "workers", "retries", "video_codec", "preset",
                             "crf", "audio_codec", "audio_bitrate", "baseline")}
    output = p["output"] or None
    if p["cwd"]:
        if p["video"] not in (None, "") and not os.path.isabs(str(p["video"])):
            raw["video"] = os.path.join(p["cwd"], str(p["video"]))
        if output and not os.path.isabs(output):
            output = os.path.join(p["cwd"], output)
    try:
        data = prepare(raw, p["work_dir"], output, len(os.sched_getaffinity(0)) or 1,
                       ffprobe=p["ffprobe"], write=not module.check_mode)
    except ParamError as err:
        module.fail_json(msg=str(err))
    except OSError as err:
        module.fail_json(msg=f"cannot prepare the work folder under {p['work_dir']!r}: {err}")
    v = data["video"]
    segs = data["segments"]
    progress = (
        f"plan: {len(segs)} segments of ~{data['params']['segment_seconds']:g} s "
        f"({v['frames']} frames, {v['duration_s']:.2f} s, {v['codec']} {v['width']}x{v['height']}), "
        f"{data['workers']} workers x {data['threads_per_worker']} threads, "
        f"audio: {'yes' if data['audio'] else 'none'}"
    )
    module.exit_json(
        changed=not module.check_mode,
        work=data["work"],
        run_id=data["run_id"],
        output=data["output"],
        workers=data["workers"],
        threads_per_worker=data["threads_per_worker"],
        cores=data["cores"],
        segments=len(segs),
        video=v,
        audio=data["audio"],
        parameters=dict(data["params"], output=data["output"], workers=data["workers"]),
        probe_s=data["probe_s"],
        lab_progress=progress,
    )


if __name__ == "__main__":
    main()
