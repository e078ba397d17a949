"""Stdout callback: Ansible's default output, plus one readable line per progress report.

Long phases (a benchmark's runs, a transcode's segments) return a one-line
`lab_progress` string in their results. This callback prints that line under
the task instead of a JSON blob, and shows it in place of the default
"FAILED - RETRYING" line when a task polls with until/retries, so a person sees
which point, which repetition and how many results are in, not a wall of retries.
"""
from __future__ import annotations

from ansible.plugins.callback.default import CallbackModule as DefaultCallback

DOCUMENTATION = """
name: labkit_progress
type: stdout
short_description: default output plus the lab's one-line progress reports
description:
  - Ansible's default stdout callback; a task result with a C(lab_progress)
    string is shown as that line, and polling retries show their progress
    instead of "FAILED - RETRYING".
extends_documentation_fragment:
  - default_callback
  - result_format_callback
requirements:
  - set as stdout callback in ansible.cfg
"""

PROGRESS_KEY = "lab_progress"


class CallbackModule(DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "labkit_progress"

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
        if result.task.loop and "results" in result.result and self._progress(result) is not None:
            return  # the items were shown one by one
        self._progress_or(result, super().v2_runner_on_ok)

    def v2_runner_item_on_ok(self, result) -> None:
        self._progress_or(result, super().v2_runner_item_on_ok)

    def v2_runner_retry(self, result) -> None:
        self._progress_or(result, super().v2_runner_retry, banner=False)

    def _print_task_banner_if_needed(self, result) -> None:
        # The default callback defers the banner until the first visible result.
        if self._last_task_banner != result.task._uuid:
            self._print_task_banner(result.task)
