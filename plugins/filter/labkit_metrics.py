"""Filters over labkit.metrics that the lab's playbooks use.

  runs | lab_pi_estimate   -> the π estimate pooled over the measured runs' samples, with its
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

from labkit.report import model  # noqa: E402


def lab_pi_estimate(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The π estimate pooled over the measured runs (the report's own figure: warm-up left
    out), or None when no run has π samples (an imported seed log)."""
    return model.pi_accuracy(list(runs or []))


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"lab_pi_estimate": lab_pi_estimate}
