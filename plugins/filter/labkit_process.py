"""Filters about the run's own processes.

  x | lab_owner_pid   -> the PID of the ansible-playbook process running this play (x is ignored).
                         A step started as an async job is detached from ansible-playbook's process
                         tree; given this PID it can still stop its workers when the play is killed.
"""
from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labkit_path import MODULE_UTILS  # noqa: E402,F401  (puts the core on sys.path)

from labkit.supervise import run_owner  # noqa: E402


def lab_owner_pid(_: Any = None) -> int:
    """Templates are rendered in a worker forked from ansible-playbook: its outermost
    ansible-playbook ancestor is the process that owns the run."""
    return run_owner(os.getpid())


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"lab_owner_pid": lab_owner_pid}
