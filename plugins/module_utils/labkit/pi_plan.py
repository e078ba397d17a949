"""Planning the Monte Carlo π scaling experiment: validated parameters → ordered runs.

A run is one (mode, N, repetition) point executed once (docs/ARCHITECTURE.md).
Strong scaling splits a fixed total W over N workers; weak scaling gives each
of N workers a fixed W₁. Repetitions run in a shuffled order so that drift
(heat, background load) spreads over every N instead of biasing one; one
warm-up run goes first, flagged and kept, but left out of the statistics.
"""
from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

from .backends import WorkItem
from .runs import PlannedRun
from .params import MAX_LOCAL_WORKERS_PER_CORE, ParameterError, parse_bool, parse_choice, is_unset, parse_int, parse_workers

KERNELS = ("python", "numpy")
SCALINGS = ("strong", "weak", "both")
MAX_SAMPLES = 10**13
MAX_REPETITIONS = 100
# Default totals give about a second per strong-scaling point on one core.
DEFAULT_SAMPLES = {"numpy": 100_000_000, "python": 10_000_000}


@dataclass(frozen=True)
class PiParameters:
    samples: int
    samples_per_worker: int
    workers: list[int]
    repetitions: int
    kernel: str
    scaling: str
    seed: int
    warmup: bool
    cores: int

    @property
    def modes(self) -> list[str]:
        return ["strong", "weak"] if self.scaling == "both" else [self.scaling]


def default_workers(cores: int) -> list[int]:
    """1, 2, 4, … up to the core count, and the core count itself."""
    counts = {1, cores}
    n = 2
    while n < cores:
        counts.add(n)
        n *= 2
    return sorted(counts)


# Where the workers' Python runs, as the numpy refusal names it, and how to get numpy there.
CONTROLLER_PYTHON = "the controller's Python"
CONTROLLER_NUMPY_FIX = "run ./lab setup"


def validate(raw: dict[str, Any], cores: int, numpy_available: bool, *, numpy_where: str = CONTROLLER_PYTHON,
             numpy_fix: str = CONTROLLER_NUMPY_FIX) -> PiParameters:
    """Check every user parameter; raise ParameterError naming the first bad one.

    `numpy_available` says whether the workers' Python has numpy, `numpy_where` where that
    Python is (the controller's, a worker image) and `numpy_fix` how to get numpy there.
    """
    if cores < 1:
        raise ParameterError(f"cores={cores!r}: could not count the controller's CPU cores")

    def given(name: str) -> bool:
        return not is_unset(raw.get(name))

    def required(name: str) -> Any:
        # The role's defaults/main.yml is the one source of defaults; only values worked out
        # from the machine (kernel, workers, samples) are chosen here when left empty.
        if not given(name):
            raise ParameterError(f"{name} is required (roles/pi/defaults/main.yml gives it a default)")
        return raw[name]

    kernel = parse_choice("pi_kernel", raw["pi_kernel"], KERNELS) if given("pi_kernel") else (
        "numpy" if numpy_available else "python")
    if kernel == "numpy" and not numpy_available:
        raise ParameterError(f"pi_kernel=numpy but {numpy_where} has no numpy: "
                             f"use -e pi_kernel=python, or {numpy_fix}")
    max_workers = MAX_LOCAL_WORKERS_PER_CORE * cores
    workers = (parse_workers("pi_workers", raw.get("pi_workers"), maximum=max_workers, many=True,
                             automatic="1, 2, 4 … up to the cores") or default_workers(cores))
    samples = (parse_int("pi_samples", raw["pi_samples"], minimum=1, maximum=MAX_SAMPLES)
               if given("pi_samples") else DEFAULT_SAMPLES[kernel])
    if samples < max(workers):
        raise ParameterError(f"pi_samples={raw.get('pi_samples')!r} is smaller than the largest worker count "
                             f"({max(workers)}): every worker needs at least one sample")
    per_worker = (parse_int("pi_samples_per_worker", raw["pi_samples_per_worker"], minimum=1,
                            maximum=MAX_SAMPLES) if given("pi_samples_per_worker")
                  else max(1, samples // max(workers)))
    return PiParameters(
        samples=samples,
        samples_per_worker=per_worker,
        workers=workers,
        repetitions=parse_int("pi_repetitions", required("pi_repetitions"), minimum=1, maximum=MAX_REPETITIONS),
        kernel=kernel,
        scaling=parse_choice("pi_scaling", required("pi_scaling"), SCALINGS),
        seed=parse_int("pi_seed", required("pi_seed"), minimum=0),
        warmup=parse_bool("pi_warmup", required("pi_warmup")),
        cores=cores,
    )


def run_work(params: PiParameters, mode: str, workers: int) -> int:
    """Total samples of one run: fixed W for strong, N·W₁ for weak."""
    return params.samples if mode == "strong" else workers * params.samples_per_worker


def plan_runs(params: PiParameters, experiment_id: str) -> list[PlannedRun]:
    """Every run of the experiment in execution order, warm-up first."""
    points = [(mode, n, rep) for mode in params.modes for n in params.workers
              for rep in range(1, params.repetitions + 1)]
    random.Random(params.seed).shuffle(points)
    if params.warmup:
        points.insert(0, (params.modes[0], max(params.workers), 0))
    runs = []
    total = len(points)
    for order, (mode, n, rep) in enumerate(points, start=1):
        warmup = rep == 0
        run_id = f"{experiment_id}-{mode}-n{n}-" + ("warmup" if warmup else f"r{rep}")
        rep_text = "warm-up" if warmup else f"rep {rep}/{params.repetitions}"
        runs.append(PlannedRun(
            run_id=run_id,
            workload="pi",
            mode=mode,
            workers=n,
            repetition=rep,
            warmup=warmup,
            order=order,
            work=run_work(params, mode, n),
            seed=params.seed + order,
            oversubscribed=n > params.cores,
            label=f"[{order}/{total}] {mode} N={n} {rep_text}",
        ))
    return runs


def work_items(run: PlannedRun, python: str, worker_path: str, kernel: str) -> list[WorkItem]:
    """One work item per worker of the run (argument lists: no shell anywhere)."""
    return [WorkItem(name=f"worker {i}", index=i,
                     argv=(python, worker_path, "--index", str(i), "--count", str(run.workers),
                           "--samples", str(run.work), "--seed", str(run.seed), "--run-id", run.run_id,
                           "--kernel", kernel)) for i in range(run.workers)]


def plan(raw: dict[str, Any], *, cores: int, numpy_available: bool, experiment_id: str,
         python: str, worker_path: str, numpy_where: str = CONTROLLER_PYTHON,
         numpy_fix: str = CONTROLLER_NUMPY_FIX) -> dict[str, Any]:
    """Validated parameters and the ordered runs, each with its worker command lines."""
    params = validate(raw, cores, numpy_available, numpy_where=numpy_where, numpy_fix=numpy_fix)
    runs = plan_runs(params, experiment_id)
    for run in runs:
        run.items = [item.to_dict() for item in work_items(run, python, worker_path, params.kernel)]
    return {"parameters": asdict(params) | {"modes": params.modes},
            "runs": [run.to_dict() for run in runs]}
