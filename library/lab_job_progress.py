#!/usr/bin/python
"""Follow an async step: its progress line while it runs, its result when it ends."""
from __future__ import annotations

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit import progress

DOCUMENTATION = r"""
module: lab_job_progress
short_description: Report an async step's progress every few seconds, then its result
description:
  - Reads the progress file a long step writes as its items finish and returns one
    C(lab_progress) line (done of total, per host, the rate, the time left); meant to be
    retried with C(until) while the step runs as an async job (C(poll: 0)).
  - When the job has ended, returns its result as C(job) (and the job file is removed),
    or fails with the job's own message and its details.
options:
  jid:
    description: The async job's id (C(ansible_job_id) of the task started with C(poll: 0)).
    type: str
    required: true
  progress:
    description: The progress file the step writes.
    type: path
    required: true
  label:
    description: What the items are, at the start of the line.
    type: str
    default: items
  wait:
    description:
      - Seconds to wait for the job to end before returning its progress (checked ten times a
        second). With C(delay: 0) on the C(until) loop, this paces the lines and the task
        returns as soon as the job ends, not up to a whole interval later.
    type: float
    default: 0
  async_dir:
    description: Where Ansible keeps async job results on this host.
    type: path
    default: ~/.ansible_async
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Follow the segments until they are done
  lab_job_progress:
    jid: "{{ job.ansible_job_id }}"
    progress: "{{ work }}/progress.json"
    label: segments
    wait: 2
  register: followed
  until: followed.finished
  retries: 1800
  delay: 0
"""

RETURN = r"""
finished:
  description: Whether the job has ended.
  type: bool
  returned: always
job:
  description: The job's own result (the step module's return values) once it has ended, also when it failed.
  type: dict
  returned: when finished
lab_progress:
  description: One line of progress.
  type: str
  returned: always
"""


def job_state(path: str) -> dict | None:
    """The async job's file: None while it is being written, {"started": 1, "finished": 0} while the
    job runs, the module's result when it has ended."""
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return {"failed": True, "finished": 1, "msg": f"no async job result at {path}"}
    except (OSError, ValueError):
        return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "jid": {"type": "str", "required": True},
            "progress": {"type": "path", "required": True},
            "label": {"type": "str", "default": "items"},
            "wait": {"type": "float", "default": 0.0},
            "async_dir": {"type": "path", "default": "~/.ansible_async"},
        },
        supports_check_mode=True,
    )
    p = module.params
    job_file = os.path.join(os.path.expanduser(p["async_dir"]), p["jid"])
    deadline = time.monotonic() + max(0.0, p["wait"])
    while True:
        job = job_state(job_file)
        running = job is None or bool(job.get("started") and not job.get("finished"))
        if not running or time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    state = progress.read(p["progress"])
    line = progress.describe(state, p["label"]) if state else f"{p['label']}: starting"
    if running:
        module.exit_json(changed=False, finished=False, lab_progress=line)
    if os.path.exists(job_file):  # read once: a job's result is not kept around
        os.unlink(job_file)
    for key in ("started", "finished", "ansible_job_id", "results_file", "invocation"):
        job.pop(key, None)
    # The step's own last line (e.g. "segments: 5/6 verified …; FAILED: seg_0002.mp4") beats ours.
    # Its values stay under `job`: an `until` loop writes its own `attempts` into the task result.
    line = job.get("lab_progress") or line
    if job.get("failed"):
        module.fail_json(msg=job.get("msg") or "the async step failed", finished=True, lab_progress=line,
                         job={k: v for k, v in job.items() if k not in ("failed", "msg")})
    module.exit_json(changed=bool(job.get("changed")), finished=True, lab_progress=line, job=job)


if __name__ == "__main__":
    main()
