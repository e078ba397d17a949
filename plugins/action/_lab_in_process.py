"""Run a lab module inside the task's worker process when it runs on the controller itself.

Every lab module (library/lab_*.py) is an ordinary Ansible module. Run the usual way, each
call builds an AnsiballZ payload (scanning the labkit core it imports), starts a Python and
imports ansible.module_utils.basic and labkit again: 0.3–0.5 s per task on a laptop, most of
the fixed cost of a short transcode. When the task runs on the controller (local connection,
no become, not async) the module's code is already here, so this action imports the module
file and runs it as __main__ in the worker process Ansible forked for the task, with the same
arguments and the same result (ansible.netcommon runs modules in-worker the same way: the
`_record_module_result` hook of AnsibleModule exists for it). An async task (`async: S`,
`poll: 0`) forks the job from here instead of through async_wrapper: the same job file in
~/.ansible_async, the same time limit, read by lab_job_progress or async_status. Elsewhere
(a host over SSH, become) the module runs as usual.

Not a plugin itself (the leading underscore keeps Ansible from loading it as one); each
library/lab_*.py that benefits has a one-line action file importing InProcessModule.
LAB_MODULES_IN_PROCESS=0 turns it off (every module then runs the usual way).
"""
from __future__ import annotations

import contextlib
import ctypes
import io
import json
import os
import random
import runpy
import signal
import sys
import time
import traceback
from typing import Any

import ansible.module_utils
from ansible.module_utils import basic
from ansible.module_utils.common import json as module_json
from ansible.plugins.action import ActionBase

# The labkit core, importable as ansible.module_utils.labkit as it is inside AnsiballZ.
MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
PROFILE = "legacy"
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _in_process_enabled() -> bool:
    return os.environ.get("LAB_MODULES_IN_PROCESS", "1") not in ("0", "false", "no")


class InProcessModule(ActionBase):
    """The action of one lab module: in this process on the controller, else the usual way."""

    TRANSFERS_FILES = False

    def _runs_here(self) -> bool:
        return (_in_process_enabled()
                and getattr(self._connection, "transport", "") in ("local", "ansible.builtin.local")
                and not self._play_context.become)

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        self._supports_check_mode = True
        self._supports_async = True
        _die_with_playbook()
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        name = self._task.action.split(".")[-1]
        if not self._runs_here():
            result.update(self._execute_module(module_name=name, module_args=dict(self._task.args),
                                               task_vars=task_vars, wrap_async=bool(self._task.async_val)))
            return result
        args = dict(self._task.args)
        self._update_module_args(name, args, task_vars)
        if self._task.async_val:
            async_dir = os.path.expanduser(self.get_shell_option("async_dir", default="~/.ansible_async"))
            result.update(self._start_job(name, args, int(self._task.async_val), async_dir))
            return result
        stdout, code = self._run_here(name, args)
        result.update(self._parse_returned_data({"stdout": stdout, "stderr": "", "rc": code}, PROFILE))
        return result

    def _start_job(self, name: str, args: dict[str, Any], limit_s: int, async_dir: str) -> dict[str, Any]:
        """Fork the module as an async job, as async_wrapper would start it; return at once."""
        jid = f"j{random.randrange(10**12)}.{os.getpid()}"
        os.makedirs(async_dir, exist_ok=True)
        job_path = os.path.join(async_dir, jid)
        _write_job(job_path, {"started": 1, "finished": 0, "ansible_job_id": jid})
        module_path = self._module_path(name)
        if os.fork() == 0:
            # The job: a session of its own, so that it outlives this task's worker; a watcher
            # ends it at the time limit as async_wrapper does.
            try:
                os.setsid()
                devnull = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):  # nothing of the play's terminal or pipes stays open in the job
                    os.dup2(devnull, fd)
                _watch_job(lambda: self._run_here(name, args, module_path), job_path, jid, limit_s)
            finally:
                os._exit(0)
        return {"started": 1, "finished": 0, "ansible_job_id": jid, "results_file": job_path, "changed": True}

    def _module_path(self, name: str) -> str:
        found = self._shared_loader_obj.module_loader.find_plugin_with_context(name)
        if not found.resolved or not found.plugin_resolved_path:
            raise ValueError(f"module {name} not found")
        return found.plugin_resolved_path

    def _run_here(self, name: str, args: dict[str, Any], module_path: str | None = None) -> tuple[str, Any]:
        """The module's stdout and exit status, run as __main__ in this process."""
        if MODULE_UTILS not in ansible.module_utils.__path__:
            ansible.module_utils.__path__.append(MODULE_UTILS)
        encoder = module_json.get_module_encoder(PROFILE, module_json.Direction.CONTROLLER_TO_MODULE)
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}, cls=encoder).encode()
        basic._ANSIBLE_PROFILE = PROFILE
        stdout = io.StringIO()
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        for sig in previous:
            # Ansible's worker answers a signal with os._exit(); a module run here must see an
            # exception instead, so that its own clean-up (finally blocks, child processes) runs.
            signal.signal(sig, _interrupt)
        code: Any = 0
        try:
            with contextlib.redirect_stdout(stdout):
                # As `python lab_x.py` would run it: every lab module ends in `if __name__ == "__main__"`.
                runpy.run_path(module_path or self._module_path(name), run_name="__main__")
        except SystemExit as stop:
            code = stop.code
        except KeyboardInterrupt:
            os._exit(1)  # as the worker would have; the module has cleaned up
        except Exception:  # a crash is the task's failure, as it is in a module process
            crash = {"failed": True, "msg": f"module {name} crashed:\n{traceback.format_exc()}",
                     "module_stdout": stdout.getvalue()}
            return json.dumps(crash), 1
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return stdout.getvalue(), code


def _die_with_playbook() -> None:
    """End this worker when ansible-playbook dies (kill -9, a closed terminal). Ansible starts
    each worker in a session of its own, so a signal to the playbook's process group misses
    it; a worker retrying a task (`until:`, as the segment step's follower does) then sends one
    callback per retry to a parent that no longer reads them, and blocks for ever once the
    pipe is full. Linux only (prctl); a detached job forked from here does not inherit it."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # it died before the request took effect
            os._exit(1)


def _write_job(path: str, data: dict[str, Any]) -> None:
    with open(path + ".tmp", "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(path + ".tmp", path)


def _watch_job(run: Any, job_path: str, jid: str, limit_s: int) -> None:
    """Run the job in a child process group; write its result, or a timeout at limit_s (0: none)."""
    child = os.fork()
    if child == 0:
        try:
            os.setpgid(0, 0)
            stdout, _code = run()
            lines = [line for line in stdout.splitlines() if line.startswith("{")]
            try:
                result = json.loads(lines[-1]) if lines else {"failed": True, "msg": "the module printed no result"}
            except ValueError:
                result = {"failed": True, "msg": "the module's result is not JSON", "module_stdout": stdout}
            result["ansible_job_id"] = jid
            _write_job(job_path, result)
        finally:
            os._exit(0)
    deadline = time.monotonic() + limit_s if limit_s > 0 else None
    while os.waitpid(child, os.WNOHANG) == (0, 0):
        if deadline is not None and time.monotonic() > deadline:
            with contextlib.suppress(OSError):
                os.killpg(child, signal.SIGKILL)
            os.waitpid(child, 0)
            _write_job(job_path, {"failed": True, "msg": "Timeout exceeded", "child_pid": child, "ansible_job_id": jid})
            return
        time.sleep(0.2)


def _interrupt(signum: int, frame: Any) -> None:
    # Stop the module's children in this process group too, as the worker's own handler does.
    signal.signal(signum, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.killpg(os.getpgid(0), signum)
    raise KeyboardInterrupt
