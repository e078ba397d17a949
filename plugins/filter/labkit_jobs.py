"""Filters that build the Kubernetes Jobs the roles submit, over labkit.k8s_items (the one pod
template of the kit: the transcode's segment Jobs are built there too).

  run | lab_pi_job(settings, kernel) -> the Indexed Job of one planned π run (lab_pi_plan's run),
                                with the plan's `kernel` and `settings`: namespace, configmap, deadline_s, spread and
                                `pod` (k8s_items.PodSettings' fields: image, pull_policy,
                                run_as_user, run_as_group, cpu_request, cpu_limit,
                                memory_request, memory_limit, node_selector, ttl_s)
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labkit_path import MODULE_UTILS  # noqa: E402,F401  (puts the core on sys.path)

from labkit import k8s_items  # noqa: E402


def lab_pi_job(run: Mapping[str, Any], settings: Mapping[str, Any], kernel: str) -> dict[str, Any]:
    try:
        deadline = settings.get("deadline_s")
        return k8s_items.pi_job(run, str(settings["namespace"]), k8s_items.PodSettings.from_mapping(settings["pod"]),
                                configmap=str(settings["configmap"]), kernel=str(kernel),
                                deadline_s=int(deadline) if deadline not in (None, "") else None,
                                spread=str(settings.get("spread") or ""))
    except (KeyError, TypeError, ValueError) as err:
        raise AnsibleFilterError(f"lab_pi_job: {err}") from None


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"lab_pi_job": lab_pi_job}
