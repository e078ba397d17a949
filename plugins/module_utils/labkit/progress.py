"""Progress of a long batch, shared between the step that runs it and the task that follows it.

A long step runs as an Ansible async job; it writes its progress to a small
JSON file as items finish, and a polling task (`lab_job_progress`) reads the
file every few seconds and prints one line: done of total, per host, the rate
and the time left. The file is written atomically (a reader never sees half).
"""
from __future__ import annotations

import json
import os
import threading
import time
from typing import Any, Mapping, Optional

from .text import plural


class ProgressFile:
    """Counts finished items (per host) and the work they did; rewrites the file on every change."""

    def __init__(self, path: str, total: int, work_total: float, unit: str, resumed: int = 0,
                 resumed_work: float = 0.0) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self.state: dict[str, Any] = {
            "total": total, "done": resumed, "resumed": resumed, "failed": 0,
            "work_total": work_total, "work_done": resumed_work, "work_resumed": resumed_work, "unit": unit,
            "per_host": {}, "hosts_lost": [], "elapsed_s": 0.0, "finished": False,
        }
        self._write()

    def item_done(self, host: str, work: float) -> None:
        with self._lock:
            self.state["done"] += 1
            self.state["work_done"] += work
            self.state["per_host"][host] = self.state["per_host"].get(host, 0) + 1
            self._write()

    def item_failed(self) -> None:
        with self._lock:
            self.state["failed"] += 1
            self._write()

    def host_lost(self, host: str) -> None:
        with self._lock:
            if host not in self.state["hosts_lost"]:
                self.state["hosts_lost"].append(host)
                self._write()

    def finish(self) -> None:
        with self._lock:
            self.state["finished"] = True
            self._write()

    def _write(self) -> None:
        self.state["elapsed_s"] = round(time.monotonic() - self._t0, 3)
        self.state["updated"] = time.time()
        tmp = f"{self.path}.tmp.{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(self.state, fh)
        os.replace(tmp, self.path)


def read(path: str) -> Optional[dict[str, Any]]:
    """The progress state, or None when there is none (yet)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def describe(state: Mapping[str, Any], label: str, now: Optional[float] = None) -> str:
    """One line: 'segments: 5/12 done (2 resumed) — sbx-1 2, sbx-2 3 — 41.0 fps — about 12 s left'.

    The rate counts only this run's work; the time since the file was last
    written counts as elapsed too, so the estimate keeps moving between items."""
    done, total = int(state.get("done", 0)), int(state.get("total", 0))
    parts = [f"{label}: {done}/{total} done"
             + (f" ({state['resumed']} resumed)" if state.get("resumed") else "")
             + (f", {plural(int(state['failed']), 'failed attempt')}" if state.get("failed") else "")]
    per_host = state.get("per_host") or {}
    if per_host:
        parts.append(", ".join(f"{host} {count}" for host, count in sorted(per_host.items())))
    since = max(0.0, (now if now is not None else time.time()) - float(state.get("updated", 0) or 0))
    elapsed = float(state.get("elapsed_s", 0.0)) + (0.0 if state.get("finished") else since)
    work = float(state.get("work_done", 0.0)) - float(state.get("work_resumed", 0.0))
    if elapsed > 0 and work > 0:
        rate = work / elapsed
        parts.append(f"{rate:.1f} {state.get('unit', 'items')}/s")
        left = float(state.get("work_total", 0.0)) - float(state.get("work_done", 0.0))
        if left > 0 and not state.get("finished"):
            parts.append(f"about {left / rate:.0f} s left")
    if state.get("hosts_lost"):
        parts.append("LOST: " + ", ".join(state["hosts_lost"]))
    return " — ".join(parts)
