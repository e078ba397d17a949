"""The labkit_metrics filter plugin, through a real ansible-playbook run and directly."""
from __future__ import annotations

import importlib.util
import json
import math

import pytest
from labtest import REPO, run_playbook

PLAYBOOK = """\
- name: Exercise the labkit_metrics filters
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    runs:
      - {run_id: a, t_e2e_s: 1.0, results: [{samples: 600000, inside: 471239}, {samples: 400000, inside: 314159}]}
      - {run_id: b, warmup: true, t_e2e_s: 1.0, results: [{samples: 1000, inside: 1000}]}
      - {run_id: legacy, mode: legacy, results: [{estimate: 3.14}]}
  tasks:
    - name: Pool the π samples and write them for the test to read
      ansible.builtin.copy:
        dest: "{{ out }}"
        mode: "0644"
        content: "{{ runs | lab_pi_estimate | to_json }}"
"""


def _load_filter_module():
    spec = importlib.util.spec_from_file_location("labkit_metrics", REPO / "plugins" / "filter" / "labkit_metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.integration
def test_pi_estimate_filter_in_a_playbook(tmp_path):
    path = tmp_path / "filters.yml"
    path.write_text(PLAYBOOK, encoding="utf-8")
    out = tmp_path / "out.json"
    proc = run_playbook(str(path), extra_vars={"out": str(out)}, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    pooled = json.loads(out.read_text(encoding="utf-8"))
    assert pooled["samples"] == 1_000_000 and math.isclose(pooled["estimate"], 3.141592)


def test_pi_estimate_pools_measured_runs_only():
    module = _load_filter_module()
    runs = [{"t_e2e_s": 1.0, "results": [{"samples": 600000, "inside": 471239}, {"samples": 400000, "inside": 314159}]},
            {"warmup": True, "t_e2e_s": 1.0, "results": [{"samples": 1000, "inside": 1000}]}]
    pooled = module.lab_pi_estimate(runs)
    assert pooled["samples"] == 1_000_000
    assert math.isclose(pooled["estimate"], 4 * 785398 / 1_000_000)
    # p = π/4: standard error 4·√(p(1−p)/n)
    p = math.pi / 4
    assert math.isclose(pooled["standard_error"], 4 * math.sqrt(p * (1 - p) / 1_000_000))
    assert module.lab_pi_estimate([{"t_e2e_s": 1.0, "results": [{"estimate": 3.1}]}]) is None


def test_filter_module_lists_every_filter():
    assert set(_load_filter_module().FilterModule().filters()) == {"lab_pi_estimate"}


def _load_user_filters():
    spec = importlib.util.spec_from_file_location("labkit_user", REPO / "plugins" / "filter" / "labkit_user.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_user_paths_are_taken_from_the_directory_the_command_ran_in(tmp_path, monkeypatch):
    user = _load_user_filters()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PWD", "/somewhere/else")  # a stale $PWD (subprocess cwd=) is not trusted
    assert user.lab_user_path("clip.mp4") == str(tmp_path / "clip.mp4")
    assert user.lab_user_path("/abs/clip.mp4") == "/abs/clip.mp4"
    assert user.lab_user_path("") == ""
    link = tmp_path.parent / f"{tmp_path.name}-link"
    link.symlink_to(tmp_path)
    monkeypatch.chdir(link)
    monkeypatch.setenv("PWD", str(link))  # the name the user typed is kept when it is right
    assert user.lab_user_path("clip.mp4") == str(link / "clip.mp4")


def test_unknown_variables_are_checked_against_the_roles_argument_specs():
    user = _load_user_filters()
    pi = str(REPO / "roles" / "pi")
    assert user.lab_unknown_variables(["pi_samples", "pi_k3s_image", "lab_root"], pi) == ""
    message = user.lab_unknown_variables(["pi_sampels", "pi_samples"], pi)
    assert message.startswith("Unknown pi_* variable: pi_sampels (did you mean pi_samples?).")
    assert "roles/pi/meta/argument_specs.yml" in message
    transcode = str(REPO / "roles" / "transcode")
    assert "transcode_wokers (did you mean transcode_workers?)" in user.lab_unknown_variables(
        ["transcode_wokers"], transcode)
    # A name of another role's (here under its old name) is pointed there.
    assert "pi_prerequisites_check_clock (did you mean rpi_prerequisites_check_clock?)" in user.lab_unknown_variables(
        ["pi_prerequisites_check_clock"], pi)
    assert user.lab_plural(1, "run") == "1 run" and user.lab_plural("3", "run") == "3 runs"
