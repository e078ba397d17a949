"""Filters over what the user typed: file names and variable names.

  path | lab_user_path                  -> the file the user named, absolute: ~ expanded and a relative
                                           name taken from the directory ansible-playbook was started in
                                           (not the repository: `./lab play` no longer changes directory)
  names | lab_unknown_variables(role_path) -> '' or one sentence naming every variable in the role's
                                           namespace (<role>_*) that its meta/argument_specs.yml does not
                                           declare, each with the closest declared name
  count | lab_plural('run')              -> '1 run', '2 runs' (labkit.text.plural)
"""
from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import Any

import yaml

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labkit_path import MODULE_UTILS  # noqa: E402,F401  (puts the core on sys.path)

from labkit.params import resolve_user_path, unknown_variables, unknown_variables_message  # noqa: E402
from labkit.fingerprint import check_conditions  # noqa: E402
from labkit.telemetry import check_settings  # noqa: E402
from labkit import settle  # noqa: E402
from labkit.text import plural  # noqa: E402


def command_dir() -> str:
    """The directory ansible-playbook was started in: $PWD when it names the process's working
    directory (it keeps a symlinked name as the user typed it), else the working directory."""
    cwd = os.getcwd()
    pwd = os.environ.get("PWD", "")
    try:
        if pwd and os.path.isabs(pwd) and os.path.samefile(pwd, cwd):
            return pwd
    except OSError:
        pass
    return cwd


def lab_user_path(path: Any) -> str:
    return resolve_user_path(path, command_dir())


def declared_options(role_path: str) -> list[str]:
    """The options of a role's `main` entry point: its one list of variables (meta/argument_specs.yml)."""
    with open(os.path.join(role_path, "meta", "argument_specs.yml"), encoding="utf-8") as handle:
        specs = yaml.safe_load(handle) or {}
    return list((((specs.get("argument_specs") or {}).get("main") or {}).get("options") or {}))


def lab_plural(count: Any, noun: str, many: str | None = None) -> str:
    return plural(int(count), noun, many)


def other_roles_options(role_path: str) -> list[str]:
    """The options of the roles beside this one, for a suggestion when a name belongs elsewhere."""
    roles = os.path.dirname(os.path.normpath(role_path))
    names: list[str] = []
    for other in sorted(os.listdir(roles)):
        path = os.path.join(roles, other)
        if path != os.path.normpath(role_path) and os.path.isfile(os.path.join(path, "meta", "argument_specs.yml")):
            names += declared_options(path)
    return names


def lab_unknown_variables(names: Iterable[str], role_path: str) -> str:
    role = os.path.basename(os.path.normpath(role_path))
    prefix = f"{role}_"
    where = f"roles/{role}/meta/argument_specs.yml"
    unknown = unknown_variables(names or [], declared_options(role_path), prefix)
    if any(close is None for _, close in unknown):  # only then read the other roles
        unknown = unknown_variables(names or [], declared_options(role_path), prefix, other_roles_options(role_path))
    return unknown_variables_message(unknown, prefix, where)


def lab_conditions_error(cooling: Any, ambient_c: Any) -> str:
    """'' when -e lab_cooling and -e lab_ambient_c are usable, else the message naming the bad one."""
    return check_conditions(cooling, ambient_c)


def lab_telemetry_error(interval_s: Any, max_seconds: Any, calibration: Any) -> str:
    """'' when the sampling settings and -e lab_power_calibration are usable, else the message."""
    return check_settings(interval_s, max_seconds, calibration)


def lab_settle_error(window_s: Any, rise_c: Any, max_seconds: Any) -> str:
    """'' when -e lab_settle_window, lab_settle_rise_c and lab_settle_max_seconds are usable, else the message."""
    return settle.check_settings(window_s, rise_c, max_seconds)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"lab_user_path": lab_user_path, "lab_unknown_variables": lab_unknown_variables, "lab_plural": lab_plural,
                "lab_conditions_error": lab_conditions_error, "lab_telemetry_error": lab_telemetry_error,
                "lab_settle_error": lab_settle_error}
