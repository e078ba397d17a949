#!/usr/bin/python
"""Copy-split a planned video's stream into the chunks of its pending segments."""
from __future__ import annotations

from ansible.module_utils.labkit.transcode.split import split_step
from ansible.module_utils.labkit_transcode_module import run_module

DOCUMENTATION = r"""
module: lab_transcode_split
short_description: Cut a planned video into the chunks its pending segments need
description:
  - One stream-copy pass over the video stream (no re-encoding) cuts it at the
    planned keyframes; each pending segment's chunk is written to the work
    folder's C(chunks/) (segments an earlier run verified need none).
  - A step of its own so that a multi-host backend can ship the chunks before
    the segments run.
options:
  work:
    description: The work folder returned by lab_transcode_plan.
    type: path
    required: true
  ffmpeg:
    description: ffmpeg program that copy-splits the video.
    type: str
    required: true
  ffprobe:
    description: ffprobe program (unused here; the steps share their options).
    type: str
    required: true
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Cut the video into the chunks of the pending segments
  lab_transcode_split:
    work: "{{ transcode_plan.work }}"
    ffmpeg: ffmpeg
    ffprobe: ffprobe
  register: transcode_split
"""

RETURN = r"""
chunks:
  description: File names (in C(chunks_dir)) of the chunks written, one per pending segment.
  type: list
  elements: str
  returned: success
chunks_dir:
  description: The folder holding them.
  type: str
  returned: success
pending:
  description: How many segments still need encoding.
  type: int
  returned: success
split_s:
  description: Seconds the split took.
  type: float
  returned: success
lab_progress:
  description: One line, e.g. "split: 6 chunks in 0.41 s".
  type: str
  returned: always
"""


if __name__ == "__main__":
    run_module(split_step)
