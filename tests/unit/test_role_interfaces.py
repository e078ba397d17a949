"""Every role's interface is stated once and agrees with itself: defaults/main.yml and
meta/argument_specs.yml list the same variables with the same default values.

- a variable in defaults/main.yml must be an option of the `main` entry point;
- an option that states a default must be in defaults/main.yml (options documented as
  required, or without a default, such as variables of other roles, need not be);
- a stated default must equal the literal YAML value in defaults/main.yml; a templated default
  ("{{ lab_root }}/x") is compared as a string when the spec states one, and need not be stated;
- a literal default must be stated in the spec (ansible-doc shows it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from labtest import REPO

ROLES = sorted(p for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file()
               or (p / "defaults" / "main.yml").is_file())


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None


def templated(value: Any) -> bool:
    """Whether a default is (or contains) a Jinja2 expression, i.e. worked out at run time."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, dict):
        return any(templated(k) or templated(v) for k, v in value.items())
    if isinstance(value, list):
        return any(templated(v) for v in value)
    return False


def interface_problems(defaults: dict[str, Any] | None, specs: dict[str, Any] | None) -> list[str]:
    """What disagrees between a role's defaults and the options of its `main` entry point."""
    defaults = defaults or {}
    problems = []
    if specs is None:
        return [f"{name}: no meta/argument_specs.yml" for name in sorted(defaults)]
    options = ((specs.get("argument_specs") or {}).get("main") or {}).get("options") or {}
    for name in defaults:
        if name not in options:
            problems.append(f"{name}: in defaults/main.yml, not in meta/argument_specs.yml")
    for name, option in options.items():
        option = option or {}
        if name not in defaults:
            if "default" in option and not option.get("required"):
                problems.append(f"{name}: the spec states default {option['default']!r}, defaults/main.yml has none")
            continue
        value = defaults[name]
        if "default" not in option:
            if not templated(value):
                problems.append(f"{name}: defaults/main.yml has {value!r}, the spec states no default")
            continue
        stated = option["default"]
        same = str(stated) == str(value) if templated(value) else stated == value
        if not same:
            problems.append(f"{name}: defaults/main.yml has {value!r}, the spec states {stated!r}")
    return problems


def test_there_are_roles_to_check() -> None:
    names = {p.name for p in ROLES}
    assert {"lab_common", "k3s_install", "k3s_server", "k3s_agent", "rpi_prerequisites", "pi", "transcode"} <= names


@pytest.mark.parametrize("role", ROLES, ids=[p.name for p in ROLES])
def test_defaults_and_argument_specs_agree(role: Path) -> None:
    defaults = load(role / "defaults" / "main.yml")
    specs = load(role / "meta" / "argument_specs.yml")
    assert interface_problems(defaults, specs) == [], f"roles/{role.name}"


def test_the_check_finds_each_kind_of_disagreement() -> None:
    specs = {"argument_specs": {"main": {"options": {
        "r_documented": {"type": "int", "default": 1},
        "r_spec_only": {"type": "str", "default": "x"},
        "r_required": {"type": "str", "required": True},
        "r_other_role": {"type": "str"},
        "r_differs": {"type": "list", "default": ["a"]},
        "r_templated_ok": {"type": "str"},
        "r_templated_stated": {"type": "str", "default": "{{ lab_root }}/y"},
        "r_unstated": {"type": "bool"},
    }}}}
    defaults = {"r_documented": 1, "r_undocumented": 2, "r_differs": ["b"], "r_templated_ok": "{{ lab_root }}/x",
                "r_templated_stated": "{{ lab_root }}/x", "r_unstated": True}
    assert interface_problems(defaults, specs) == [
        "r_undocumented: in defaults/main.yml, not in meta/argument_specs.yml",
        "r_spec_only: the spec states default 'x', defaults/main.yml has none",
        "r_differs: defaults/main.yml has ['b'], the spec states ['a']",
        "r_templated_stated: defaults/main.yml has '{{ lab_root }}/x', the spec states '{{ lab_root }}/y'",
        "r_unstated: defaults/main.yml has True, the spec states no default",
    ]
    assert interface_problems({"a": 1}, None) == ["a: no meta/argument_specs.yml"]
    # YAML types count: "0600" (a string) is not 600 (an integer), true is not "true".
    assert interface_problems({"m": "0600"}, {"argument_specs": {"main": {"options": {"m": {"default": 600}}}}})
    assert interface_problems({"b": True}, {"argument_specs": {"main": {"options": {"b": {"default": "true"}}}}})


@pytest.mark.parametrize("role", ["pi", "transcode"])
def test_the_unknown_variable_check_runs_before_the_role_sets_anything(role: str) -> None:
    """The role's own registered results and facts share its prefix (pi_plan, transcode_finish …)
    and are not declared options: the check must come first, before any of them exists, so that
    only what the user, the inventory or the play set is checked."""
    tasks = load(REPO / "roles" / role / "tasks" / "main.yml")
    first = tasks[0]
    assert "lab_unknown_variables(role_path)" in str(first.get("ansible.builtin.assert"))
    assert f"'^{role}_'" in str(first)
    assert not any(key in first for key in ("register", "vars", "when"))
