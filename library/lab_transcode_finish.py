#!/usr/bin/python
"""Join the verified segments, mux the audio, verify against the source and move the output into place."""
from __future__ import annotations

from ansible.module_utils.labkit.transcode.finish import finish
from ansible.module_utils.labkit_transcode_module import STEP_OPTIONS, run_module

DOCUMENTATION = r"""
module: lab_transcode_finish
short_description: Join, mux and verify a transcoded video, then place it
description:
  - Joins the verified segments in numeric order (concat demuxer, stream copy),
    muxes the separately encoded audio, and verifies the result against the
    source (same video frame count, duration within one frame, audio within
    50 ms, no audio out when none came in).
  - Only a verified file is moved to the output name, and never over an existing file.
  - Returns the report's blocks ready-made (C(run), C(context), C(extra)).
options:
  work:
    description: The work folder returned by lab_transcode_plan, with the verified segments and audio.
    type: path
    required: true
  ffmpeg:
    description: ffmpeg program that joins the segments and muxes the audio.
    type: str
    required: true
  ffprobe:
    description: ffprobe program that counts the output's frames and measures its durations.
    type: str
    required: true
  seams:
    description: Also compare every output frame with its source frame (PSNR and SSIM) and report
      the quality at the segment seams (C(extra.seams)); a full decode of both, after the timing.
    type: bool
    default: false
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Join, verify and place the output
  lab_transcode_finish:
    work: "{{ transcode_plan.work }}"
    ffmpeg: ffmpeg
    ffprobe: ffprobe
  register: transcode_finish
"""

RETURN = r"""
run:
  description: The strong run record (docs/ARCHITECTURE.md) with every segment's result;
    C(valid) is false when segments were resumed from an earlier run.
  type: dict
  returned: success
context:
  description: The report's transcode context (source with its video and audio, output, work,
    threads_per_worker, resumed_segments).
  type: dict
  returned: success
extra:
  description: The report's C(verification) block (DESIGN §5, plus C(problems)) and C(phases)
    (probe_split_s, audio_s, segments_s, join_mux_s, verify_s; seams_s with I(seams)), and with
    I(seams) the C(seams) block (labkit.transcode.seams).
  type: dict
  returned: success
t_e2e_s:
  description: Seconds from the probe to the verified output (controller monotonic clock).
  type: float
  returned: success
lab_progress:
  description: One line with the verified counts and the output path.
  type: str
  returned: success
"""


if __name__ == "__main__":
    run_module(finish, {**STEP_OPTIONS, "seams": {"type": "bool", "default": False}})
