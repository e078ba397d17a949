#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Ansible module: write or merge a K3s kubeconfig on the controller."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: lab_kubeconfig_merge
short_description: Write a K3s kubeconfig named after the cluster, or merge it into an existing kubeconfig
description:
  - Takes the kubeconfig K3s writes (C(/etc/rancher/k3s/k3s.yaml), one cluster/user/context called C(default),
    server C(https://127.0.0.1:6443)), renames its cluster, user and context to O(name) and points it at O(server).
  - With O(merge=false) the destination becomes exactly that kubeconfig.
    With O(merge=true) its entries are merged into the destination, replacing only same-named entries and
    keeping every other cluster, user and context; C(current-context) changes only with O(set_current_context).
  - The file is written with O(mode) (0600 by default); an existing file is backed up first when O(backup) is true.
  - Idempotent; supports check mode.
options:
  content:
    description: The K3s kubeconfig text (contains credentials; never logged).
    type: str
    required: true
  name:
    description: Name for the cluster, user and context (the cluster name).
    type: str
    required: true
  server:
    description: The API server address (host name, IP address, or full https:// URL) replacing 127.0.0.1.
    type: str
  dest:
    description: The kubeconfig file to write.
    type: path
    required: true
  merge:
    description: Merge into O(dest) instead of replacing it.
    type: bool
    default: false
  set_current_context:
    description: When merging, make O(name) the current context.
    type: bool
    default: false
  backup:
    description: Keep a timestamped copy of an existing O(dest) before changing it.
    type: bool
    default: false
  mode:
    description: File mode of O(dest).
    type: str
    default: "0600"
author:
  - Pi cluster lab
"""

EXAMPLES = r"""
- name: Merge the cluster into ~/.kube/config
  lab_kubeconfig_merge:
    content: "{{ k3s_yaml.content | b64decode }}"
    name: pi-cluster
    server: 192.168.1.50
    dest: ~/.kube/config
    merge: true
    backup: true
  no_log: true
"""

RETURN = r"""
dest:
  description: The file written.
  returned: always
  type: str
changes:
  description: Entries added or changed, as section/name.
  returned: always
  type: list
  elements: str
  sample: [clusters/pi-cluster, users/pi-cluster, contexts/pi-cluster]
server:
  description: The API server URL written.
  returned: always
  type: str
backup_file:
  description: The backup of the previous file.
  returned: when changed, backup is true and dest existed
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.kubeconfig import KubeconfigError, dump, empty, load, merge, rename


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            content=dict(type="str", required=True, no_log=True),
            name=dict(type="str", required=True),
            server=dict(type="str"),
            dest=dict(type="path", required=True),
            merge=dict(type="bool", default=False),
            set_current_context=dict(type="bool", default=False),
            backup=dict(type="bool", default=False),
            mode=dict(type="str", default="0600"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    dest = p["dest"]
    try:
        new = rename(load(p["content"], "the K3s kubeconfig"), p["name"], p["server"])
        if os.path.exists(dest):
            with open(dest, encoding="utf-8") as fh:
                existing = load(fh.read(), dest)
        else:
            existing = empty()
        if p["merge"]:
            result, changes = merge(existing, new, p["set_current_context"])
        else:
            result = new
            changes = [] if existing == new else [f"{s}/{p['name']}" for s in ("clusters", "users", "contexts")]
    except (KubeconfigError, OSError) as exc:
        module.fail_json(msg=str(exc))

    server = new["clusters"][0]["cluster"].get("server", "")
    changed = bool(changes) or not os.path.exists(dest)
    out = dict(changed=changed, dest=dest, changes=changes, server=server)
    if changed and not module.check_mode:
        parent = os.path.dirname(os.path.abspath(dest))
        os.makedirs(parent, mode=0o700, exist_ok=True)
        if p["backup"] and os.path.exists(dest):
            out["backup_file"] = module.backup_local(dest)
        fd, tmp = tempfile.mkstemp(prefix=".kubeconfig-", dir=parent)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(dump(result))
        os.chmod(tmp, int(p["mode"], 8))
        module.atomic_move(tmp, dest)
    if os.path.exists(dest) and not module.check_mode:
        file_args = module.load_file_common_arguments(dict(path=dest, mode=p["mode"]))
        out["changed"] = module.set_fs_attributes_if_different(file_args, out["changed"])
    module.exit_json(**out)


if __name__ == "__main__":
    main()
