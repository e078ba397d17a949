"""Comparing two real bench-pi.yml runs: -e lab_compare_to puts the comparison into the new report,
./lab compare says a run is no different from itself and refuses runs of different work.

The work is small but not tiny: the python kernel does W = 10⁷ samples in about a second per
worker here, several times numpy's, so that the verdict "slower" does not hang on process
start-up noise. Times are never asserted, only verdicts.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from labtest import REPO, ansible_env, run_playbook

pytestmark = pytest.mark.integration

SMALL = {"pi_samples": 10_000_000, "pi_workers": [1, 2], "pi_repetitions": 3, "pi_scaling": "strong"}


def bench(reports: Path, **extra: Any) -> tuple[subprocess.CompletedProcess[str], Path]:
    proc = run_playbook("bench-pi.yml", extra_vars=SMALL | {"pi_reports_dir": str(reports)} | extra)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return proc, (reports / "latest-pi").resolve()


def lab_compare(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / "lab"), "compare", *args], cwd=cwd, env=ansible_env(), capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    reports = tmp_path_factory.mktemp("reports")
    _, a = bench(reports, pi_kernel="numpy")
    proc, b = bench(reports, pi_kernel="python", lab_compare_to=str(a))
    return {"reports": reports, "a": a, "b": b, "proc": proc}


def test_the_python_kernel_is_slower_at_every_point_in_b_s_report(runs: dict[str, Any]) -> None:
    block = json.loads((runs["b"] / "results.json").read_text())["comparison"]
    assert block["compared"] and not block["refused"] and block["a"]["path"] == str(runs["a"])
    assert [p["point"] for p in block["points"]] == ["strong N=1", "strong N=2"]
    for point in block["points"]:
        assert point["verdict"] == "slower" and point["ratio"] > 1 and point["ci_low"] > 1, point
        assert point["text"].endswith("× slower") and point["runs_a"] == point["runs_b"] == 3
    assert {"what": "parameters.kernel", "a": "numpy", "b": "python"} in block["differences"]
    assert f"Against {runs['a'].name}: 2 points (2 slower)" in runs["proc"].stdout
    page = (runs["b"] / "index.html").read_text()
    assert f"<h2>Compared with {runs['a'].name}</h2>" in page and "time ratio per point" in page
    assert f"### Compared with {runs['a'].name}" in (runs["b"] / "summary.md").read_text()


def test_lab_compare_says_a_run_is_no_different_from_itself(runs: dict[str, Any]) -> None:
    # A by its name, from the reports folder (found from where the command runs), and by its results.json.
    proc = lab_compare(runs["a"].name, str(runs["a"] / "results.json"), cwd=runs["reports"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("strong N=")]
    assert len(rows) == 2 and all(row.endswith("no significant difference") for row in rows), proc.stdout
    assert "What differs: nothing the reports record" in proc.stdout


def test_a_run_with_other_work_is_refused_with_the_reason(runs: dict[str, Any]) -> None:
    _, c = bench(runs["reports"], pi_kernel="numpy", pi_samples=2_000_000, pi_repetitions=1)
    proc = lab_compare(str(runs["a"]), str(c), cwd=runs["reports"])
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert ("not comparable: strong N=1: the total work differs (A: W = 10000000 samples, B: W = 2000000 samples)"
            in proc.stderr)
    assert "run B with -e pi_samples=10000000" in proc.stderr
    assert "parameters.samples 10000000 → 2000000" in proc.stdout
