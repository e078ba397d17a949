"""Shared by the manifest tests: render role templates for real, the pinned Kubernetes version,
and what the Pod Security Standard `restricted` would reject."""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from labtest import REPO, run_playbook

# The shared variables (lab_namespace, lab_kubeconfig, ...) and the K3s pin, k3s_version.
LAB_COMMON_DEFAULTS = REPO / "roles" / "lab_common" / "defaults" / "main.yml"


def pinned_kubernetes_version() -> str:
    """The Kubernetes version of the pinned K3s (v1.33.5+k3s1 -> 1.33.0), the schemas to validate against."""
    pinned = yaml.safe_load(LAB_COMMON_DEFAULTS.read_text())["k3s_version"]
    major, minor = pinned.lstrip("v").split(".")[:2]
    return f"{major}.{minor}.0"


# The settings every π Job is built from, where the pi role keeps them (run_k3s.yml), and the
# expression that builds one (the role's own): play variables pi_k3s_run, pi_k3s_kernel, pi_k3s_job.
PI_RUN_K3S = REPO / "roles" / "pi" / "tasks" / "run_k3s.yml"
PI_JOB = "pi_k3s_run | lab_pi_job(pi_k3s_job, pi_k3s_kernel)"


def pi_job_settings() -> dict[str, Any]:
    """run_k3s.yml's pi_k3s_job (the block that runs the probe and the points), read from the role."""
    for task in yaml.safe_load(PI_RUN_K3S.read_text()):
        if "pi_k3s_job" in (task.get("vars") or {}):
            return dict(task["vars"]["pi_k3s_job"])
    raise AssertionError(f"no task of {PI_RUN_K3S} defines pi_k3s_job")


def render_templates(tmp_path: Path, templates: Mapping[str, Path | str], vars_files: list[Path],
                     play_vars: Mapping[str, Any], extra_vars: dict | None = None) -> dict[str, list[dict]]:
    """Render each source (name -> a template file, or a Jinja expression such as PI_JOB) in a real
    ansible-playbook run: a file with the template module, an expression through to_nice_yaml.

    The lab_common defaults (the shared variables the roles' defaults refer to) are loaded
    before vars_files, as a role's dependency would provide them.
    Returns every non-empty YAML document of each rendered file, by name.
    """
    out = tmp_path / "out"
    playbook = tmp_path / "render.yml"
    playbook.write_text(json.dumps([{
        "name": "Render Kubernetes templates for the tests",
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars_files": [str(path) for path in [LAB_COMMON_DEFAULTS, *vars_files]],
        "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}", **play_vars},
        "tasks": [
            {"name": "Make the output folder", "ansible.builtin.file": {"path": str(out), "state": "directory",
                                                                         "mode": "0755"}},
            *[{"name": f"Render {name}", "ansible.builtin.template": {
                "src": str(src), "dest": str(out / f"{name}.yaml"), "mode": "0644"}} if isinstance(src, Path)
              else {"name": f"Render {name}", "ansible.builtin.copy": {
                  "content": "{{ " + src + " | to_nice_yaml }}", "dest": str(out / f"{name}.yaml"), "mode": "0644"}}
              for name, src in templates.items()],
        ],
    }]))
    done = run_playbook(str(playbook), "-i", "localhost,", extra_vars=extra_vars, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return {name: [doc for doc in yaml.safe_load_all((out / f"{name}.yaml").read_text(encoding="utf-8")) if doc]
            for name in templates}


def restricted_violations(pod_spec: dict) -> list[str]:
    """What the Pod Security Standard `restricted` would reject in a pod spec (the checks that apply here)."""
    problems = []
    pod_sc = pod_spec.get("securityContext", {})
    if pod_spec.get("hostNetwork") or pod_spec.get("hostPID") or pod_spec.get("hostIPC"):
        problems.append("host namespaces")
    for vol in pod_spec.get("volumes", []):
        if "hostPath" in vol:
            problems.append(f"hostPath volume {vol['name']}")
    for c in pod_spec.get("initContainers", []) + pod_spec.get("containers", []):
        sc = c.get("securityContext", {})
        name = c["name"]
        if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
            problems.append(f"{name}: runAsNonRoot is not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append(f"{name}: runs as UID 0")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(sc.get("capabilities", {}).get("add", [])) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities")
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile is {seccomp!r}")
        if c.get("ports") and any(p.get("hostPort") for p in c["ports"]):
            problems.append(f"{name}: hostPort")
    return problems
