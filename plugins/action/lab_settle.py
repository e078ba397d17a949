"""lab_settle runs in the task's worker on the controller (see _lab_in_process.py)."""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _lab_in_process import InProcessModule as ActionModule  # noqa: E402

__all__ = ["ActionModule"]
