#!/usr/bin/python
"""Split the video stream, encode the audio once and transcode the segments on N local worker slots."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_transcode_segments
short_description: Transcode a planned video's segments in parallel (local backend)
description:
  - Copy-splits the video stream at the planned keyframes and hands each pending
    segment to the segment worker (plugins/workers/transcode_segment.sh), longest
    first, on I(workers) slots; meanwhile encodes the audio once, on its own.
  - Segments already verified in the work folder's manifest (and intact on disk)
    are skipped; a failed segment is retried the planned number of times, then
    the task fails naming it.
options:
  work:
    description: The work folder returned by lab_transcode_plan.
    type: path
    required: true
  worker:
    description: Path of the segment worker script.
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
- name: Transcode the segments
  lab_transcode_segments:
    work: "{{ transcode_plan.work }}"
    worker: "{{ playbook_dir }}/plugins/workers/transcode_segment.sh"
  register: transcode_segments
"""

RETURN = r"""
results:
  description: Every segment's RESULT record (DESIGN §3), resumed ones flagged C(resumed).
  type: list
  elements: dict
  returned: success
resumed:
  description: Names of the segments a previous run had verified.
  type: list
  elements: str
  returned: success
attempts:
  description: Every failed attempt (item, attempt, slot, error), retried or not.
  type: list
  elements: dict
  returned: always
phases:
  description: split_s, audio_s (overlapping the segments) and segments_s.
  type: dict
  returned: success
lab_progress:
  description: "One line, e.g. segments: 6/6 verified (0 resumed), 41.2 fps on 2 workers."
  type: str
  returned: always
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.transcode.pipeline import PipelineError, run_segments


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "work": {"type": "path", "required": True},
            "worker": {"type": "path", "required": True},
            "ffmpeg": {"type": "str", "default": "ffmpeg"},
            "ffprobe": {"type": "str", "default": "ffprobe"},
        },
        supports_check_mode=False,
    )
    p = module.params
    try:
        # If ansible-playbook goes away (killed), stop the encoders and exit:
        # Ansible runs modules in their own session, so nothing else would.
        out = run_segments(p["work"], p["worker"], p["ffmpeg"], p["ffprobe"], on_owner_gone=lambda: os._exit(1))
    except (PipelineError, OSError) as err:
        module.fail_json(msg=str(err), lab_progress=f"segments: {err}")
    if out["failed"]:
        named = "; ".join(f"{name}: {why}" for name, why in out["failed"].items())
        module.fail_json(
            msg=f"{len(out['failed'])} segment(s) failed after every retry: {named}. "
                "Verified segments are kept; rerun to redo only the rest.",
            **out,
        )
    if out["audio_error"]:
        module.fail_json(msg=out["audio_error"], **out)
    module.exit_json(changed=True, **out)


if __name__ == "__main__":
    main()
