"""bench-pi.yml for real on the embedded default: report files, exact sample accounting, π accuracy, bad input."""
from __future__ import annotations

import csv
import json
import math
import os
import re
from pathlib import Path

import pytest

from labtest import run_playbook

pytestmark = pytest.mark.integration

CORES = len(os.sched_getaffinity(0))
SMALL = {"pi_samples": 2_000_000, "pi_samples_per_worker": 500_000, "pi_repetitions": 2,
         "pi_workers": [1, 2], "pi_scaling": "both"}


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict:
    reports = tmp_path_factory.mktemp("reports")
    proc = run_playbook("bench-pi.yml", extra_vars=SMALL | {"pi_reports_dir": str(reports)})
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    latest = reports / "latest-pi"
    return {"proc": proc, "reports": reports, "folder": latest.resolve(),
            "results": json.loads((latest / "results.json").read_text())}


def test_the_report_folder_has_every_file_and_latest_points_to_it(bench: dict) -> None:
    folder: Path = bench["folder"]
    assert folder.name.startswith("pi-") and folder.parent == bench["reports"]
    for name in ("index.html", "summary.md", "runs.csv", "summary.csv", "results.json"):
        assert (folder / name).stat().st_size > 0, name
    html = (folder / "index.html").read_text()
    assert "<svg" in html and "https://" not in html.split("<body", 1)[1].split("href", 1)[0]
    assert "Report: " in bench["proc"].stdout and str(folder) in bench["proc"].stdout


def test_progress_lines_name_every_run(bench: dict) -> None:
    # 2 modes × 2 N × 2 repetitions + 1 warm-up.
    lines = [line for line in bench["proc"].stdout.splitlines() if re.search(r"\d+/\d+ results? in ", line)]
    assert len(lines) == 9
    assert "warm-up" in lines[0] and all("/9]" in line for line in lines)


def test_every_sample_is_counted_exactly_once(bench: dict) -> None:
    runs = bench["results"]["runs"]
    assert len(runs) == 9
    for run in runs:
        samples = [r["samples"] for r in run["results"]]
        assert sum(samples) == run["work"], run["run_id"]
        assert sorted(r["index"] for r in run["results"]) == list(range(run["workers"]))
        expected = SMALL["pi_samples"] if run["mode"] == "strong" else run["workers"] * 500_000
        assert run["work"] == expected
        assert len({r["seed"] for r in run["results"]}) == 1  # one run seed; streams differ by index


def test_the_pooled_estimate_is_within_five_standard_errors(bench: dict) -> None:
    results = [r for run in bench["results"]["runs"] for r in run["results"]]
    inside = sum(r["inside"] for r in results)
    n = sum(r["samples"] for r in results)
    p = math.pi / 4
    standard_error = 4 * math.sqrt(p * (1 - p) / n)
    assert abs(4 * inside / n - math.pi) < 5 * standard_error


def test_summary_rows_and_the_warmup_flag(bench: dict) -> None:
    with open(bench["folder"] / "summary.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {(r["mode"], r["workers"]) for r in rows} == {("strong", "1"), ("strong", "2"), ("weak", "1"), ("weak", "2")}
    assert all(r["runs"] == "2" for r in rows)  # the warm-up is kept but not counted
    with open(bench["folder"] / "runs.csv", newline="") as handle:
        warm = [r for r in csv.DictReader(handle) if r["warmup"].lower() == "true"]
    assert len(warm) == 2 and {r["repetition"] for r in warm} == {"0"}  # one warm-up run of N=2
    strong2 = next(r for r in bench["results"]["summary"] if r["mode"] == "strong" and r["workers"] == 2)
    assert strong2["speedup"] == pytest.approx(
        next(r for r in bench["results"]["summary"] if r["mode"] == "strong" and r["workers"] == 1)["t_median_s"]
        / strong2["t_median_s"])


def test_a_second_run_makes_a_new_report_and_keeps_the_old(bench: dict) -> None:
    first: Path = bench["folder"]
    before = (first / "results.json").read_bytes()
    proc = run_playbook("bench-pi.yml", extra_vars={"pi_samples": 100_000, "pi_workers": [1], "pi_repetitions": 1,
                                                    "pi_scaling": "strong", "pi_warmup": False,
                                                    "pi_reports_dir": str(bench["reports"])})
    assert proc.returncode == 0, proc.stdout[-3000:]
    newest = (bench["reports"] / "latest-pi").resolve()
    assert newest != first and (first / "results.json").read_bytes() == before


@pytest.mark.skipif(CORES > 4, reason="needs a worker count above the cores")
def test_more_workers_than_cores_are_run_and_labelled_oversubscribed(tmp_path: Path) -> None:
    n = CORES + 1
    proc = run_playbook("bench-pi.yml", extra_vars={"pi_samples": 200_000, "pi_workers": [1, n], "pi_repetitions": 1,
                                                    "pi_scaling": "strong", "pi_reports_dir": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "(oversubscribed)" in proc.stdout
    summary = json.loads((tmp_path / "latest-pi" / "results.json").read_text())["summary"]
    assert {r["workers"]: r["oversubscribed"] for r in summary} == {1: False, n: True}


@pytest.mark.parametrize("extra,message", [
    ({"pi_samples": "many"}, "pi_samples='many' is not a whole number"),
    ({"pi_samples": 0}, "pi_samples=0 must be at least 1"),
    ({"pi_repetitions": -2}, "pi_repetitions=-2 must be at least 1"),
    ({"pi_kernel": "quantum"}, "pi_kernel='quantum' is not one of: python, numpy"),
    ({"pi_workers": "1,100000"}, "'100000' must be at most"),
    ({"pi_scaling": "diagonal"}, "pi_scaling='diagonal' is not one of"),
    ({"pi_import_logs": "/nonexistent/pods.log"}, "pi_import_logs='/nonexistent/pods.log': no such file"),
    ({"pi_target_seconds": "soon"}, "pi_target_seconds='soon' is not a number"),
    ({"lab_compare_to": "/nonexistent/report"}, "lab_compare_to: /nonexistent/report: no such report"),
    ({"cluster_backend": "k3s", "pi_k3s_kubeconfig": "/nonexistent/kubeconfig.yaml"},
     "No kubeconfig at /nonexistent/kubeconfig.yaml: run `ansible-playbook site.yml"),
])
def test_bad_input_stops_before_anything_runs(tmp_path: Path, extra: dict, message: str) -> None:
    reports = tmp_path / "reports"
    proc = run_playbook("bench-pi.yml", extra_vars=extra | {"pi_reports_dir": str(reports)})
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert message in output
    assert "Traceback" not in output
    assert "results in" not in output  # no run started
    assert not reports.exists()


def test_importing_seed_001_logs_reports_both_figures(tmp_path: Path) -> None:
    log = tmp_path / "kubectl logs é.txt"
    log.write_text("Node raspi-2025-gray: π ≈ 3.141592, Time: 5.62s\n"
                   "Node raspi-2025-black: π ≈ 3.141013, Time: 5.70s\n"
                   "Node raspi-2025-blue: π ≈ 3.142301, Time: 5.78s\n"
                   "Node broken: π ≈ ?, Time: s\n"
                   'Error from server (NotFound): pods "pi-job-4" not found\n', encoding="utf-8")
    proc = run_playbook("bench-pi.yml", extra_vars={"pi_import_logs": str(log), "pi_reference_seconds": 1.52,
                                                    "pi_reports_dir": str(tmp_path / "r")})
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert "import: 0 RESULT lines, 3 legacy lines, 1 malformed, 1 not recognised" in proc.stdout
    results = json.loads((tmp_path / "r" / "latest-pi" / "results.json").read_text())
    legacy = results["legacy"]
    assert legacy["nodes"] == 3
    assert legacy["seed_linear_ratio"] == pytest.approx(3 * 5.70 / 1.52)
    assert legacy["throughput_vs_reference"] == pytest.approx(3 * 1.52 / 5.78)
    html = (tmp_path / "r" / "latest-pi" / "index.html").read_text()
    assert "seed 001" in html.lower()
    # What the import left out is in the page, each line with why (the role passes lab_pi_import's extra on).
    assert results["skipped_lines"]["total"] == 2
    skipped = html.split("<h2>Skipped input lines</h2>", 1)[1].split("</section>", 1)[0]
    assert "2 lines of" in skipped and "1 malformed, 1 not recognised" in skipped
    assert "Node broken" in skipped and "Error from server (NotFound)" in skipped


def test_without_pi_samples_a_probe_sizes_w_to_the_target_and_the_report_says_so(tmp_path: Path) -> None:
    target = 0.4
    proc = run_playbook("bench-pi.yml", extra_vars={"pi_workers": [1, 2], "pi_repetitions": 2, "pi_scaling": "both",
                                                    "pi_target_seconds": target,
                                                    "pi_reports_dir": str(tmp_path / "reports")})
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-3000:]
    results = json.loads((tmp_path / "reports" / "latest-pi" / "results.json").read_text())
    params = results["context"]["parameters"]
    calibration = params["calibration"]
    assert calibration["how"] == "calibrated" and calibration["target_s"] == target
    # W is the probe's rate × the target, rounded to a round number (at most 14 % away).
    rate = calibration["probe_samples"] / calibration["probe_compute_s"]
    assert abs(rate - calibration["rate_per_core"]) < 1e-6 * rate
    # The fastest of three calls of a size at which one lasted the worker's quarter second (--autorange).
    assert 0.1 < calibration["probe_compute_s"] < 1.5
    assert 0.86 < params["samples"] / (rate * target) < 1.16
    assert params["samples_per_worker"] == params["samples"]
    for run in results["runs"]:  # the probe is not a run of the experiment
        assert run["work"] == (params["samples"] if run["mode"] == "strong" else run["workers"] * params["samples"])
    assert "sized so that one worker takes about 0.4 s" in params["sizing"]
    plan_line = next(line for line in proc.stdout.splitlines() if "plan: 9 runs" in line)
    assert "W = " in plan_line and "a probe did" in plan_line and "M samples/s on one core of" in plan_line
    assert "sized so that one worker takes about 0.4 s" in (tmp_path / "reports" / "latest-pi" / "index.html").read_text()
