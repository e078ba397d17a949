"""The π worker: exact shares, independent reproducible streams, one RESULT line."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pi_worker

WORKER = Path(pi_worker.__file__)


@pytest.mark.parametrize("count,total", [(1, 10), (3, 10), (4, 4), (7, 1_000_003), (16, 17)])
def test_shares_sum_exactly_to_the_total_and_differ_by_at_most_one(count: int, total: int) -> None:
    shares = [pi_worker.share(i, count, total) for i in range(count)]
    assert sum(shares) == total
    assert max(shares) - min(shares) <= 1


def test_share_of_ten_over_three_is_four_three_three() -> None:
    # divmod(10, 3) = (3, 1): the first worker takes the one extra sample.
    assert [pi_worker.share(i, 3, 10) for i in range(3)] == [4, 3, 3]


def test_share_rejects_an_index_outside_the_workers() -> None:
    with pytest.raises(ValueError, match="outside"):
        pi_worker.share(3, 3, 10)


@pytest.mark.parametrize("kernel", ["python", "numpy"])
def test_kernels_are_reproducible_per_seed_and_index(kernel: str) -> None:
    count = pi_worker.select_kernel(kernel)[1]
    assert count(20_000, 7, 0) == count(20_000, 7, 0)
    # Different workers of one run draw different streams.
    assert count(20_000, 7, 0) != count(20_000, 7, 1)


@pytest.mark.parametrize("kernel", ["python", "numpy"])
def test_a_kernel_estimates_pi_within_five_standard_errors(kernel: str) -> None:
    n = 200_000
    inside = pi_worker.select_kernel(kernel)[1](n, 11, 0)
    p = 3.141592653589793 / 4
    standard_error = 4 * (p * (1 - p) / n) ** 0.5  # ≈ 0.00367
    assert abs(4 * inside / n - 3.141592653589793) < 5 * standard_error


def test_numpy_kernel_handles_shares_larger_than_one_chunk() -> None:
    n = pi_worker.NUMPY_CHUNK * 2 + 5
    inside = pi_worker.count_inside_numpy(n, 3, 0)
    assert 0.77 * n < inside < 0.80 * n


def test_unknown_kernel_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown kernel 'gpu'"):
        pi_worker.select_kernel("gpu")


def run_worker(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(WORKER), *args], capture_output=True, text=True,
                          env=env, check=False)


def test_worker_prints_exactly_one_result_line_with_every_field() -> None:
    proc = run_worker("--index", "1", "--count", "3", "--samples", "1000", "--seed", "5",
                      "--run-id", "r1", "--kernel", "python")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("RESULT ")
    record = json.loads(lines[0][len("RESULT "):])
    assert record["schema"] == 1 and record["workload"] == "pi" and record["run_id"] == "r1"
    assert (record["index"], record["count"], record["samples"], record["seed"]) == (1, 3, 333, 5)
    assert 0 <= record["inside"] <= 333
    assert record["t_end_ns"] >= record["t_start_ns"] and record["compute_s"] >= 0
    assert record["kernel"] == "python" and record["node"]


def test_worker_takes_its_index_from_the_indexed_job_environment() -> None:
    env = {"JOB_COMPLETION_INDEX": "2", "PATH": "/usr/bin:/bin"}
    proc = run_worker("--count", "3", "--samples", "10", "--kernel", "python", env=env)
    record = json.loads(proc.stdout.split(" ", 1)[1])
    assert record["index"] == 2 and record["samples"] == 3


def test_worker_refuses_an_index_outside_the_count() -> None:
    proc = run_worker("--index", "3", "--count", "3", "--samples", "10")
    assert proc.returncode != 0 and "outside 0..2" in proc.stderr
    assert "RESULT" not in proc.stdout
