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

The python kernel is the seed guide's loop. The numpy kernel draws one 64-bit integer per
sample, takes it as a cell of a 2^31 × 2^31 grid over the unit square and counts the cell
inside when its centre is in the quarter disc, in exact integer arithmetic (count_cells_inside).

    pi_worker.py --index 0 --count 1 --autorange 0.25 --kernel numpy

calibrates one core: the sample count grows from 2^16 until one call lasts 0.25 s, that size is
timed twice more, and the RESULT of the fastest call (with "autorange": true) gives the samples
per second.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable

SCHEMA = 1
KERNELS = ("python", "numpy", "auto")
# numpy draws this many points per chunk: the chunk's draw and two work buffers (3 × 256 KiB of
# uint64) stay in a core's L2 cache, so the kernel is bound by the generator and the arithmetic,
# not by memory bandwidth shared between workers. The count does not depend on it.
NUMPY_CHUNK = 1 << 15
# The numpy kernel's grid: 2^31 × 2^31 cells over the unit square, two 31-bit coordinates from
# one 64-bit draw (split_coordinates).
COORD_BITS = 31
# --autorange: the first call's sample count, and how much one step may grow it.
AUTORANGE_START = 1 << 16
AUTORANGE_MAX_STEP = 10.0
# A step aims this far past the target, so that the next call is usually the last.
AUTORANGE_AIM = 1.2
# The call that lasts long enough is timed this many times in all and the fastest kept (timeit's
# rule): a burst of other load during one call then does not shrink the rate, and so W.
AUTORANGE_REPEATS = 3


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


def split_coordinates(raw, y) -> None:
    """Split 64-bit draws into two 31-bit cell coordinates, in place: x = bits 33..63 (raw >> 33)
    stays in `raw`, y = bits 0..30 (raw & (2^31 − 1)) goes to `y`; bits 31 and 32 are not used.
    (Top and bottom bits: one shift and one mask, no mask needed for x.)"""
    import numpy as np

    np.bitwise_and(raw, np.uint64((1 << COORD_BITS) - 1), out=y)
    np.right_shift(raw, np.uint64(64 - COORD_BITS), out=raw)


def count_cells_inside(x, y, tmp, bits: int = COORD_BITS) -> int:
    """How many of the cells (x[i], y[i]) of a 2^bits × 2^bits grid count as inside the quarter disc.

    A cell is inside when its centre is in the closed quarter disc of radius R = 2^bits:
    (x + ½)² + (y + ½)² ≤ R², that is x(x + 1) + y(y + 1) + ½ ≤ R², and as the left side
    without the ½ is an integer, x(x + 1) + y(y + 1) < R². Exact in uint64 for bits ≤ 31:
    x ≤ R − 1 gives x + 1 ≤ R and x(x + 1) ≤ R² − R < 2^62, so the sum stays below 2^63.
    x, y and tmp are uint64 arrays of one length; all three are overwritten.
    """
    import numpy as np

    if not 0 < bits <= COORD_BITS:
        raise ValueError(f"bits must be 1..{COORD_BITS}, not {bits}")
    one = np.uint64(1)
    np.add(x, one, out=tmp)
    np.multiply(x, tmp, out=x)
    np.add(y, one, out=tmp)
    np.multiply(y, tmp, out=y)
    np.add(x, y, out=x)
    return int(np.count_nonzero(x < np.uint64(1 << (2 * bits))))


def count_inside_numpy(samples: int, seed: int, index: int) -> int:
    """One 64-bit draw per sample, split into a cell of the 2^31 × 2^31 grid and tested exactly
    (count_cells_inside), in bounded-memory chunks; SeedSequence.spawn gives independent streams.

    The cells' centres make the expected inside/samples differ from π/4 by less than 2^-30: only the
    cells the arc cuts can be counted wrongly, and a monotone arc cuts fewer than 2 × 2^31 of them.
    The draws are consecutive whatever the chunk size, so the count does not depend on NUMPY_CHUNK.
    """
    import numpy as np

    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(index + 1)[index])
    draw = rng.bit_generator.random_raw
    y_buffer = np.empty(min(samples, NUMPY_CHUNK), dtype=np.uint64)
    tmp_buffer = np.empty_like(y_buffer)
    inside = 0
    remaining = samples
    while remaining > 0:
        n = min(remaining, NUMPY_CHUNK)
        # A fresh uint64 array of n draws (the generator has no out=); everything else is in place.
        x = draw(n)
        y, tmp = y_buffer[:n], tmp_buffer[:n]
        split_coordinates(x, y)
        inside += count_cells_inside(x, y, tmp)
        remaining -= n
    return inside


def numpy_available() -> bool:
    """Import numpy and numpy.random now, so that a run's timing (and compute_s) does not include it."""
    # The kernel uses no BLAS: without this, OpenBLAS starts a thread per core on import
    # (≈ 8 ms of a worker's start here), in every worker.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        import numpy.random  # noqa: F401
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


def timed(count_inside: Callable[[int, int, int], int], samples: int, seed: int,
          index: int) -> tuple[int, int, int, float]:
    """(inside, t_start_ns, t_end_ns, compute_s) of one kernel call."""
    t_start_ns = time.time_ns()
    mono_start = time.perf_counter()
    inside = count_inside(samples, seed, index)
    compute_s = time.perf_counter() - mono_start
    return inside, t_start_ns, time.time_ns(), compute_s


def autorange(count_inside: Callable[[int, int, int], int], target_s: float, seed: int,
              index: int) -> tuple[int, tuple[int, int, int, float]]:
    """Grow the sample count until one call lasts at least target_s: (samples, timed() of the fastest
    of AUTORANGE_REPEATS calls of that size).

    Each call starts the same (seed, index) stream. The next count aims at AUTORANGE_AIM × target_s
    at the rate just measured, at most AUTORANGE_MAX_STEP times the last (so more than 1.2 times).
    """
    samples = AUTORANGE_START
    while True:
        measured = timed(count_inside, samples, seed, index)
        compute_s = measured[3]
        if compute_s >= target_s:
            again = [timed(count_inside, samples, seed, index) for _ in range(AUTORANGE_REPEATS - 1)]
            return samples, min([measured, *again], key=lambda m: m[3])
        step = AUTORANGE_AIM * target_s / compute_s if compute_s > 0 else AUTORANGE_MAX_STEP
        samples = math.ceil(samples * min(step, AUTORANGE_MAX_STEP))


def hostname() -> str:
    # The name gethostname() gives (both read the kernel's nodename), without importing socket.
    return os.uname().nodename


def run(index: int, count: int, total: int | None, seed: int, run_id: str, kernel: str,
        autorange_s: float | None = None) -> dict:
    """Compute this worker's share and return its result record (DESIGN §3).

    With autorange_s (one worker only), the share is how many samples one call takes to last
    that long (autorange), and the record says "autorange": true.
    """
    kernel_name, count_inside = select_kernel(kernel)
    if autorange_s is not None:
        if (index, count) != (0, 1):
            raise ValueError(f"autorange measures one worker: index 0 of 1, not {index} of {count}")
        samples, (inside, t_start_ns, t_end_ns, compute_s) = autorange(count_inside, autorange_s, seed, index)
    elif total is None:
        raise ValueError("no total sample count was given")
    else:
        samples = share(index, count, total)
        inside, t_start_ns, t_end_ns, compute_s = timed(count_inside, samples, seed, index)
    record = {
        "schema": SCHEMA,
        "workload": "pi",
        "run_id": run_id,
        "index": index,
        "count": count,
        "node": os.environ.get("NODE_NAME") or hostname(),
        "t_start_ns": t_start_ns,
        "t_end_ns": t_end_ns,
        "compute_s": compute_s,
        "samples": samples,
        "inside": inside,
        "seed": seed,
        "kernel": kernel_name,
    }
    if autorange_s is not None:
        record["autorange"] = True
    if os.environ.get("POD_NAME"):
        record["pod"] = os.environ["POD_NAME"]
    return record


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def help_formatter(prog: str) -> argparse.HelpFormatter:
    # Given a width, argparse's formatter does not import shutil (with bz2, lzma, zlib and fnmatch:
    # ≈ 3 ms of a worker's start) to read the terminal's, which it does in every add_argument().
    # 78: what it finds when the output is not a terminal, as for every worker.
    return argparse.HelpFormatter(prog, width=78)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Monte Carlo π worker: prints one RESULT line.",
                                     formatter_class=help_formatter)
    parser.add_argument("--index", type=int, default=None,
                        help="this worker's index, 0-based (default: $JOB_COMPLETION_INDEX)")
    parser.add_argument("--count", type=positive_int, required=True, help="number of workers")
    parser.add_argument("--samples", type=positive_int, default=None,
                        help="total samples over all workers (required unless --autorange)")
    parser.add_argument("--autorange", type=positive_seconds, default=None, metavar="SECONDS",
                        help="calibrate one core (--count 1): grow the samples from 2^16 until one call "
                             "lasts SECONDS, print that call's RESULT (--samples is ignored)")
    parser.add_argument("--seed", type=int, default=1, help="the run's seed")
    parser.add_argument("--run-id", default="adhoc", help="experiment run this result belongs to")
    parser.add_argument("--kernel", choices=KERNELS, default="auto")
    args = parser.parse_args(argv)
    if args.autorange is not None:
        if args.count != 1:
            parser.error(f"--autorange measures one core: it needs --count 1 (and index 0), not --count {args.count}")
        args.samples = None
    elif args.samples is None:
        parser.error("--samples is required (unless --autorange)")
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
        record = run(args.index, args.count, args.samples, args.seed, args.run_id, args.kernel,
                     args.autorange)
    except ValueError as err:
        print(f"pi_worker: {err}", file=sys.stderr)
        return 2
    print("RESULT " + json.dumps(record, separators=(",", ":")), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
