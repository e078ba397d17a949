"""Planning the π experiment: defaults, validation, shuffled order, warm-up, worker commands."""
from __future__ import annotations

import pytest

import yaml
from labtest import REPO

from labkit.params import ParameterError
from labkit.pi_plan import PROBE_SECONDS, default_workers, plan, round_work, validate, work_text

# The role's defaults are the one source of defaults: planning gets them as the role passes them.
ROLE_DEFAULTS = {key: value for key, value in
                 yaml.safe_load((REPO / "roles/pi/defaults/main.yml").read_text(encoding="utf-8")).items()
                 if key in ("pi_samples", "pi_samples_per_worker", "pi_workers", "pi_repetitions", "pi_kernel",
                            "pi_scaling", "pi_seed", "pi_warmup", "pi_target_seconds")}


def make_plan(raw: dict, cores: int = 2, numpy_available: bool = True) -> dict:
    return plan(ROLE_DEFAULTS | raw, cores=cores, numpy_available=numpy_available, experiment_id="pi-x",
                python="/usr/bin/python3", worker_path="/w/pi_worker.py")


def test_default_workers_go_up_to_the_cores() -> None:
    assert default_workers(1) == [1]
    assert default_workers(2) == [1, 2]
    assert default_workers(6) == [1, 2, 4, 6]
    assert default_workers(8) == [1, 2, 4, 8]


def test_without_pi_samples_the_plan_asks_for_a_probe_of_the_chosen_kernel() -> None:
    result = make_plan({}, numpy_available=False)
    assert result["parameters"]["kernel"] == "python"
    assert result["parameters"]["calibration"]["how"] == "provisional"
    probe = result["probe"]
    assert probe["mode"] == "probe" and probe["workers"] == 1 and len(probe["items"]) == 1
    argv = probe["items"][0]["argv"]
    assert argv[argv.index("--autorange") + 1] == str(PROBE_SECONDS)
    assert argv[argv.index("--kernel") + 1] == "python" and "--samples" not in argv
    # Given W: no probe, and the plan line says where W came from.
    given = make_plan({"pi_samples": 4000})
    assert given["probe"] is None and given["parameters"]["calibration"]["how"] == "given"
    assert given["parameters"]["sizing"] == "W = 4000 samples, as given (pi_samples)"


def test_the_probe_sizes_w_so_that_one_worker_takes_about_the_target() -> None:
    # 2.1 × 10⁸ samples/s on one core: 3 s is 6.3 × 10⁸, rounded to 6 × 10⁸ (2.86 s).
    probe = {"samples": 2**26, "compute_s": 2**26 / 2.1e8, "node": "pi-1"}
    params = validate(ROLE_DEFAULTS | {"pi_workers": "1,2"}, cores=2, numpy_available=True, probe=probe)
    assert params.samples == 600_000_000 and params.samples_per_worker == 600_000_000
    assert params.sizing.how == "calibrated" and params.sizing.probe_node == "pi-1"
    assert abs(params.sizing.rate_per_core - 2.1e8) < 1
    assert "about 3 s" in params.sizing.text and "pi-1" in params.sizing.text and "6×10⁸" in params.sizing.text
    # The target scales W; a given W₁ is kept; W never drops below 1000 samples per worker.
    assert validate(ROLE_DEFAULTS | {"pi_target_seconds": "0.5"}, cores=2, numpy_available=True,
                    probe=probe).samples == 100_000_000
    kept = validate(ROLE_DEFAULTS | {"pi_samples_per_worker": 777}, cores=2, numpy_available=True, probe=probe)
    assert kept.samples_per_worker == 777
    slow = {"samples": 10, "compute_s": 1.0}
    assert validate(ROLE_DEFAULTS | {"pi_workers": "1,4"}, cores=4, numpy_available=True, probe=slow).samples == 4000


@pytest.mark.parametrize("probe,message", [
    ({"samples": 0, "compute_s": 1.0}, "cannot size the work"),
    ({"samples": 100, "compute_s": 0}, "cannot size the work"),
    ({"inside": 3}, "no usable samples and compute_s"),
])
def test_an_unusable_probe_is_named(probe: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        validate(ROLE_DEFAULTS, cores=2, numpy_available=True, probe=probe)


def test_a_bad_target_is_named() -> None:
    for value, message in (("soon", "pi_target_seconds='soon' is not a number"),
                           (0, "pi_target_seconds=0 must be a number greater than 0"),
                           (99999, "at most 3600")):
        with pytest.raises(ParameterError, match=message):
            validate(ROLE_DEFAULTS | {"pi_target_seconds": value}, cores=2, numpy_available=True)


def test_round_work_takes_the_nearest_round_number_and_writes_it_as_powers_of_ten() -> None:
    # Nearest in ratio: 6.9 is 15 % above 6 and 16 % below 8; 1.11 is nearer 1.2 than 1.
    assert [round_work(v) for v in (6.3e8, 6.9e8, 7.1e8, 1.09e9, 1.11e6, 1.4e6, 9.4e7, 0.2)] == [
        600_000_000, 600_000_000, 800_000_000, 1_000_000_000, 1_200_000, 1_500_000, 100_000_000, 1]
    # Two calibrations a few percent apart land on the same W (comparable reports).
    assert round_work(6.1e8) == round_work(6.4e8)
    assert work_text(600_000_000) == "6×10⁸" and work_text(1_200_000_000) == "1.2×10⁹"
    assert work_text(100_000_000) == "10⁸" and work_text(3000) == "3000"


def test_the_compared_report_gives_w_so_that_the_two_runs_are_comparable() -> None:
    reference = {"path": "reports/pi-1", "parameters": {"samples": 600_000_000, "samples_per_worker": 300_000_000}}
    params = validate(ROLE_DEFAULTS, cores=2, numpy_available=True, reference=reference)
    assert (params.samples, params.samples_per_worker, params.sizing.how) == (600_000_000, 300_000_000, "reference")
    assert "reports/pi-1" in params.sizing.text
    # A given pi_samples wins; a report without W is named.
    assert validate(ROLE_DEFAULTS | {"pi_samples": 5000}, cores=2, numpy_available=True,
                    reference=reference).samples == 5000
    with pytest.raises(ParameterError, match="lab_compare_to='old'.*set -e pi_samples"):
        validate(ROLE_DEFAULTS, cores=2, numpy_available=True, reference={"path": "old", "parameters": {}})


def test_given_samples_keep_the_old_weak_scaling_default() -> None:
    params = validate(ROLE_DEFAULTS | {"pi_samples": 10_000_000}, cores=2, numpy_available=False)
    # Weak scaling's largest point does as much work as strong scaling's total.
    assert params.kernel == "python" and params.samples_per_worker == 5_000_000


def test_plan_has_every_point_once_plus_one_warmup_first() -> None:
    result = make_plan({"pi_workers": "1,2", "pi_repetitions": 3, "pi_scaling": "both"})
    runs = result["runs"]
    assert len(runs) == 2 * 2 * 3 + 1
    assert runs[0]["warmup"] and runs[0]["repetition"] == 0 and runs[0]["workers"] == 2
    measured = sorted((r["mode"], r["workers"], r["repetition"]) for r in runs[1:])
    assert measured == sorted((m, n, k) for m in ("strong", "weak") for n in (1, 2) for k in (1, 2, 3))
    assert [r["order"] for r in runs] == list(range(1, 14))
    assert len({r["run_id"] for r in runs}) == len(runs)


def test_order_is_shuffled_and_reproducible_by_seed() -> None:
    first = [r["run_id"] for r in make_plan({"pi_workers": "1,2,3", "pi_repetitions": 4, "pi_seed": 1})["runs"]]
    again = [r["run_id"] for r in make_plan({"pi_workers": "1,2,3", "pi_repetitions": 4, "pi_seed": 1})["runs"]]
    other = [r["run_id"] for r in make_plan({"pi_workers": "1,2,3", "pi_repetitions": 4, "pi_seed": 2})["runs"]]
    assert first == again and first != other
    # Not grouped by point: some neighbours differ in N.
    workers = [r["workers"] for r in make_plan({"pi_workers": "1,2,3", "pi_repetitions": 4})["runs"][1:]]
    assert workers != sorted(workers)


def test_strong_splits_a_fixed_total_and_weak_scales_it() -> None:
    runs = make_plan({"pi_workers": "1,2", "pi_samples": 1000, "pi_samples_per_worker": 300})["runs"]
    for run in runs:
        expected = 1000 if run["mode"] == "strong" else 300 * run["workers"]
        assert run["work"] == expected
        assert len(run["items"]) == run["workers"]
        argv = run["items"][-1]["argv"]
        assert argv[:2] == ["/usr/bin/python3", "/w/pi_worker.py"]
        assert argv[argv.index("--samples") + 1] == str(expected)
        assert argv[argv.index("--run-id") + 1] == run["run_id"]


def test_points_above_the_cores_are_labelled_oversubscribed() -> None:
    runs = make_plan({"pi_workers": "1,4"}, cores=2)["runs"]
    assert {r["workers"]: r["oversubscribed"] for r in runs} == {1: False, 4: True}


@pytest.mark.parametrize("raw,message", [
    ({"pi_samples": "abc"}, "pi_samples='abc' is not a whole number"),
    ({"pi_samples": 0}, "pi_samples=0 must be at least 1"),
    ({"pi_samples": -3}, "pi_samples=-3 must be at least 1"),
    ({"pi_workers": "1,0"}, "pi_workers='1,0': '0' must be at least 1"),
    ({"pi_workers": 500}, "pi_workers=500 must be at most 16"),
    ({"pi_workers": "1,,2"}, "pi_workers='1,,2' has an empty item between commas"),
    ({"pi_workers": 0}, r"pi_workers=0 must be at least 1 \(leave it empty, -e pi_workers=, for 1, 2, 4"),
    ({"pi_repetitions": "x"}, "pi_repetitions='x' is not a whole number"),
    ({"pi_kernel": "gpu"}, "pi_kernel='gpu' is not one of: python, numpy"),
    ({"pi_scaling": "sideways"}, "pi_scaling='sideways' is not one of: strong, weak, both"),
    ({"pi_samples": 1, "pi_workers": "1,2"}, "smaller than the largest worker count"),
])
def test_bad_parameters_are_named(raw: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        make_plan(raw)


def test_numpy_kernel_without_numpy_is_refused_naming_where_it_is_missing() -> None:
    with pytest.raises(ParameterError, match="^pi_kernel=numpy but the controller's Python has no numpy: "
                                             "use -e pi_kernel=python, or run ./lab setup$"):
        make_plan({"pi_kernel": "numpy"}, numpy_available=False)
    # The workers run elsewhere (pods on k3s): the message names that place, not the controller.
    with pytest.raises(ParameterError, match="^pi_kernel=numpy but the worker image python:3.13-slim has no numpy: "
                                             "use -e pi_kernel=python, or an image with numpy"):
        plan(ROLE_DEFAULTS | {"pi_kernel": "numpy"}, cores=8, numpy_available=False, experiment_id="pi-x", python="python3",
             worker_path="/opt/lab/pi_worker.py", numpy_where="the worker image python:3.13-slim",
             numpy_fix="an image with numpy and -e pi_k3s_image_has_numpy=true")
    # Without numpy and no kernel asked for, the python kernel is chosen, wherever the workers run.
    assert plan(ROLE_DEFAULTS, cores=8, numpy_available=False, experiment_id="pi-x", python="python3",
                worker_path="w", numpy_where="the worker image x")["parameters"]["kernel"] == "python"
