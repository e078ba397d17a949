#!/usr/bin/python
"""Check the ssh backend's hosts before any work: reachable, with the tools (and encoder) the workload needs."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_ssh_check
short_description: Name the hosts that cannot run a workload, before any work
description:
  - Connects to every host as the ssh backend will (its inventory connection variables)
    and checks that it answers, has every tool in C(tools) and, with C(encoder), that its
    ffmpeg lists that encoder.
  - Fails naming every unusable host and why, unless C(skip_unusable) is set; then the run
    goes on with the others (and fails when none is left).
options:
  hosts:
    description: The hosts, each its connection variables (see M(lab_run)).
    type: list
    elements: dict
    required: true
  tools:
    description: Programs every host must have.
    type: list
    elements: str
    default: [python3]
  encoder:
    description: An FFmpeg encoder every host's ffmpeg must list.
    type: str
  skip_unusable:
    description: Go on without unusable hosts instead of failing.
    type: bool
    default: false
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Check the hosts
  lab_ssh_check:
    hosts: "{{ groups['workers'] | lab_ssh_connections(hostvars) }}"
    tools: [ffmpeg, ffprobe, rsync]
    encoder: libx264
  register: checked
"""

RETURN = r"""
usable:
  description: The usable hosts' connection variables, in the order given.
  type: list
  elements: dict
  returned: success
unusable:
  description: Each unusable host's name and reasons.
  type: dict
  returned: always
lab_progress:
  description: One line naming the usable and the unusable hosts.
  type: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.backends.ssh import check_hosts
from ansible.module_utils.labkit.hosts import ssh_host
from ansible.module_utils.labkit.text import plural


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "hosts": {"type": "list", "elements": "dict", "required": True},
            "tools": {"type": "list", "elements": "str", "default": ["python3"]},
            "encoder": {"type": "str"},
            "skip_unusable": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    specs = module.params["hosts"]
    if not specs:
        module.fail_json(msg="no hosts to run on: the inventory's workers group is empty (lab_workers_group)")
    checks = check_hosts([ssh_host(spec) for spec in specs], tuple(module.params["tools"]), module.params["encoder"])
    usable = [spec for spec, check in zip(specs, checks) if check.usable]
    unusable = {check.host: check.reasons for check in checks if not check.usable}
    named = "; ".join(f"{host}: {', '.join(reasons)}" for host, reasons in unusable.items())
    progress = (f"hosts: {plural(len(usable), 'usable host')} ({', '.join(s['name'] for s in usable) or 'none'})"
                + (f"; unusable: {named}" if unusable else ""))
    if unusable and not module.params["skip_unusable"]:
        module.fail_json(msg=f"{plural(len(unusable), 'host')} cannot run this workload: {named}. Nothing was run. "
                             "Fix them, remove them from the inventory, or pass -e lab_skip_unusable_hosts=true "
                             "to run without them.", unusable=unusable, lab_progress=progress)
    if not usable:
        module.fail_json(msg=f"no usable host: {named}", unusable=unusable, lab_progress=progress)
    module.exit_json(changed=False, usable=usable, unusable=unusable, lab_progress=progress)


if __name__ == "__main__":
    main()
