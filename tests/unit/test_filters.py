"""The labkit_metrics filter plugins, through a real ansible-playbook run and directly."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from labtest import REPO, run_playbook

PLAYBOOK = """\
- name: Exercise the labkit_metrics filters
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    log_text: |
      [pod/pi-calculation-job-a/pi-calculator] Node gray: π ≈ 3.141764, Time: 5.70s
      Node black: π ≈ 3.141122, Time: 5.70s
      Node blue: π ≈ 3.142010, Time: 5.70s
      RESULT {broken
      RESULT {"schema":1,"workload":"pi","run_id":"r","index":0,"count":1,"node":"n","t_start_ns":1,"t_end_ns":2,"compute_s":0.5,"samples":100,"inside":79,"seed":1,"kernel":"python"}
      hello
    runs:
      - {run_id: s1a, workload: pi, mode: strong, workers: 1, warmup: false, work: 100, t_e2e_s: 10.0, results: []}
      - {run_id: s1b, workload: pi, mode: strong, workers: 1, warmup: false, work: 100, t_e2e_s: 10.0, results: []}
      - {run_id: s4a, workload: pi, mode: strong, workers: 4, warmup: false, work: 100, t_e2e_s: 3.0, results: []}
      - {run_id: s4b, workload: pi, mode: strong, workers: 4, warmup: false, work: 100, t_e2e_s: 3.0, results: []}
  tasks:
    - name: Parse the log and compute every figure
      ansible.builtin.set_fact:
        parsed: "{{ log_text | lab_parse_results }}"
        analysis: "{{ runs | lab_analyse }}"
        speedup: "{{ 10.0 | lab_speedup(2.5) }}"
        efficiency: "{{ 4.0 | lab_efficiency(5) }}"
        karp_flatt: "{{ 3.0 | lab_karp_flatt(4) }}"
        karp_flatt_n1: "{{ 1.0 | lab_karp_flatt(1) }}"
        accuracy: "{{ 785398 | lab_pi_accuracy(1000000) }}"

    - name: Build the legacy block and run from the parsed log
      ansible.builtin.set_fact:
        legacy: "{{ parsed.legacy | lab_legacy_block(1.52) }}"
        legacy_no_ref: "{{ parsed.legacy | lab_legacy_block(none) }}"
        legacy_analysis: "{{ parsed.legacy | lab_legacy_runs('imported') | lab_analyse }}"

    - name: Write everything for the test to read
      ansible.builtin.copy:
        dest: "{{ out }}"
        mode: "0644"
        content: "{{ {'parsed': parsed, 'analysis': analysis, 'speedup': speedup, 'efficiency': efficiency,
                      'karp_flatt': karp_flatt, 'karp_flatt_n1': karp_flatt_n1, 'accuracy': accuracy,
                      'legacy': legacy, 'legacy_no_ref': legacy_no_ref,
                      'legacy_analysis': legacy_analysis} | to_json }}"
"""


@pytest.fixture(scope="module")
def playbook_output(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("filters")
    path = tmp / "filters.yml"
    path.write_text(PLAYBOOK, encoding="utf-8")
    out = tmp / "out.json"
    proc = run_playbook(str(path), extra_vars={"out": str(out)}, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def test_parse_results_filter(playbook_output):
    parsed = playbook_output["parsed"]
    assert [r["node"] for r in parsed["legacy"]] == ["gray", "black", "blue"]
    assert len(parsed["records"]) == 1 and parsed["records"][0]["inside"] == 79
    assert parsed["malformed"] == 1 and parsed["other"] == 1


def test_scalar_metric_filters(playbook_output):
    # 10/2.5 = 4 ; 4/5 = 0.8 ; (1/3 - 1/4)/(3/4) = 1/9 ; none at N = 1
    assert playbook_output["speedup"] == pytest.approx(4.0)
    assert playbook_output["efficiency"] == pytest.approx(0.8)
    assert playbook_output["karp_flatt"] == pytest.approx(1 / 9)
    assert playbook_output["karp_flatt_n1"] is None
    # 4*785398/1e6 = 3.141592 ; standard error 4*sqrt(p(1-p)/1e6) = 1.642183e-3
    assert playbook_output["accuracy"]["estimate"] == pytest.approx(3.141592)
    assert playbook_output["accuracy"]["standard_error"] == pytest.approx(1.642183e-3, rel=1e-5)


def test_analyse_filter(playbook_output):
    rows = playbook_output["analysis"]["summary"]
    assert [(r["workers"], r["runs"]) for r in rows] == [(1, 2), (4, 2)]
    # S(4) = 10/3 = 3.3333 ; E = 0.83333 ; KF = (0.3 - 0.25)/0.75 = 0.066667
    assert rows[1]["speedup"] == pytest.approx(10 / 3)
    assert rows[1]["efficiency"] == pytest.approx(10 / 12)
    assert rows[1]["karp_flatt"] == pytest.approx(0.05 / 0.75)
    # throughput at N=4: 200 samples over 6 s
    assert rows[1]["throughput"] == pytest.approx(200 / 6)
    # Amdahl through (1, 10) and (4, 3): 10 = a + b, 3 = a + b/4 -> b = 28/3, a = 2/3, f = 1/15
    assert playbook_output["analysis"]["amdahl"]["serial_fraction"] == pytest.approx(1 / 15)


def test_legacy_filters(playbook_output):
    legacy = playbook_output["legacy"]
    # 3*5.7/1.52 = 11.25 (seed's reading) ; 3*1.52/5.7 = 0.8 (throughput against the reference)
    assert legacy["seed_linear_ratio"] == pytest.approx(11.25)
    assert legacy["throughput_vs_reference"] == pytest.approx(0.8)
    assert playbook_output["legacy_no_ref"]["seed_speedup"] is None
    row = playbook_output["legacy_analysis"]["summary"][0]
    assert row["mode"] == "legacy" and row["workers"] == 3 and row["t_median_s"] == pytest.approx(5.7)


def _load_filter_module():
    path = Path(REPO) / "plugins" / "filter" / "labkit_metrics.py"
    spec = importlib.util.spec_from_file_location("labkit_metrics_filter", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def test_filter_module_lists_every_filter():
    names = set(_load_filter_module().FilterModule().filters())
    assert {"lab_parse_results", "lab_analyse", "lab_legacy_block", "lab_speedup",
            "lab_efficiency", "lab_karp_flatt", "lab_pi_accuracy"} <= names


def test_filters_accept_stdout_lines_and_string_numbers():
    module = _load_filter_module()
    parsed = module.lab_parse_results(["Node a: π ≈ 3.1, Time: 2.00s", "noise"])
    assert parsed["legacy"][0]["time_s"] == 2.0 and parsed["other"] == 1
    # -e values arrive as strings: "10" / "4" = 2.5
    assert module.lab_speedup("10", "4") == 2.5
    assert module.lab_legacy_block(parsed["legacy"], "")["reference_s"] is None
