#!/usr/bin/python
"""Execute one planned run on the local or the ssh backend (thin wrapper over labkit.runs.execute)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_run
short_description: Run one experiment run's workers as local processes or on SSH hosts
description:
  - Starts the run's worker commands, at most C(slots) at a time, never through a shell
    (on SSH hosts every argument is quoted for the remote shell).
  - With C(backend=local) the workers are processes on the controller; with C(backend=ssh)
    they run on the given hosts, a free slot of any host taking the next worker; a host
    lost meanwhile costs time, not results (its work is redone on another host, and named).
  - Reads only the workers' C(RESULT) lines and returns the run record with its
    makespan (submit to last result, the controller's monotonic clock).
  - Fails, naming the worker and what it said, when a worker fails or a result is missing.
options:
  run:
    description: One planned run from M(lab_pi_plan), with its work C(items).
    type: dict
    required: true
  backend:
    description: Where the workers run.
    type: str
    choices: [local, ssh]
    default: local
  hosts:
    description:
      - For C(backend=ssh), the hosts in order, each its connection variables (C(name),
        C(ansible_host), C(ansible_user), C(ansible_port), C(ansible_ssh_private_key_file),
        C(ansible_ssh_common_args)) and C(slots), its usable cores.
    type: list
    elements: dict
    default: []
  slots:
    description: Worker slots; defaults to the run's number of work items.
    type: int
  timeout:
    description: Seconds a worker may take before it is killed.
    type: float
    default: 3600
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Run each planned point on the hosts
  lab_run:
    run: "{{ item }}"
    backend: ssh
    hosts: "{{ usable_hosts }}"
  loop: "{{ plan.runs }}"
"""

RETURN = r"""
run:
  description: The run record (docs/ARCHITECTURE.md), with C(t_e2e_s) and C(results).
  type: dict
  returned: always
lab_progress:
  description: One line saying which run, how many results came in, and on which hosts.
  type: str
  returned: always
"""


from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.backends.local import LocalBackend
from ansible.module_utils.labkit.runs import PlannedRun, execute
from ansible.module_utils.labkit.text import plural


def backend_of(params: dict):
    if params["backend"] == "local":
        return LocalBackend()
    from ansible.module_utils.labkit.backends.ssh import SshBackend
    from ansible.module_utils.labkit.hosts import ssh_host

    if not params["hosts"]:
        raise ValueError("backend=ssh needs hosts")
    return SshBackend([ssh_host(spec, int(spec.get("slots") or 1)) for spec in params["hosts"]])


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "run": {"type": "dict", "required": True},
            "backend": {"type": "str", "choices": ["local", "ssh"], "default": "local"},
            "hosts": {"type": "list", "elements": "dict", "default": []},
            "slots": {"type": "int"},
            "timeout": {"type": "float", "default": 3600.0},
        },
        supports_check_mode=False,
    )
    planned = PlannedRun.from_dict(module.params["run"])
    label = planned.label or planned.run_id
    try:
        backend = backend_of(module.params)
        try:
            record = execute(backend, planned, slots=module.params["slots"], timeout_s=module.params["timeout"])
        finally:
            getattr(backend, "close", lambda: None)()
    except ValueError as err:
        module.fail_json(msg=str(err))
    hosts = sorted({str(r.get("host") or r.get("node")) for r in record.results})
    # "1/2 results": results of the planned ones, worded as every backend words it.
    progress = (f"{label}: {len(record.results)}/{len(planned.items)} results in {record.t_e2e_s:.3f} s"
                + (f" on {plural(len(hosts), 'host')} ({', '.join(hosts)})" if module.params["backend"] == "ssh" else "")
                + (" (oversubscribed)" if record.oversubscribed else "")
                + (" — THROTTLED: this run is flagged invalid" if record.throttled else "")
                + "".join(f" — {line}" for line in record.extra.get("hosts_lost", [])))
    run = record.to_dict()
    if record.problems:
        module.fail_json(msg=f"{label} failed: " + "; ".join(record.problems), run=run, lab_progress=progress)
    module.exit_json(changed=False, run=run, lab_progress=progress)


if __name__ == "__main__":
    main()
