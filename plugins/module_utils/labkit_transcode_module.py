"""The Ansible side of the transcode's modules: the shared options and one way to run a step.

Each lab_transcode_* module declares its options and hands one core function
to `run_module`, which calls it with the module's parameters and turns its
result or its error into the task's result. It lives beside the core, not in it:
labkit (prepare, segments, finish, baseline) stays free of Ansible.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from ansible.module_utils.basic import AnsibleModule

from ansible.module_utils.labkit.transcode.params import ParamError
from ansible.module_utils.labkit.transcode.planfile import StepError
from ansible.module_utils.labkit.transcode.probe import ProbeError

# The options of every step after planning: the work folder and the controller's
# FFmpeg programs. Required: the role passes its own values (defaults/main.yml).
STEP_OPTIONS: dict[str, dict[str, Any]] = {
    "work": {"type": "path", "required": True},
    "ffmpeg": {"type": "str", "required": True},
    "ffprobe": {"type": "str", "required": True},
}


def run_module(step: Callable[..., dict[str, Any]], options: Mapping[str, dict[str, Any]] = STEP_OPTIONS,
               *, check_mode: bool = False) -> None:
    """Parse the options, call step(**params) once and exit with its result (changed),
    or fail with its message (and the step's details, e.g. the segments that succeeded).

    With check_mode, the step also gets check_mode=True/False and the task is unchanged in it."""
    module = AnsibleModule(argument_spec=dict(options), supports_check_mode=check_mode)
    params = dict(module.params)
    if check_mode:
        params["check_mode"] = module.check_mode
    try:
        out = step(**params)
    except StepError as err:
        module.fail_json(msg=str(err), **err.details)
    except (ParamError, ProbeError, OSError) as err:
        module.fail_json(msg=str(err))
    module.exit_json(changed=not module.check_mode, **out)
