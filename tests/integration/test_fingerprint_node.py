"""lab_node_context reads a node's fingerprint (firmware, bootloader, config.txt clocks, numpy and
BLAS, ffmpeg build) through a real ansible-playbook run, with a stub vcgencmd on PATH and a fake
/boot; bench-pi.yml puts it, with the conditions the user gives, into the report."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from labtest import ansible_env, run_playbook

pytestmark = pytest.mark.integration

VCGENCMD = """#!/bin/sh
case "$1" in
  version) printf 'Mar 17 2023 10:50:39\\nCopyright (c) 2012 Broadcom\\nversion 82f3750a65fadae9a38077e3c2e217ad158c8d54 (clean) (release) (start)\\n' ;;
  bootloader_version) printf '2023/01/11 17:40:52\\nversion 8ba17717fbcedd4c3b6d4bce7e50c7af4155cba9 (release)\\ntimestamp 1673458852\\n' ;;
  get_throttled) echo throttled=0x0 ;;
  *) exit 1 ;;
esac
"""
PLAYBOOK = """\
---
- name: Read a node's fingerprint
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Describe the node, its numpy build included
      lab_node_context:
        root: "{{ fake_root }}"
        numpy: true
      register: node

    - name: Keep it
      ansible.builtin.copy:
        content: "{{ node.node | to_json }}"
        dest: "{{ out }}"
        mode: "0644"
"""


@pytest.fixture()
def stub_env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "vcgencmd"
    stub.write_text(VCGENCMD)
    stub.chmod(0o755)
    return ansible_env(PATH=f"{bin_dir}{os.pathsep}{ansible_env()['PATH']}")


def test_the_node_reading_carries_its_fingerprint(tmp_path: Path, stub_env: dict[str, str]) -> None:
    root = tmp_path / "root"
    (root / "boot" / "firmware").mkdir(parents=True)
    (root / "boot" / "firmware" / "config.txt").write_text("arm_freq=2600\nover_voltage_delta=50000\n[pi4]\narm_freq=1800\n")
    playbook = tmp_path / "node.yml"
    playbook.write_text(PLAYBOOK)
    out = tmp_path / "node.json"
    proc = run_playbook(str(playbook), extra_vars={"fake_root": str(root), "out": str(out)}, env=stub_env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    node = json.loads(out.read_text())
    found = node["fingerprint"]
    assert found["firmware"] == "Mar 17 2023 10:50:39, 82f3750a65fa"
    assert found["bootloader"] == "2023/01/11 17:40:52, 8ba17717fbce"
    assert found["config_clocks"] == {"arm_freq": "2600", "over_voltage_delta": "50000", "[pi4] arm_freq": "1800"}
    import numpy
    assert found["numpy"] == numpy.__version__
    assert found["ffmpeg"] and len(found["ffmpeg_configuration"]) == 12
    assert node["throttled"]["hex"] == "0x0"


def test_bench_pi_reports_the_fingerprint_and_refuses_a_bad_ambient_temperature(tmp_path: Path,
                                                                                 stub_env: dict[str, str]) -> None:
    small = {"pi_samples": 200_000, "pi_workers": [1], "pi_repetitions": 1, "pi_scaling": "strong",
             "pi_reports_dir": str(tmp_path / "reports")}
    proc = run_playbook("bench-pi.yml", extra_vars=small | {"lab_ambient_c": "warm"}, env=stub_env)
    assert proc.returncode != 0 and "Invalid parameter: lab_ambient_c='warm' is not a number" in proc.stdout
    assert not (tmp_path / "reports").exists(), "refused before anything ran"
    proc = run_playbook("bench-pi.yml", extra_vars=small | {"lab_cooling": "fan + heatsink", "lab_ambient_c": 23},
                        env=stub_env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    folder = tmp_path / "reports" / "latest-pi"
    block = json.loads((folder / "results.json").read_text())["context"]["fingerprint"]
    assert block["conditions"] == {"cooling": "fan + heatsink", "ambient_c": 23.0}
    (row,) = block["nodes"].values()
    assert row["firmware"].endswith("82f3750a65fa") and row["numpy"] and row["kernel"]
    page = (folder / "index.html").read_text()
    assert "Reproducibility fingerprint" in page and "cooling: fan + heatsink, ambient 23 °C" in page
    assert "Reproducibility fingerprint" in (folder / "summary.md").read_text()
