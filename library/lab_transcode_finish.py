#!/usr/bin/python
"""Join the verified segments, mux the audio, verify against the source and move the output into place."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_transcode_finish
short_description: Join, mux and verify a transcoded video, then place it
description:
  - Joins the verified segments in numeric order (concat demuxer, stream copy),
    muxes the separately encoded audio, and verifies the result against the
    source (same video frame count, duration within one frame, audio within
    50 ms, no audio out when none came in).
  - Only a verified file is moved to the output name, and never over an existing file.
options:
  work:
    description: The work folder returned by lab_transcode_plan.
    type: path
    required: true
  ffmpeg:
    description: ffmpeg program.
    type: str
    default: ffmpeg
  ffprobe:
    description: ffprobe program.
    type: str
    default: ffprobe
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Join, verify and place the output
  lab_transcode_finish:
    work: "{{ transcode_plan.work }}"
  register: transcode_finish
"""

RETURN = r"""
run:
  description: The strong run record (docs/ARCHITECTURE.md) with every segment's result.
  type: dict
  returned: success
verification:
  description: DESIGN §5's verification block (plus C(problems)).
  type: dict
  returned: success
output:
  description: The verified output file.
  type: str
  returned: success
phases:
  description: join_mux_s and verify_s.
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

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.transcode.pipeline import PipelineError, finish
from ansible.module_utils.labkit.transcode.probe import ProbeError


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "work": {"type": "path", "required": True},
            "ffmpeg": {"type": "str", "default": "ffmpeg"},
            "ffprobe": {"type": "str", "default": "ffprobe"},
        },
        supports_check_mode=False,
    )
    p = module.params
    try:
        out = finish(p["work"], p["ffmpeg"], p["ffprobe"])
    except (PipelineError, ProbeError, OSError) as err:
        module.fail_json(msg=str(err))
    module.exit_json(changed=True, **out)


if __name__ == "__main__":
    main()
