"""lab_node_context and lab_report through a real ansible-playbook run on localhost."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from labtest import run_playbook

pytestmark = pytest.mark.integration

PLAYBOOK = """\
---
- name: Report module round trip
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Describe this node
      lab_node_context:
      register: node

    - name: Describe a fake node tree
      lab_node_context:
        root: "{{ fake_root }}"
      register: fake

    - name: A missing root is refused with a message naming it
      lab_node_context:
        root: "{{ fake_root }}/missing"
      register: bad_root
      failed_when: bad_root is not failed or 'missing' not in bad_root.msg

    - name: Describe it again in check mode (changes nothing)
      lab_node_context:
      check_mode: true
      register: node_check

    - name: Check mode does not write a report
      lab_report:
        reports_dir: "{{ reports_dir }}"
        workload: pi
        backend: local
        runs: "{{ runs }}"
        parameters: {}
        nodes_before: ["{{ node }}"]
      check_mode: true
      register: dry

    - name: Check mode with one run counts it in the singular
      lab_report:
        reports_dir: "{{ reports_dir }}"
        workload: pi
        backend: local
        runs: "{{ runs[:1] }}"
        parameters: {}
      check_mode: true
      register: dry_one

    - name: Write the report
      lab_report:
        reports_dir: "{{ reports_dir }}"
        workload: pi
        backend: local
        runs: "{{ runs }}"
        parameters: {pi_samples: 4000, pi_workers: [1, 2]}
        nodes_before: ["{{ node }}"]
        nodes_after: ["{{ node }}"]
      register: report

    - name: Save what the modules returned
      ansible.builtin.copy:
        content: "{{ {'node': node, 'fake': fake, 'node_check': node_check, 'dry': dry, 'dry_one': dry_one,
                      'report': report} | to_json }}"
        dest: "{{ out_file }}"
        mode: "0600"

    - name: A bad workload is refused with a message naming it
      lab_report:
        reports_dir: "{{ reports_dir }}"
        workload: video
        backend: local
        runs: []
        parameters: {}
      register: bad
      failed_when: bad is not failed or 'video' not in bad.msg

    - name: A run without workers is refused with a message naming it
      lab_report:
        reports_dir: "{{ reports_dir }}"
        workload: pi
        backend: local
        runs: [{run_id: r1, mode: strong}]
        parameters: {}
      register: bad_run
      failed_when: bad_run is not failed or "has no 'workers'" not in bad_run.msg
"""


def make_runs() -> list[dict]:
    runs = []
    order = 0
    for n in (1, 2):
        for rep in range(3):
            start = 1_764_040_000_000_000_000 + order * 10**10
            results = [
                {"schema": 1, "workload": "pi", "run_id": f"it-n{n}-r{rep}", "index": i, "count": n,
                 "node": "<b>host</b>", "t_start_ns": start, "t_end_ns": start + int(2e9 / n) + rep * 10**7,
                 "compute_s": 2.0 / n + rep * 0.01, "samples": 4000 // n, "inside": 3141 // n, "seed": 1,
                 "kernel": "python"}
                for i in range(n)
            ]
            runs.append({"run_id": f"it-n{n}-r{rep}", "workload": "pi", "mode": "strong", "workers": n,
                         "repetition": rep, "warmup": rep == 0, "order": order, "work": 4000,
                         "t_e2e_s": 2.1 / n + rep * 0.01, "oversubscribed": False, "throttled": False,
                         "valid": True, "results": results})
            order += 1
    return runs


def test_modules_write_a_report_and_describe_the_node(tmp_path: Path) -> None:
    playbook = tmp_path / "report.yml"
    playbook.write_text(PLAYBOOK)
    reports = tmp_path / "reports"
    out_file = tmp_path / "out.json"
    fake = tmp_path / "fake-root"
    (fake / "proc/device-tree").mkdir(parents=True)
    (fake / "proc/device-tree/model").write_bytes(b"Raspberry Pi 4 Model B Rev 1.5\x00")
    (fake / "proc/sys/kernel").mkdir(parents=True)
    (fake / "proc/sys/kernel/hostname").write_text("pi-fake\n")
    (fake / "sys/class/thermal/thermal_zone0").mkdir(parents=True)
    (fake / "sys/class/thermal/thermal_zone0/temp").write_text("47250\n")
    proc = run_playbook(str(playbook), extra_vars={"reports_dir": str(reports), "runs": make_runs(),
                                                   "out_file": str(out_file), "fake_root": str(fake)}, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = json.loads(out_file.read_text())

    node = out["node"]
    assert node["changed"] is False and out["node_check"]["changed"] is False
    assert node["node"]["hostname"] == os.uname().nodename
    assert node["node"]["cores"] == os.cpu_count()
    assert node["node"]["kernel"] == os.uname().release
    assert node["node"]["versions"]["python"].count(".") == 2
    assert "throttled" in node["node"]  # None off a Pi

    fake_node = out["fake"]["node"]
    assert (fake_node["hostname"], fake_node["model"], fake_node["temperature_c"]) == (
        "pi-fake", "Raspberry Pi 4 Model B Rev 1.5", 47.2)
    assert fake_node["kernel"] is None and fake_node["os"] is None  # not in the fake tree
    assert "pi-fake: Raspberry Pi 4 Model B Rev 1.5" in proc.stdout  # its progress line

    dry = out["dry"]
    assert dry["changed"] is True and dry["path"] is None
    assert dry["lab_progress"].startswith("report: would write 6 runs to a new folder in ")
    assert out["dry_one"]["lab_progress"].startswith("report: would write 1 run to a new folder in ")

    report = out["report"]
    assert report["changed"] is True
    folder = Path(report["path"])
    assert folder.parent == reports and folder.name.startswith("pi-")
    assert sorted(os.listdir(reports)) == sorted([folder.name, "latest-pi"])  # check mode wrote nothing
    assert (reports / "latest-pi").resolve() == folder.resolve()
    for name in ("index.html", "summary.md", "runs.csv", "summary.csv", "results.json"):
        assert Path(report["files"][name]).stat().st_size > 0
    assert report["lab_progress"].startswith("report: ") and "index.html" in report["lab_progress"]
    assert report["lab_progress"] in proc.stdout  # the progress callback prints it
    head = report["headline"]
    assert head["best_workers"] == 2 and head["speedup"] == pytest.approx((2.1 + 0.015) / (1.05 + 0.015), rel=1e-9)  # medians of reps 1, 2

    html = (folder / "index.html").read_text()
    assert "&lt;b&gt;host&lt;/b&gt;" in html and "<b>host</b>" not in html
    assert html.count("<svg") >= 4
    data = json.loads((folder / "results.json").read_text())
    assert data["context"]["nodes"][0]["hostname"] == node["node"]["hostname"]
    # The module gathers the context: the backend, the node read before and after, tool versions.
    assert data["context"]["backend"] == "local" and data["context"]["nodes"][0]["after"]["hostname"]
    assert data["context"]["tools"]["python"].count(".") == 2
    assert len(data["runs"]) == 6


IMPORT_PLAYBOOK = """\
---
- name: Log import into a report
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: A reference time that is not a number is named as the user typed it
      lab_pi_import:
        path: "{{ log }}"
        reference_seconds: abc
      register: bad_reference
      failed_when: >-
        bad_reference is not failed
        or "pi_reference_seconds='abc' is not a number" not in bad_reference.msg

    - name: Import the log
      lab_pi_import:
        path: "{{ log }}"
        reference_seconds: "1.52"
      register: imported

    - name: Import a log with one line of each kind
      lab_pi_import:
        path: "{{ one_log }}"
      register: one_of_each

    - name: Write its report (extra as the module returned it)
      lab_report:
        reports_dir: "{{ reports_dir }}"
        workload: pi
        backend: imported log
        runs: "{{ imported.runs }}"
        parameters: "{{ imported.parameters }}"
        extra: "{{ imported.extra }}"
      register: report

    - name: Save what the modules returned
      ansible.builtin.copy:
        content: "{{ {'imported': imported, 'one_of_each': one_of_each, 'report': report} | to_json }}"
        dest: "{{ out_file }}"
        mode: "0600"
"""


def test_an_imported_log_shows_what_it_skipped(tmp_path: Path) -> None:
    log = tmp_path / "pods.log"
    log.write_text(
        "2026-11-26T12:00:00.123456789Z Node raspi-1: π ≈ 3.141592, Time: 5.62s\n"
        "[pod/pi-job-1/pi] 2026-11-26T12:00:00.2Z Node raspi-2: π ≈ 3.141013, Time: 5.70s\n"
        'Error from server (NotFound): pods "pi-job-2" not found\n'
        "Node raspi-3: π ≈ oops, Time: 5.1s\n",
        encoding="utf-8")
    one_log = tmp_path / "one.log"
    one_log.write_text(
        'RESULT {"schema":1,"workload":"pi","run_id":"a","index":0,"count":1,"node":"n0","t_start_ns":0,'
        '"t_end_ns":2000000000,"compute_s":1.0,"samples":1000,"inside":785,"seed":1,"kernel":"numpy"}\n'
        "Node raspi-1: π ≈ 3.141592, Time: 5.62s\n", encoding="utf-8")
    playbook = tmp_path / "import.yml"
    playbook.write_text(IMPORT_PLAYBOOK)
    out_file = tmp_path / "out.json"
    proc = run_playbook(str(playbook), extra_vars={"log": str(log), "one_log": str(one_log),
                                                   "reports_dir": str(tmp_path / "reports"),
                                                   "out_file": str(out_file)}, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = json.loads(out_file.read_text())
    imported = out["imported"]
    assert imported["lab_progress"] == "import: 0 RESULT lines, 2 legacy lines, 1 malformed, 1 not recognised"
    assert out["one_of_each"]["lab_progress"] == "import: 1 RESULT line, 1 legacy line, 0 malformed, 0 not recognised"
    assert imported["legacy_lines"] == 2 and imported["legacy"]["reference_s"] == 1.52  # timestamps read
    html = (Path(out["report"]["path"]) / "index.html").read_text()
    assert "<h2>Skipped input lines</h2>" in html
    assert "Error from server (NotFound)" in html and "unparsable number" in html
    exact = html.split("<h3>Exact parameters</h3>")[1].split("</table>")[0]
    assert "malformed" not in exact
