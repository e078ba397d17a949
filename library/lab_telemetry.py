#!/usr/bin/python
"""Start or stop sampling what a node does during an experiment (plugins/workers/node_sampler.py)."""
from __future__ import annotations

DOCUMENTATION = r"""
module: lab_telemetry
short_description: Sample a node's temperature, clock, throttling, load and power during a run
description:
  - C(state=started) starts the node sampler (a standard-library Python program) in its own
    session on the node this task runs on, appending one JSON line per sample to a file in I(dir),
    and waits for its first line. Nothing else on the node changes.
  - C(state=stopped) stops that sampler (SIGTERM), reads its file, removes it and returns the
    timeline as labkit.telemetry parses it. A sampler that is gone returns what it wrote.
  - The sampler stops by itself after I(max_seconds), so that a run stopped with Ctrl-C leaves
    nothing sampling for long.
options:
  state:
    description: Start or stop the sampler.
    type: str
    choices: [started, stopped]
    required: true
  name:
    description: The node's name as the run records give it (the inventory or Kubernetes node name);
      by default its host name, as the local backend names it.
    type: str
  dir:
    description: The folder on the node for the sampler's file (made when missing).
    type: path
    required: true
  tag:
    description: Tells this experiment's sampler file apart from others in I(dir).
    type: str
    required: true
  sampler:
    description: The path of node_sampler.py on the node (state=started).
    type: path
  python:
    description: The Python that runs the sampler (state=started).
    type: str
    default: python3
  interval:
    description: Seconds between samples.
    type: float
    default: 1.0
  max_seconds:
    description: The sampler stops by itself after this many seconds.
    type: float
    default: 7200
  vcgencmd:
    description: The vcgencmd program (a name on PATH or a path).
    type: str
    default: vcgencmd
  owner:
    description: The sampler stops when this process is gone (on the controller, the ansible-playbook that
      started it; lab_owner_pid), as when the run is stopped with Ctrl-C.
    type: int
author: Pi cluster lab
"""

EXAMPLES = r"""
- name: Start sampling the controller
  lab_telemetry:
    state: started
    name: "{{ inventory_hostname }}"
    dir: /var/tmp/pi-cluster-lab
    tag: pi-20261127-101500
    sampler: "{{ lab_root }}/plugins/workers/node_sampler.py"
"""

RETURN = r"""
pid:
  description: The sampler's process id (state=started).
  type: int
  returned: when started
trace:
  description: The node's timeline (state=stopped) - node, interval_s, cores, readings (the values
    this node could give), cpu_s and wall_s (the sampler's own cost), error, and samples (t_ns,
    temp_c, arm_mhz, throttled, load, power_w, cpu_power_w; None where a value cannot be read).
  type: dict
  returned: when stopped
"""

import os
import platform
import signal
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.labkit.telemetry import parse_sampler_output

START_WAIT_S = 5.0
STOP_WAIT_S = 10.0


def paths(dir_: str, tag: str) -> tuple[str, str, str]:
    base = os.path.join(dir_, f"telemetry-{tag}")
    return base + ".jsonl", base + ".pid", base + ".err"


def is_sampler(pid: int) -> bool:
    """The process is there and is a node sampler (a recycled pid is left alone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"node_sampler.py" in handle.read()
    except OSError:
        return False


def read_pid(pid_file: str) -> int | None:
    try:
        with open(pid_file, encoding="ascii") as handle:
            return int(handle.read().strip())
    except (OSError, ValueError):
        return None


def start(module: AnsibleModule, out: str, pid_file: str, err_file: str) -> None:
    p = module.params
    if not p["sampler"]:
        module.fail_json(msg="state=started needs sampler (the path of node_sampler.py on the node)")
    if not p["interval"] > 0 or not p["max_seconds"] > 0:
        module.fail_json(msg=f"interval ({p['interval']}) and max_seconds ({p['max_seconds']}) must be positive")
    os.makedirs(p["dir"], exist_ok=True)
    # A sampler an earlier run left behind (stopped with Ctrl-C on a remote node) stops now.
    stale = 0
    for name in sorted(os.listdir(p["dir"])):
        if name.startswith("telemetry-") and name.endswith(".pid"):
            old = read_pid(os.path.join(p["dir"], name))
            if old is not None and is_sampler(old):
                os.kill(old, signal.SIGTERM)
                stale += 1
            for leftover in paths(p["dir"], name[len("telemetry-"):-len(".pid")]):
                if os.path.exists(leftover):
                    os.unlink(leftover)
    for path in (out, pid_file, err_file):
        if os.path.exists(path):
            os.unlink(path)
    argv = [p["python"], p["sampler"], "--out", out, "--interval", str(p["interval"]),
            "--max-seconds", str(p["max_seconds"]), "--vcgencmd", p["vcgencmd"]]
    if p["owner"]:
        argv += ["--owner", str(p["owner"])]
    try:
        # Its own session and no pipes to us: it outlives this task (and its SSH session).
        with open(err_file, "wb") as errors:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=errors, start_new_session=True, close_fds=True)
    except OSError as err:
        module.fail_json(msg=f"cannot start the node sampler ({argv[0]} {argv[1]}): {err}")
    with open(pid_file, "w", encoding="ascii") as handle:
        handle.write(f"{proc.pid}\n")
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            with open(err_file, encoding="utf-8", errors="replace") as errors:
                error = errors.read().strip()
            # What stop will say for this node: no pid, and why in the error file.
            os.unlink(pid_file)
            with open(err_file, "w", encoding="utf-8") as errors:
                errors.write(f"the sampler stopped at once (exit {proc.returncode}): {error[-300:]}")
            module.fail_json(msg=f"the node sampler stopped at once (exit {proc.returncode}): {error[-500:]}")
        if os.path.exists(out) and os.path.getsize(out) > 0:
            break
        time.sleep(0.05)
    left = f" (stopped {stale} sampler{'s' if stale > 1 else ''} an earlier run left)" if stale else ""
    module.exit_json(changed=False, pid=proc.pid,
                     lab_progress=f"node {p['name']}: sampling every {p['interval']:g} s{left}")


def stop(module: AnsibleModule, out: str, pid_file: str, err_file: str) -> None:
    p = module.params
    pid = read_pid(pid_file)
    error = None
    if pid is not None and is_sampler(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT_S
        while time.monotonic() < deadline and is_sampler(pid):
            time.sleep(0.05)
        if is_sampler(pid):
            os.kill(pid, signal.SIGKILL)
    elif pid is None:
        try:
            with open(err_file, encoding="utf-8", errors="replace") as errors:
                error = errors.read().strip() or None
        except OSError:
            error = None
        error = error or "no sampler was started on this node"
    try:
        with open(out, encoding="utf-8") as handle:
            text = handle.read()
    except OSError as err:
        text = ""
        error = error or f"its samples could not be read: {err.strerror}"
    trace = parse_sampler_output(text, p["name"])
    if trace.wall_s is None and not error and text:
        error = "the sampler stopped before the run ended (it wrote no end line)"
    trace.error = error if not trace.samples else None
    for path in (out, pid_file, err_file):
        if os.path.exists(path):
            os.unlink(path)
    result = dict(trace.to_dict(), samples=trace.samples)
    cost = f", sampler {trace.cost:.1%} of a core" if trace.cost is not None else ""
    module.exit_json(changed=False, trace=result,
                     lab_progress=f"node {p['name']}: {len(trace.samples)} samples{cost}")


def main() -> None:
    module = AnsibleModule(argument_spec={
        "state": {"type": "str", "choices": ["started", "stopped"], "required": True},
        "name": {"type": "str"},
        "dir": {"type": "path", "required": True},
        "tag": {"type": "str", "required": True},
        "sampler": {"type": "path"},
        "python": {"type": "str", "default": "python3"},
        "interval": {"type": "float", "default": 1.0},
        "max_seconds": {"type": "float", "default": 7200},
        "vcgencmd": {"type": "str", "default": "vcgencmd"},
        "owner": {"type": "int"},
    })
    module.params["name"] = module.params["name"] or platform.node() or "localhost"
    if not module.params["tag"].replace("-", "").replace("_", "").isalnum():
        module.fail_json(msg=f"tag {module.params['tag']!r}: letters, digits, - and _ only")
    (start if module.params["state"] == "started" else stop)(module, *paths(module.params["dir"], module.params["tag"]))


if __name__ == "__main__":
    main()
