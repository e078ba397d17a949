#!/usr/bin/env python3
"""Monte Carlo π worker: one share of the samples, one RESULT line.

The same file runs as a local process, on an ssh host and in a python:3.x-slim
pod (shipped in a ConfigMap), so it uses the standard library only; numpy is an
optional faster kernel where it is installed.

Worker i of N computes its own share of the total: the shares differ by at
most one sample and sum exactly to the total, so no sample is counted twice or
lost. Each (seed, index) gets its own reproducible random stream.

    pi_worker.py --index 0 --count 4 --samples 40000000 --seed 1 --run-id demo
    RESULT {"schema": 1, "workload": "pi", ...}

The index defaults to $JOB_COMPLETION_INDEX (Kubernetes Indexed Jobs).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import socket
import sys
import time
from typing import Callable

SCHEMA = 1
KERNELS = ("python", "numpy", "auto")
# numpy draws this many points per chunk: 2 × 512 KiB of doubles stay in a core's L2 cache,
# so the kernel is bound by arithmetic, not memory bandwidth shared between workers.
NUMPY_CHUNK = 1 << 16


def share(index: int, count: int, total: int) -> int:
    """Samples for worker `index` of `count`: the first total % count workers take one extra."""
    if not 0 <= index < count:
        raise ValueError(f"index {index} is outside 0..{count - 1}")
    base, extra = divmod(total, count)
    return base + (1 if index < extra else 0)


def stream_seed(seed: int, index: int) -> int:
    """A 128-bit seed for worker `index`, derived from the run's seed by hashing (stable across Pythons)."""
    digest = hashlib.sha256(f"pi-worker:{seed}:{index}".encode()).digest()
    return int.from_bytes(digest[:16], "big")


def count_inside_python(samples: int, seed: int, index: int) -> int:
    """The seed guide's loop: draw x, y in [0, 1) and count x² + y² ≤ 1."""
    rnd = random.Random(stream_seed(seed, index)).random
    inside = 0
    for _ in range(samples):
        x, y = rnd(), rnd()
        if x * x + y * y <= 1.0:
            inside += 1
    return inside


def count_inside_numpy(samples: int, seed: int, index: int) -> int:
    """Vectorised in bounded-memory chunks; SeedSequence.spawn gives independent streams."""
    import numpy as np

    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(index + 1)[index])
    inside = 0
    remaining = samples
    while remaining > 0:
        n = min(remaining, NUMPY_CHUNK)
        x = rng.random(n)
        y = rng.random(n)
        # In place: no temporaries beyond the two chunk buffers.
        np.multiply(x, x, out=x)
        np.multiply(y, y, out=y)
        np.add(x, y, out=x)
        inside += int(np.count_nonzero(x <= 1.0))
        remaining -= n
    return inside


def numpy_available() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


def select_kernel(name: str) -> tuple[str, Callable[[int, int, int], int]]:
    if name == "auto":
        name = "numpy" if numpy_available() else "python"
    if name == "numpy":
        if not numpy_available():
            raise ValueError("kernel 'numpy' was asked for, but numpy is not installed for " + sys.executable)
        return name, count_inside_numpy
    if name == "python":
        return name, count_inside_python
    raise ValueError(f"unknown kernel {name!r}; expected one of {', '.join(KERNELS)}")


def run(index: int, count: int, total: int, seed: int, run_id: str, kernel: str) -> dict:
    """Compute this worker's share and return its result record (DESIGN §3)."""
    kernel_name, count_inside = select_kernel(kernel)
    samples = share(index, count, total)
    t_start_ns = time.time_ns()
    mono_start = time.perf_counter()
    inside = count_inside(samples, seed, index)
    compute_s = time.perf_counter() - mono_start
    t_end_ns = time.time_ns()
    record = {
        "schema": SCHEMA,
        "workload": "pi",
        "run_id": run_id,
        "index": index,
        "count": count,
        "node": os.environ.get("NODE_NAME") or socket.gethostname(),
        "t_start_ns": t_start_ns,
        "t_end_ns": t_end_ns,
        "compute_s": compute_s,
        "samples": samples,
        "inside": inside,
        "seed": seed,
        "kernel": kernel_name,
    }
    if os.environ.get("POD_NAME"):
        record["pod"] = os.environ["POD_NAME"]
    return record


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Monte Carlo π worker: prints one RESULT line.")
    parser.add_argument("--index", type=int, default=None,
                        help="this worker's index, 0-based (default: $JOB_COMPLETION_INDEX)")
    parser.add_argument("--count", type=positive_int, required=True, help="number of workers")
    parser.add_argument("--samples", type=positive_int, required=True, help="total samples over all workers")
    parser.add_argument("--seed", type=int, default=1, help="the run's seed")
    parser.add_argument("--run-id", default="adhoc", help="experiment run this result belongs to")
    parser.add_argument("--kernel", choices=KERNELS, default="auto")
    args = parser.parse_args(argv)
    if args.index is None:
        env_index = os.environ.get("JOB_COMPLETION_INDEX")
        if env_index is None:
            parser.error("--index is required when $JOB_COMPLETION_INDEX is not set")
        args.index = int(env_index)
    if not 0 <= args.index < args.count:
        parser.error(f"--index {args.index} is outside 0..{args.count - 1}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        record = run(args.index, args.count, args.samples, args.seed, args.run_id, args.kernel)
    except ValueError as err:
        print(f"pi_worker: {err}", file=sys.stderr)
        return 2
    print("RESULT " + json.dumps(record, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
