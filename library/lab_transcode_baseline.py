#!/usr/bin/python
"""Time one plain ffmpeg encode of the whole source with the same settings (the baseline)."""
from __future__ import annotations

from ansible.module_utils.labkit.transcode.baseline import baseline
from ansible.module_utils.labkit_transcode_module import STEP_OPTIONS, run_module

DOCUMENTATION = r"""
module: lab_transcode_baseline
short_description: Time one plain ffmpeg encode of the whole video
description:
  - Runs a single ffmpeg process over the whole source with the run's encoder
    settings (seed 000's single-machine command), timed on the controller's
    monotonic clock, and returns it as a baseline run with one RESULT-shaped record.
  - The baseline's output is written in the work folder, counted and deleted.
options:
  work:
    description: The work folder returned by lab_transcode_plan (the baseline's file is written and deleted there).
    type: path
    required: true
  ffmpeg:
    description: ffmpeg program of the plain encode.
    type: str
    required: true
  ffprobe:
    description: ffprobe program that counts the baseline's frames.
    type: str
    required: true
  host:
    description:
      - On the ssh backend, the host that runs the baseline (its connection variables, as
        M(lab_ssh_check) returns them): a cluster's one machine is one of its hosts, not the
        controller. Timed by the host's clock around ffmpeg alone.
    type: dict
  remote_source:
    description: With C(host), where the source was shipped on that host.
    type: str
    default: ""
  host_ffmpeg:
    description: With C(host), the host's ffmpeg.
    type: str
    default: ffmpeg
  host_ffprobe:
    description: With C(host), the host's ffprobe.
    type: str
    default: ffprobe
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Time the baseline
  lab_transcode_baseline:
    work: "{{ transcode_plan.work }}"
    ffmpeg: ffmpeg
    ffprobe: ffprobe
  register: transcode_baseline_run
"""

RETURN = r"""
run:
  description: The baseline run record (workers 1, mode baseline).
  type: dict
  returned: success
t_e2e_s:
  description: Seconds the plain ffmpeg took.
  type: float
  returned: success
lab_progress:
  description: One line with the baseline's time.
  type: str
  returned: success
"""


if __name__ == "__main__":
    run_module(baseline, {**STEP_OPTIONS, "host": {"type": "dict"}, "remote_source": {"type": "str", "default": ""},
                          "host_ffmpeg": {"type": "str", "default": "ffmpeg"},
                          "host_ffprobe": {"type": "str", "default": "ffprobe"}})
