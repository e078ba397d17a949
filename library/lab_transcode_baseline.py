#!/usr/bin/python
"""Time one plain ffmpeg encode of the whole source with the same settings (the baseline)."""
from __future__ import annotations

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
- name: Time the baseline
  lab_transcode_baseline:
    work: "{{ transcode_plan.work }}"
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

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.transcode.pipeline import PipelineError, baseline
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
        out = baseline(p["work"], p["ffmpeg"], p["ffprobe"])
    except (PipelineError, ProbeError, OSError) as err:
        module.fail_json(msg=str(err))
    module.exit_json(changed=True, **out)


if __name__ == "__main__":
    main()
