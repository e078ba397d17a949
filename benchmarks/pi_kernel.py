#!/usr/bin/env python3
"""Benchmark: the π worker's kernels per core, and its start-up.

Prints the samples/s of one core for the seed guide's pure-Python loop (kernel `python`), the
previous numpy kernel (two doubles per sample, kept below as the baseline) and the current one
(one 64-bit draw per sample, exact integer test), with the ratios new/python and new/old; then
the worker's start-up: the median wall clock of processes that do one sample. The kernels run
in this process, in alternating rounds, and each ratio is the median of the rounds' own ratios,
so that load from other work on the machine hits all of them alike. Figures, not a pass/fail test.

    .venv/bin/python benchmarks/pi_kernel.py [--rounds 5] [--starts 20] [--baseline-worker OLD.py]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WORKER = REPO / "plugins" / "workers" / "pi_worker.py"
sys.path.insert(0, str(WORKER.parent))

import pi_worker  # noqa: E402

OLD_NUMPY_CHUNK = 1 << 16


def count_inside_numpy_two_doubles(samples: int, seed: int, index: int) -> int:
    """The numpy kernel before one-draw-per-sample (as committed in 4cd1aa6): two doubles per sample."""
    import numpy as np

    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(index + 1)[index])
    inside = 0
    remaining = samples
    while remaining > 0:
        n = min(remaining, OLD_NUMPY_CHUNK)
        x = rng.random(n)
        y = rng.random(n)
        # In place: no temporaries beyond the two chunk buffers.
        np.multiply(x, x, out=x)
        np.multiply(y, y, out=y)
        np.add(x, y, out=x)
        inside += int(np.count_nonzero(x <= 1.0))
        remaining -= n
    return inside


def rate(kernel, samples: int, seed: int) -> float:
    started = time.perf_counter()
    kernel(samples, seed, 0)
    return samples / (time.perf_counter() - started)


def kernels(rounds: int, seconds: float) -> None:
    # Sample counts that take about `seconds` each, from a short first measurement.
    candidates = {
        "python (the seed's loop)": pi_worker.count_inside_python,
        "numpy, old: two doubles": count_inside_numpy_two_doubles,
        "numpy, new: one uint64": pi_worker.count_inside_numpy,
    }
    for kernel in candidates.values():  # warm up: imports, first allocations
        rate(kernel, 200_000, 0)
    sizes = {name: max(10_000, int(seconds * rate(kernel, 500_000, 0))) for name, kernel in candidates.items()}
    rates: dict[str, list[float]] = {name: [] for name in candidates}
    for round_no in range(rounds):
        for name, kernel in candidates.items():
            rates[name].append(rate(kernel, sizes[name], round_no + 1))
    python, old, new = (rates[name] for name in candidates)
    print(f"kernels, one core, {rounds} alternating rounds (median; min–max), about {seconds:g} s a call:")
    for name, values in rates.items():
        print(f"  {name:26s} {statistics.median(values) / 1e6:8.2f} M samples/s "
              f"({min(values) / 1e6:.2f}–{max(values) / 1e6:.2f}; {sizes[name]:,} samples a call)")
    for label, num, den in (("new/python", new, python), ("new/old", new, old), ("old/python", old, python)):
        ratios = [a / b for a, b in zip(num, den)]
        print(f"  {label:11s} {statistics.median(ratios):7.2f}× (rounds: {', '.join(f'{r:.2f}' for r in ratios)})")


def wall(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, env=env, check=True)
    return time.perf_counter() - started


def startup(starts: int, baseline: Path | None) -> None:
    one_sample = ["--index", "0", "--count", "1", "--samples", "1"]
    commands = {"python -c pass (the interpreter alone)": [sys.executable, "-c", "pass"],
                "python -c 'import numpy.random'": [sys.executable, "-c", "import numpy.random"]}
    workers = {"worker": WORKER} | ({"baseline": baseline} if baseline else {})
    for label, path in workers.items():
        for kernel in ("python", "numpy"):
            commands[f"{label} --kernel {kernel}"] = [sys.executable, str(path), *one_sample, "--kernel", kernel]
    # What the worker's OPENBLAS_NUM_THREADS=1 saves: OpenBLAS starting a thread per core on import.
    cores = str(len(os.sched_getaffinity(0)))
    commands[f"worker --kernel numpy, OPENBLAS_NUM_THREADS={cores}"] = commands["worker --kernel numpy"]
    envs = {name: dict(os.environ, OPENBLAS_NUM_THREADS=cores) if "OPENBLAS" in name
            else {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"} for name in commands}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(starts):
        for name, argv in commands.items():
            times[name].append(wall(argv, envs[name]))
    print(f"\nstart-up: wall clock of `{Path(sys.executable).name} pi_worker.py {' '.join(one_sample)} --kernel K`, "
          f"{starts} alternating runs (median; quartiles)")
    for name, values in times.items():
        q1, _, q3 = statistics.quantiles(values)
        print(f"  {name:52s} {statistics.median(values) * 1e3:7.1f} ms ({q1 * 1e3:.1f}–{q3 * 1e3:.1f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the kernels")
    parser.add_argument("--seconds", type=float, default=0.3, help="about how long one kernel call lasts")
    parser.add_argument("--starts", type=int, default=20, help="worker processes started per command")
    parser.add_argument("--baseline-worker", type=Path, default=None,
                        help="another pi_worker.py (e.g. `git show HEAD~1:plugins/workers/pi_worker.py > old.py`) "
                             "whose start-up is measured side by side")
    args = parser.parse_args()
    print(f"{sys.executable}, numpy {__import__('numpy').__version__}, "
          f"{len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.2f}\n")
    kernels(args.rounds, args.seconds)
    startup(args.starts, args.baseline_worker)
    return 0


if __name__ == "__main__":
    sys.exit(main())
