"""Planning the π experiment: defaults, validation, shuffled order, warm-up, worker commands."""
from __future__ import annotations

import pytest

import yaml
from labtest import REPO

from labkit.params import ParameterError
from labkit.pi_plan import default_workers, plan, validate

# The role's defaults are the one source of defaults: planning gets them as the role passes them.
ROLE_DEFAULTS = {key: value for key, value in
                 yaml.safe_load((REPO / "roles/pi/defaults/main.yml").read_text(encoding="utf-8")).items()
                 if key in ("pi_samples", "pi_samples_per_worker", "pi_workers", "pi_repetitions", "pi_kernel",
                            "pi_scaling", "pi_seed", "pi_warmup")}


def make_plan(raw: dict, cores: int = 2, numpy_available: bool = True) -> dict:
    return plan(ROLE_DEFAULTS | raw, cores=cores, numpy_available=numpy_available, experiment_id="pi-x",
                python="/usr/bin/python3", worker_path="/w/pi_worker.py")


def test_default_workers_go_up_to_the_cores() -> None:
    assert default_workers(1) == [1]
    assert default_workers(2) == [1, 2]
    assert default_workers(6) == [1, 2, 4, 6]
    assert default_workers(8) == [1, 2, 4, 8]


def test_defaults_depend_on_the_kernel() -> None:
    assert validate(ROLE_DEFAULTS, cores=2, numpy_available=True).samples == 100_000_000
    params = validate(ROLE_DEFAULTS, cores=2, numpy_available=False)
    assert params.kernel == "python" and params.samples == 10_000_000
    # Weak scaling's largest point does as much work as strong scaling's total.
    assert params.samples_per_worker == 5_000_000


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
