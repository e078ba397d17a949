"""Stdout callback: Ansible's default output, plus one readable line per progress report,
and the runs already measured kept in a partial report when an experiment is interrupted.

Long phases (a benchmark's runs, a transcode's segments) return a one-line
`lab_progress` string in their results. This callback prints that line under
the task instead of a JSON blob, and shows it in place of the default
"FAILED - RETRYING" line when a task polls with until/retries, so a person sees
which point, which repetition and how many results are in, not a wall of retries.

A plan whose result carries `lab_partial_report` (lab_pi_plan given a reports_dir) opens an
experiment here: the node readings before the runs and every run record that comes back are
kept, and the experiment's own report task (a result with a report `path`) closes it. If
ansible-playbook ends without reaching its summary (Ctrl-C: Ansible raises
KeyboardInterrupt and exits), the runs measured so far are written as a report marked
partial, and the callback says where.
"""
from __future__ import annotations

import atexit
import os
import platform
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping

from ansible.plugins.callback.default import CallbackModule as DefaultCallback
from ansible.plugins.loader import filter_loader, test_loader
from ansible.release import __version__ as ansible_version

MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
if MODULE_UTILS not in sys.path:
    sys.path.insert(0, MODULE_UTILS)

from labkit.text import plural  # noqa: E402

DOCUMENTATION = """
name: labkit_progress
type: stdout
short_description: default output plus the lab's one-line progress reports
description:
  - Ansible's default stdout callback; a task result with a C(lab_progress)
    string is shown as that line, and polling retries show their progress
    instead of "FAILED - RETRYING".
  - When the play is interrupted (Ctrl-C) during an experiment whose plan carried
    C(lab_partial_report), the runs already measured are written as a report marked partial.
extends_documentation_fragment:
  - default_callback
  - result_format_callback
requirements:
  - set as stdout callback in ansible.cfg
"""

PROGRESS_KEY = "lab_progress"
PARTIAL_KEY = "lab_partial_report"


@dataclass
class Experiment:
    """What an interrupted experiment's partial report needs, gathered from task results."""
    workload: str
    backend: str
    reports_dir: str
    parameters: dict[str, Any]
    planned: int
    nodes_before: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_plan(cls, spec: Mapping[str, Any]) -> "Experiment":
        return cls(workload=str(spec["workload"]), backend=str(spec.get("backend") or "local"),
                   reports_dir=str(spec["reports_dir"]), parameters=dict(spec.get("parameters") or {}),
                   planned=int(spec.get("planned") or 0))

    def observe(self, result: Mapping[str, Any]) -> None:
        """Keep a run record (a run's result) or a node reading taken before the first run."""
        run = result.get("run")
        if isinstance(run, Mapping) and run.get("run_id"):
            self.runs.append(dict(run))
        elif isinstance(result.get("node"), Mapping) and not self.runs:
            self.nodes_before.append(dict(result))

    def partial_note(self) -> str:
        measured = [run for run in self.runs if not run.get("warmup")]
        return (f"yes: interrupted (Ctrl-C) after {len(self.runs)} of {plural(self.planned, 'planned run')} "
                f"({len(measured)} measured, the warm-up not counted); the run in progress was lost and the "
                f"rest never ran, so the figures rest on fewer runs than asked for")

    def write_partial(self) -> str:
        """Write the report of the runs so far, marked partial; returns its index.html."""
        from labkit.report import build_context, write_report

        context = build_context(self.backend, self.parameters, nodes_before=self.nodes_before,
                                tools={"ansible": ansible_version, "python": platform.python_version()},
                                more={"partial": self.partial_note()})
        extra = {"partial": {"interrupted": True, "runs_kept": len(self.runs), "runs_planned": self.planned}}
        written = write_report(self.reports_dir, self.workload, self.runs, context, extra)
        return written["files"]["index.html"]


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "labkit_progress"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._experiment: Experiment | None = None
        self._finished = False
        self._pid = os.getpid()
        atexit.register(self._keep_interrupted_runs)

    def v2_playbook_on_start(self, playbook) -> None:
        # Every task runs in a forked worker, which loads every filter and test plugin the first
        # time it templates one (the lab's filters import the labkit core): about 0.1 s per task.
        # Loaded once here, in the process the workers are forked from, they are inherited.
        list(filter_loader.all())
        list(test_loader.all())
        super().v2_playbook_on_start(playbook)

    # --- the interrupted experiment -------------------------------------------------

    def _track(self, result) -> None:
        data = result.result
        if not isinstance(data, Mapping):
            return
        spec = data.get(PARTIAL_KEY)
        if isinstance(spec, Mapping):
            self._experiment = Experiment.from_plan(spec)
        elif self._experiment is not None:
            if isinstance(data.get("headline"), Mapping) and "path" in data:  # the report was written
                self._experiment = None
            else:
                self._experiment.observe(data)

    def _keep_interrupted_runs(self) -> None:
        experiment = self._experiment
        if self._finished or experiment is None or not experiment.runs or os.getpid() != self._pid:
            return
        self._experiment = None
        try:
            index = experiment.write_partial()
        except Exception as err:  # noqa: BLE001 - at exit, say why and keep the exit status
            sys.stderr.write(f"Interrupted: could not write a partial report of the "
                             f"{plural(len(experiment.runs), 'run')} measured: {err}\n")
            return
        sys.stderr.write(f"Interrupted: kept {plural(len(experiment.runs), 'run')} of {experiment.planned} "
                         f"planned in a report marked partial: {index}\n")
        sys.stderr.flush()

    def v2_playbook_on_stats(self, stats) -> None:
        self._finished = True
        super().v2_playbook_on_stats(stats)

    # --- progress lines --------------------------------------------------------------

    def _progress(self, result) -> str | None:
        value = result.result.get(PROGRESS_KEY)
        return value if isinstance(value, str) and value else None

    def _show(self, result, line: str) -> None:
        self._display.display(f"  {result.host.get_name()}: {line}", color="cyan")

    def _progress_or(self, result, fallback, banner: bool = True) -> None:
        """Show the result's progress line, or let the default callback show the result."""
        line = self._progress(result)
        if line is None:
            fallback(result)
            return
        if banner:
            self._print_task_banner_if_needed(result)
        self._show(result, line)

    def v2_runner_on_ok(self, result) -> None:
        if not result.task.loop:
            self._track(result)
        if result.task.loop and "results" in result.result and self._progress(result) is not None:
            return  # the items were shown one by one
        self._progress_or(result, super().v2_runner_on_ok)

    def v2_runner_item_on_ok(self, result) -> None:
        self._track(result)
        self._progress_or(result, super().v2_runner_item_on_ok)

    def v2_runner_retry(self, result) -> None:
        self._progress_or(result, super().v2_runner_retry, banner=False)

    def _print_task_banner_if_needed(self, result) -> None:
        # The default callback defers the banner until the first visible result.
        if self._last_task_banner != result.task._uuid:
            self._print_task_banner(result.task)
