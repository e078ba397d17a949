"""Planning the Monte Carlo π scaling experiment: validated parameters → ordered runs.

A run is one (mode, N, repetition) point executed once (docs/ARCHITECTURE.md).
Strong scaling splits a fixed total W over N workers; weak scaling gives each
of N workers a fixed W₁. Repetitions run in a shuffled order so that drift
(heat, background load) spreads over every N instead of biasing one; one
warm-up run goes first, flagged and kept, but left out of the statistics.
"""
from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Optional

from .backends import WorkItem
from .runs import PlannedRun
from .params import (MAX_LOCAL_WORKERS_PER_CORE, ParameterError, parse_bool, parse_choice, is_unset, parse_float,
                     parse_int, parse_workers)

KERNELS = ("python", "numpy")
SCALINGS = ("strong", "weak", "both")
MAX_SAMPLES = 10**13
MAX_REPETITIONS = 100
# Only for planning before the probe has run (check mode shows these runs): the real W is sized
# from the probe, so that T(1) lasts about pi_target_seconds on the machine at hand.
PROVISIONAL_SAMPLES = {"numpy": 100_000_000, "python": 10_000_000}
# The probe grows its sample count until one kernel call lasts this long (the worker's
# --autorange): long enough for a rate to within a few percent, short beside the runs.
PROBE_SECONDS = 0.25
PROBE_MODE = "probe"
MAX_TARGET_SECONDS = 3600.0
# A calibrated W is rounded to one of these mantissas × 10^k: at most 14 % off the target, and
# two calibrations on one machine (a few percent apart) usually land on the same W, so that
# their reports can be compared (labkit.compare refuses different W).
ROUND_MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
# Fewer samples than this per worker and start-up is all a run measures.
MIN_SAMPLES_PER_WORKER = 1000


def round_work(value: float) -> int:
    """The round number nearest to `value` (in ratio) among ROUND_MANTISSAS × 10^k."""
    if value < 1:
        return 1
    exponent = math.floor(math.log10(value))
    candidates = [m * 10 ** exponent for m in ROUND_MANTISSAS]
    return int(round(min(candidates, key=lambda c: abs(math.log(value / c)))))


def work_text(samples: int) -> str:
    """10⁸-style figures for the plan line and the report: 6×10⁸, 1.2×10⁹, 3000."""
    if samples < 10_000:
        return str(samples)
    exponent = int(math.floor(math.log10(samples)))
    mantissa = samples / 10 ** exponent
    superscript = str(exponent).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
    return (f"{mantissa:.3g}×" if mantissa != 1 else "") + f"10{superscript}"


@dataclass(frozen=True)
class Sizing:
    """How the work W (and W₁) was chosen, said in the plan line and the report."""

    how: str                            # given | calibrated | reference | provisional
    text: str
    target_s: Optional[float] = None
    rate_per_core: Optional[float] = None  # samples/s of one worker, from the probe
    probe_samples: Optional[int] = None
    probe_compute_s: Optional[float] = None
    probe_node: Optional[str] = None
    reference: Optional[str] = None      # the report whose W was taken


def probe_rate(probe: Mapping[str, Any]) -> tuple[float, int, float, str]:
    """(samples/s, samples, compute_s, node) from the probe worker's RESULT record."""
    try:
        samples, compute_s = int(probe["samples"]), float(probe["compute_s"])
    except (KeyError, TypeError, ValueError) as err:
        raise ParameterError(f"the probe's result has no usable samples and compute_s ({err}): {dict(probe)!r:.200}")
    if samples <= 0 or not compute_s > 0:
        raise ParameterError(f"the probe did {samples} samples in {compute_s} s: cannot size the work from that")
    return samples / compute_s, samples, compute_s, str(probe.get("host") or probe.get("node") or "?")


def size_work(target_s: float, probe: Mapping[str, Any], largest_n: int) -> tuple[int, Sizing]:
    """W such that one worker takes about target_s at the probe's rate, rounded (ROUND_MANTISSAS)."""
    rate, samples, compute_s, node = probe_rate(probe)
    work = min(MAX_SAMPLES, max(largest_n * MIN_SAMPLES_PER_WORKER, round_work(rate * target_s)))
    seconds = work / rate
    text = (f"W = {work_text(work)} samples, sized so that one worker takes about {target_s:g} s "
            f"(≈ {seconds:.2g} s: a probe did {rate / 1e6:.3g} M samples/s on one core of {node}; "
            f"pi_target_seconds={target_s:g}, or set pi_samples)")
    return work, Sizing("calibrated", text, target_s=target_s, rate_per_core=rate, probe_samples=samples,
                        probe_compute_s=compute_s, probe_node=node)


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
    target_seconds: float
    sizing: Sizing

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
             numpy_fix: str = CONTROLLER_NUMPY_FIX, probe: Optional[Mapping[str, Any]] = None,
             reference: Optional[Mapping[str, Any]] = None) -> PiParameters:
    """Check every user parameter; raise ParameterError naming the first bad one.

    `numpy_available` says whether the workers' Python has numpy, `numpy_where` where that
    Python is (the controller's, a worker image) and `numpy_fix` how to get numpy there.
    W, when pi_samples is empty, is taken from `reference` (the parameters of the report
    -e lab_compare_to names, with its `path`, so that the two are comparable), else sized
    from `probe` (the RESULT of one worker's --autorange run), else provisional: the caller
    runs probe_run() and plans again with its result.
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
    target_s = parse_float("pi_target_seconds", required("pi_target_seconds"), low=0.0, low_open=True,
                           high=MAX_TARGET_SECONDS)
    samples, per_worker, sizing = _work(raw, given, kernel, max(workers), target_s, probe, reference)
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
        target_seconds=target_s,
        sizing=sizing,
    )


def _work(raw: Mapping[str, Any], given: Any, kernel: str, largest_n: int, target_s: float,
          probe: Optional[Mapping[str, Any]], reference: Optional[Mapping[str, Any]]) -> tuple[int, int, Sizing]:
    """(W, W₁, how they were chosen): given, as the compared report, calibrated, or provisional."""
    per_worker_given = (parse_int("pi_samples_per_worker", raw["pi_samples_per_worker"], minimum=1,
                                  maximum=MAX_SAMPLES) if given("pi_samples_per_worker") else None)
    if given("pi_samples"):
        samples = parse_int("pi_samples", raw["pi_samples"], minimum=1, maximum=MAX_SAMPLES)
        if samples < largest_n:
            raise ParameterError(f"pi_samples={raw.get('pi_samples')!r} is smaller than the largest worker count "
                                 f"({largest_n}): every worker needs at least one sample")
        # Weak scaling's largest point then does as much work as strong scaling's total.
        per_worker = per_worker_given or max(1, samples // largest_n)
        return samples, per_worker, Sizing("given", f"W = {work_text(samples)} samples, as given (pi_samples)")
    if reference is not None:
        ref = reference.get("parameters") or {}
        samples, ref_per_worker = ref.get("samples"), ref.get("samples_per_worker")
        if not isinstance(samples, int) or not isinstance(ref_per_worker, int) or samples < largest_n:
            raise ParameterError(f"lab_compare_to={reference.get('path')!r}: that report gives no usable pi_samples "
                                 f"(W = {samples!r}); set -e pi_samples")
        return samples, per_worker_given or ref_per_worker, Sizing(
            "reference", f"W = {work_text(samples)} samples, W₁ = {work_text(ref_per_worker)}: as in "
                         f"{reference.get('path')} (lab_compare_to), so that the two runs are comparable",
            reference=str(reference.get("path")))
    if probe is not None:
        samples, sizing = size_work(target_s, probe, largest_n)
        # W₁ is sized alike: one weak-scaling worker also takes about the target.
        return samples, per_worker_given or samples, sizing
    samples = PROVISIONAL_SAMPLES[kernel]
    return samples, per_worker_given or max(1, samples // largest_n), Sizing(
        "provisional", f"W to be sized by a probe so that one worker takes about {target_s:g} s")


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


def probe_run(params: PiParameters, experiment_id: str, python: str, worker_path: str) -> PlannedRun:
    """One worker on one core, its sample count grown until a call lasts PROBE_SECONDS."""
    run = PlannedRun(run_id=f"{experiment_id}-{PROBE_MODE}", workload="pi", mode=PROBE_MODE, workers=1,
                     repetition=0, warmup=True, order=0, work=None, seed=params.seed,
                     label="probe: one worker on one core, to size W")
    run.items = [WorkItem(name="worker 0", index=0,
                          argv=(python, worker_path, "--index", "0", "--count", "1", "--autorange", str(PROBE_SECONDS),
                                "--seed", str(params.seed), "--run-id", run.run_id, "--kernel", params.kernel)
                          ).to_dict()]
    return run


def plan(raw: dict[str, Any], *, cores: int, numpy_available: bool, experiment_id: str,
         python: str, worker_path: str, numpy_where: str = CONTROLLER_PYTHON,
         numpy_fix: str = CONTROLLER_NUMPY_FIX, probe: Optional[Mapping[str, Any]] = None,
         reference: Optional[Mapping[str, Any]] = None) -> dict[str, Any]:
    """Validated parameters and the ordered runs, each with its worker command lines.

    `probe` is the run to execute first when W is still provisional (None otherwise): run it,
    then plan again with its RESULT record as `probe`.
    """
    params = validate(raw, cores, numpy_available, numpy_where=numpy_where, numpy_fix=numpy_fix, probe=probe,
                      reference=reference)
    runs = plan_runs(params, experiment_id)
    for run in runs:
        run.items = [item.to_dict() for item in work_items(run, python, worker_path, params.kernel)]
    pending = params.sizing.how == "provisional"
    # The report shows parameters as they are: the sentence on how W was chosen, and its figures apart.
    sizing = asdict(params.sizing)
    shown = asdict(params) | {"modes": params.modes, "sizing": sizing.pop("text"), "calibration": sizing}
    return {"parameters": shown,
            "runs": [run.to_dict() for run in runs],
            "probe": probe_run(params, experiment_id, python, worker_path).to_dict() if pending else None}
