#!/usr/bin/python
"""Encode the audio once and transcode the segments on N worker slots: local processes, or SSH hosts."""
from __future__ import annotations

import functools
import os

from ansible.module_utils.labkit_transcode_module import STEP_OPTIONS, run_module
from ansible.module_utils.labkit.transcode.segments import segments_step

DOCUMENTATION = r"""
module: lab_transcode_segments
short_description: Transcode a planned video's segments in parallel (local, ssh or k3s backend)
description:
  - Hands each pending segment (its chunk made by lab_transcode_split) to the
    segment worker (plugins/workers/transcode_segment.sh), longest first, on the
    planned number of slots; meanwhile encodes the audio once, on its own.
  - Writes its progress to the work folder's C(progress.json) as segments finish
    (lab_job_progress reads it while the step runs as an async job).
  - Segments already verified in the work folder's manifest (and intact on disk)
    are skipped; a failed segment is retried the planned number of times, then
    the task fails naming it.
options:
  work:
    description: The work folder returned by lab_transcode_plan (chunks, segments, manifest, audio).
    type: path
    required: true
  worker:
    description: Path of the segment worker script.
    type: path
    required: true
  ffmpeg:
    description: ffmpeg program for the split, the audio and the workers.
    type: str
    required: true
  ffprobe:
    description: ffprobe program the workers count their frames with.
    type: str
    required: true
  hosts:
    description:
      - The ssh backend's hosts (connection variables and C(slots), as M(lab_ssh_check) returns
        them); empty runs the segments as local processes. Each pending segment's chunk must
        already be in C(remote_work)/chunks on every host (ansible.posix.synchronize).
    type: list
    elements: dict
    default: []
  remote_work:
    description: With C(hosts), the work folder's place on every host.
    type: str
    default: ""
  host_worker:
    description: With C(hosts), the segment worker's path on the hosts.
    type: str
    default: ""
  host_ffmpeg:
    description: With C(hosts), the hosts' ffmpeg.
    type: str
    default: ffmpeg
  host_ffprobe:
    description: With C(hosts), the hosts' ffprobe.
    type: str
    default: ffprobe
  k3s:
    description:
      - The k3s backend's settings; when given, the segments run as the pods of one Indexed Job
        (labkit.backends.k3s) and each segment is fetched from the node that made it. Keys
        C(kubeconfig), C(context), C(namespace), C(image), C(pull_policy), C(claim) (the node
        storage's PersistentVolumeClaim), C(node_storage) (its folder on the nodes),
        C(storage_mount) (in the pods), C(run_as_user), C(cpu_request), C(cpu_limit),
        C(memory_request), C(memory_limit), C(node_selector), C(lost_node_s), C(start_timeout),
        C(poll_interval), C(keep), and C(nodes) (each node's C(name) in Kubernetes, C(local) for
        this machine, else its connection variables).
      - Each pending segment's chunk must already be in
        C(node_storage)/transcode/<work folder name>/chunks on every node (ansible.posix.synchronize).
    type: dict
  owner:
    description:
      - PID of the ansible-playbook process the run belongs to (the C(lab_owner_pid) filter); when
        it is gone, the workers are stopped. Needed when the step runs as an async job, which is
        detached from ansible-playbook's process tree.
    type: int
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Transcode the segments
  lab_transcode_segments:
    work: "{{ transcode_plan.work }}"
    worker: "{{ playbook_dir }}/plugins/workers/transcode_segment.sh"
    ffmpeg: ffmpeg
    ffprobe: ffprobe
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
  description: Every failed attempt (item, attempt, slot, host, error), retried or not.
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


if __name__ == "__main__":
    # If ansible-playbook goes away (killed), stop the encoders and exit:
    # Ansible runs modules in their own session, so nothing else would.
    run_module(functools.partial(segments_step, on_owner_gone=lambda: os._exit(1)),
               {**STEP_OPTIONS, "worker": {"type": "path", "required": True}, "owner": {"type": "int"},
                "hosts": {"type": "list", "elements": "dict", "default": []},
                "remote_work": {"type": "str", "default": ""}, "host_worker": {"type": "str", "default": ""},
                "host_ffmpeg": {"type": "str", "default": "ffmpeg"},
                "host_ffprobe": {"type": "str", "default": "ffprobe"},
                "k3s": {"type": "dict", "no_log": False}})
