"""Filters over labkit.metrics that the lab's playbooks use.

  runs | lab_pi_estimate   -> the π estimate pooled over every valid run's samples, with its
                              Monte Carlo standard error and z (bench-pi.yml prints it)

Everything else is computed by the modules (labkit.metrics through lab_report); a filter
exists here only where a playbook needs a figure in a task.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labkit_path import MODULE_UTILS  # noqa: E402,F401  (puts the core on sys.path)

from labkit import metrics  # noqa: E402


def lab_pi_estimate(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Pool inside/samples over the valid runs' results (warm-up included: it sampled too);
    None when no run has π samples (an imported seed log)."""
    inside = samples = 0
    for run in runs or []:
        if run.get("valid") is False:
            continue
        for result in run.get("results") or []:
            if isinstance(result.get("samples"), int) and isinstance(result.get("inside"), int):
                inside += result["inside"]
                samples += result["samples"]
    if samples == 0:
        return None
    return dict(metrics.pi_accuracy(inside, samples), samples=samples)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"lab_pi_estimate": lab_pi_estimate}
