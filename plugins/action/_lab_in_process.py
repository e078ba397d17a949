"""Run a lab module inside the task's worker process when it runs on the controller itself.

Every lab module (library/lab_*.py) is an ordinary Ansible module. Run the usual way, each
call builds an AnsiballZ payload (scanning the labkit core it imports), starts a Python and
imports ansible.module_utils.basic and labkit again: 0.3–0.5 s per task on a laptop, most of
the fixed cost of a short transcode. When the task runs on the controller (local connection,
no become, not async) the module's code is already here, so this action imports the module
file and runs it as __main__ in the worker process Ansible forked for the task, with the same
arguments and the same result (ansible.netcommon runs modules in-worker the same way: the
`_record_module_result` hook of AnsibleModule exists for it). Elsewhere (a host over SSH,
become, async) the module runs as usual.

Not a plugin itself (the leading underscore keeps Ansible from loading it as one); each
library/lab_*.py that benefits has a one-line action file importing InProcessModule.
LAB_MODULES_IN_PROCESS=0 turns it off (every module then runs the usual way).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import runpy
import signal
import sys
import traceback
from typing import Any

import ansible.module_utils
from ansible.module_utils import basic
from ansible.module_utils.common import json as module_json
from ansible.plugins.action import ActionBase

# The labkit core, importable as ansible.module_utils.labkit as it is inside AnsiballZ.
MODULE_UTILS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "module_utils")
PROFILE = "legacy"


def _in_process_enabled() -> bool:
    return os.environ.get("LAB_MODULES_IN_PROCESS", "1") not in ("0", "false", "no")


class InProcessModule(ActionBase):
    """The action of one lab module: in this process on the controller, else the usual way."""

    TRANSFERS_FILES = False

    def _runs_here(self) -> bool:
        return (_in_process_enabled()
                and getattr(self._connection, "transport", "") in ("local", "ansible.builtin.local")
                and not self._play_context.become
                and not self._task.async_val)

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        self._supports_check_mode = True
        self._supports_async = True
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        name = self._task.action.split(".")[-1]
        if not self._runs_here():
            result.update(self._execute_module(module_name=name, module_args=dict(self._task.args),
                                               task_vars=task_vars, wrap_async=bool(self._task.async_val)))
            return result
        args = dict(self._task.args)
        self._update_module_args(name, args, task_vars)
        result.update(self._run_here(name, args))
        return result

    def _module_path(self, name: str) -> str:
        found = self._shared_loader_obj.module_loader.find_plugin_with_context(name)
        if not found.resolved or not found.plugin_resolved_path:
            raise ValueError(f"module {name} not found")
        return found.plugin_resolved_path

    def _run_here(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
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
                runpy.run_path(self._module_path(name), run_name="__main__")
        except SystemExit as stop:
            code = stop.code
        except KeyboardInterrupt:
            os._exit(1)  # as the worker would have; the module has cleaned up
        except Exception:  # a crash is the task's failure, as it is in a module process
            return {"failed": True, "msg": f"module {name} crashed:\n{traceback.format_exc()}",
                    "module_stdout": stdout.getvalue()}
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return self._parse_returned_data({"stdout": stdout.getvalue(), "stderr": "", "rc": code}, PROFILE)


def _interrupt(signum: int, frame: Any) -> None:
    # Stop the module's children in this process group too, as the worker's own handler does.
    signal.signal(signum, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.killpg(os.getpgid(0), signum)
    raise KeyboardInterrupt
