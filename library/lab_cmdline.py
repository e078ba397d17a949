#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: keep kernel parameters on the single line of cmdline.txt."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: lab_cmdline
short_description: Keep kernel parameters on the single line of a Raspberry Pi cmdline.txt
description:
  - Adds kernel parameters that are missing and drops unwanted ones from a C(cmdline.txt),
    preserving every other parameter and its order, and keeping the file on one line
    (the firmware reads only the first line).
  - Idempotent; supports check mode and diff mode.
options:
  path:
    description: The cmdline.txt to edit (C(/boot/firmware/cmdline.txt) on bookworm, C(/boot/cmdline.txt) before).
    type: path
    required: true
  add:
    description: Parameters that must appear exactly once.
    type: list
    elements: str
    default: []
  remove:
    description: Parameters to drop wherever they appear (such as C(cgroup_disable=memory)).
    type: list
    elements: str
    default: []
  backup:
    description:
      - Keep a timestamped copy C(<path>.<YYYYmmdd-HHMMSS>.bak) of the file before changing it.
      - The name avoids characters the FAT boot partition rejects (Ansible's usual backup names contain colons).
    type: bool
    default: false
author:
  - Pi cluster lab
"""

EXAMPLES = r"""
- name: Enable the memory and cpuset cgroup controllers for K3s
  lab_cmdline:
    path: /boot/firmware/cmdline.txt
    add: [cgroup_memory=1, cgroup_enable=memory, cgroup_enable=cpuset]
    remove: [cgroup_disable=memory]
    backup: true
"""

RETURN = r"""
cmdline:
  description: The kernel command line after the edit (without the newline).
  returned: success
  type: str
  sample: console=serial0,115200 root=PARTUUID=abcd-02 rootwait cgroup_memory=1 cgroup_enable=memory
added:
  description: Parameters that were appended.
  returned: success
  type: list
  elements: str
removed:
  description: Parameters that were dropped (unwanted ones and duplicates).
  returned: success
  type: list
  elements: str
backup_file:
  description: The backup copy, when one was made.
  returned: changed and backup is true
  type: str
"""

import os
import shutil
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.cmdline import edit_cmdline


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            add=dict(type="list", elements="str", default=[]),
            remove=dict(type="list", elements="str", default=[]),
            backup=dict(type="bool", default=False),
        ),
        supports_check_mode=True,
    )
    path = module.params["path"]
    if not os.path.isfile(path):
        module.fail_json(msg=f"kernel command line file {path!r} does not exist or is not a regular file")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        module.fail_json(msg=f"cannot read kernel command line file {path!r}: {exc}")
    try:
        edit = edit_cmdline(text, module.params["add"], module.params["remove"])
    except ValueError as exc:
        module.fail_json(msg=f"{path}: {exc}")

    result = dict(
        changed=edit.changed,
        cmdline=edit.after.rstrip("\n"),
        added=edit.added,
        removed=edit.removed,
        diff=dict(before=edit.before, after=edit.after, before_header=path, after_header=path),
    )
    if edit.changed and not module.check_mode:
        if module.params["backup"]:
            backup = f"{path}.{time.strftime('%Y%m%d-%H%M%S')}.bak"
            try:
                shutil.copy2(path, backup)
            except OSError as exc:
                module.fail_json(msg=f"cannot back up {path!r} to {backup!r}: {exc}")
            result["backup_file"] = backup
        tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.lab-tmp")
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                fh.write(edit.after)
        except OSError as exc:
            module.fail_json(msg=f"cannot write {tmp!r}: {exc}")
        module.atomic_move(tmp, path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
