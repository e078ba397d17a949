"""The π worker: exact shares, independent reproducible streams, one RESULT line, --autorange.

The numpy kernel's arithmetic is tested in test_pi_kernel.py."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import pi_worker
from labkit.results import validate_record

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
    assert "autorange" not in record
    assert validate_record(record) == record


def test_worker_takes_its_index_from_the_indexed_job_environment() -> None:
    env = {"JOB_COMPLETION_INDEX": "2", "PATH": "/usr/bin:/bin"}
    proc = run_worker("--count", "3", "--samples", "10", "--kernel", "python", env=env)
    record = json.loads(proc.stdout.split(" ", 1)[1])
    assert record["index"] == 2 and record["samples"] == 3


def test_worker_refuses_an_index_outside_the_count() -> None:
    proc = run_worker("--index", "3", "--count", "3", "--samples", "10")
    assert proc.returncode != 0 and "outside 0..2" in proc.stderr
    assert "RESULT" not in proc.stdout


def result_record(proc: subprocess.CompletedProcess[str]) -> dict:
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("RESULT ")
    return json.loads(lines[0][len("RESULT "):])


@pytest.mark.parametrize("kernel", ["python", "numpy"])
def test_autorange_prints_a_call_of_the_size_that_lasts_long_enough(kernel: str) -> None:
    proc = run_worker("--index", "0", "--count", "1", "--autorange", "0.05", "--seed", "4", "--run-id", "cal",
                      "--kernel", kernel)
    record = result_record(proc)
    assert validate_record(record) == record  # the extra key is accepted
    assert record["autorange"] is True and record["kernel"] == kernel and record["run_id"] == "cal"
    # One call of that size lasted 0.05 s; the fastest of three is printed, so it may be a bit shorter.
    assert 0.025 < record["compute_s"] and record["samples"] >= pi_worker.AUTORANGE_START
    assert (record["index"], record["count"], record["seed"]) == (0, 1, 4)
    # That call started the (seed, index) stream from its beginning: the same count in process.
    assert record["inside"] == pi_worker.select_kernel(kernel)[1](record["samples"], 4, 0)


def test_autorange_ignores_samples_and_takes_index_0_from_the_environment() -> None:
    env = {"JOB_COMPLETION_INDEX": "0", "PATH": "/usr/bin:/bin"}
    record = result_record(run_worker("--count", "1", "--samples", "5", "--autorange", "0.01",
                                      "--kernel", "python", env=env))
    assert record["autorange"] is True and record["samples"] >= pi_worker.AUTORANGE_START


def test_autorange_grows_by_at_most_ten_then_aims_past_the_target(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_timed(count_inside, samples: int, seed: int, index: int) -> tuple[int, int, int, float]:
        calls.append((samples, seed, index))
        return samples // 2, 0, 1, samples / 1e6  # one million samples a second

    monkeypatch.setattr(pi_worker, "timed", fake_timed)
    samples, measured = pi_worker.autorange(None, 1.0, 3, 0)
    # 2^16 takes 0.066 s: ×10 (capped) → 0.66 s: ×1.2/0.66 → 1.2 s ≥ 1 s, that size is the result,
    # timed twice more (the fastest of the three is kept).
    assert [c[0] for c in calls[:2]] == [65536, 655360]
    assert len(calls) == 5 and calls[2][0] == pytest.approx(1_200_000, abs=1) and calls[2] == calls[3] == calls[4]
    assert all(c[1:] == (3, 0) for c in calls)
    assert samples == calls[2][0] and measured == (samples // 2, 0, 1, samples / 1e6)


def test_autorange_steps_up_even_when_a_call_measures_no_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    def fake_timed(count_inside, samples: int, seed: int, index: int) -> tuple[int, int, int, float]:
        calls.append(samples)
        return 0, 0, 0, 0.0 if len(calls) < 3 else 2.0

    monkeypatch.setattr(pi_worker, "timed", fake_timed)
    assert pi_worker.autorange(None, 1.0, 1, 0)[0] == 6_553_600
    assert calls == [65536, 655360] + [6_553_600] * pi_worker.AUTORANGE_REPEATS


def test_autorange_keeps_the_fastest_call_of_the_final_size(monkeypatch: pytest.MonkeyPatch) -> None:
    times = iter([0.5, 2.0, 1.4, 1.1])  # the last three are the same size: 1.1 s is kept

    def fake_timed(count_inside, samples: int, seed: int, index: int) -> tuple[int, int, int, float]:
        return samples, 0, 0, next(times)

    monkeypatch.setattr(pi_worker, "timed", fake_timed)
    samples, measured = pi_worker.autorange(None, 1.0, 1, 0)
    assert samples == 157_287 and measured[3] == 1.1  # 2^16 × 1.2 / 0.5, rounded up


@pytest.mark.parametrize("args,message", [
    (["--index", "0", "--count", "2", "--autorange", "0.05"], "--autorange measures one core: it needs --count 1"),
    (["--index", "1", "--count", "1", "--autorange", "0.05"], "outside 0..0"),
    (["--index", "0", "--count", "1", "--autorange", "0"], "not a positive number of seconds"),
    (["--index", "0", "--count", "1", "--autorange", "-1"], "not a positive number of seconds"),
    (["--index", "0", "--count", "1", "--autorange", "inf"], "not a positive number of seconds"),
    (["--index", "0", "--count", "1", "--autorange", "soon"], "not a positive number of seconds"),
    (["--index", "0", "--count", "1"], "--samples is required (unless --autorange)"),
])
def test_bad_autorange_and_samples_combinations_are_refused(args: list[str], message: str) -> None:
    proc = run_worker(*args, "--kernel", "python")
    assert proc.returncode == 2 and message in proc.stderr
    assert "RESULT" not in proc.stdout


def test_run_refuses_autorange_for_more_than_one_worker() -> None:
    with pytest.raises(ValueError, match="index 0 of 1, not 1 of 2"):
        pi_worker.run(1, 2, None, 1, "r", "python", autorange_s=0.01)


def test_the_node_is_the_host_name_unless_kubernetes_gives_one(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.delenv("NODE_NAME", raising=False)
    assert pi_worker.run(0, 1, 10, 1, "r", "python")["node"] == socket.gethostname()
    monkeypatch.setenv("NODE_NAME", "k3s-node-2")
    assert pi_worker.run(0, 1, 10, 1, "r", "python")["node"] == "k3s-node-2"


def test_the_python_path_imports_only_what_it_uses() -> None:
    """Start-up: socket (the host name comes from os.uname), shutil (argparse's formatter is given a
    width) and typing are not imported. A guard against a regression, not a timing."""
    proc = subprocess.run([sys.executable, "-X", "importtime", str(WORKER), "--index", "0", "--count", "1",
                           "--samples", "1", "--kernel", "python"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.count("|") == 2}
    assert "random" in imported and "json" in imported  # the listing was read
    assert not imported & {"socket", "shutil", "typing"}


def test_selecting_numpy_imports_numpy_random_before_any_timing() -> None:
    code = ("import sys, pi_worker; pi_worker.select_kernel('numpy'); "
            "print('numpy.random' in sys.modules, pi_worker.os.environ.get('OPENBLAS_NUM_THREADS'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env={"PYTHONPATH": str(WORKER.parent), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "1"]
