"""The per-node timeline of a run, for real: bench-pi.yml samples every node while the runs run.

On sandbox hosts a stub vcgencmd replays a scripted trace (a constant PMIC power, and on one host
a throttle event a known time after the sampler's first call), so the timeline, the throttle
attribution and the energy integral are checked against values known in advance. On the local
backend the controller shows what it has (here: clock and CPUs busy), never an invented value.
"""
from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from labsandbox import HostLimits, Sandbox, SandboxUnavailable, unavailable_reason
from labtest import ansible_env, run_playbook

pytestmark = pytest.mark.integration

TRACE = "/run/lab-vcgencmd-trace.json"
# Replays TRACE: after `throttle_after_s` seconds from its first call on this host (the sampler's
# start), get_throttled reports the soft temperature limit and measure_clock arm the capped clock.
STUB = r"""#!/usr/bin/env python3
import json, os, sys, time
trace = json.load(open("/run/lab-vcgencmd-trace.json"))
first = "/run/lab-vcgencmd-first"
if not os.path.exists(first):
    with open(first, "w") as handle:
        handle.write(repr(time.time()))
since = time.time() - float(open(first).read())
after = trace.get("throttle_after_s")
throttled = after is not None and since >= after
command = sys.argv[1:]
if command == ["get_throttled"]:
    print("throttled=" + (trace["throttled"] if throttled else "0x0"))
elif command == ["measure_clock", "arm"]:
    print("frequency(0)=%d" % (trace["capped_hz"] if throttled else trace["arm_hz"]))
elif command == ["pmic_read_adc"]:
    rails = trace["rails"]
    for i, (rail, (amps, volts)) in enumerate(rails.items()):
        print("%14s current(%d)=%.8fA" % (rail + "_A", i, amps))
    for i, (rail, (amps, volts)) in enumerate(rails.items()):
        print("%14s volt(%d)=%.8fV" % (rail + "_V", i + len(rails), volts))
    print("%14s volt(24)=5.10000000V" % "EXT5V_V")
else:
    sys.exit(1)
"""
# 2.5 A × 0.8 V + 0.5 A × 3.3 V = 3.65 W on every host, 2 W of it on the CPU rail.
RAILS = {"VDD_CORE": [2.5, 0.8], "3V3_SYS": [0.5, 3.3]}
POWER_W, CPU_POWER_W = 3.65, 2.0
THROTTLE_AFTER_S = 5.0


@pytest.fixture
def two_pis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    try:
        box = Sandbox(tmp_path_factory.mktemp("pis"))
        # pi-2 has half pi-1's CPU: a straggler in every run that uses both.
        for name, cpus in (("pi-1", 1.0), ("pi-2", 0.5)):
            box.add_host(name, ["workers"], limits=HostLimits(cpus=cpus))
        for host in box.hosts:
            trace = {"throttled": "0x80008", "arm_hz": 2400000000, "capped_hz": 1500000000, "rails": RAILS,
                     "throttle_after_s": THROTTLE_AFTER_S if host.name == "pi-2" else None}
            host.put(TRACE, json.dumps(trace))
        box.start()
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    try:
        yield box
    finally:
        box.close()


def report(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "reports" / "latest-pi" / "results.json").read_text())


@pytest.mark.sandbox
def test_the_timeline_names_the_throttled_node_and_integrates_the_power(two_pis: Sandbox, tmp_path: Path) -> None:
    stub = tmp_path / "vcgencmd"
    stub.write_text(STUB)
    stub.chmod(0o755)
    inventory = two_pis.inventory(allvars={"cluster_backend": "ssh"}, controller=True)
    extra = {"pi_samples": 60_000_000, "pi_workers": [1, 2], "pi_repetitions": 3, "pi_scaling": "strong",
             "pi_reports_dir": str(tmp_path / "reports"), "lab_vcgencmd": str(stub), "lab_telemetry_interval": 0.5,
             "lab_settle": True}
    proc = run_playbook("bench-pi.yml", "-i", str(inventory), extra_vars=extra,
                        env=ansible_env(**two_pis.env_overrides()))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    data = report(tmp_path)
    # Settling ran on every host at once (async over SSH); sandbox hosts have no sensor to settle on.
    assert sorted(n["node"] for n in data["settle"]) == ["pi-1", "pi-2"]
    assert all(n["settled"] is None and n["reason"].startswith("no temperature sensor") for n in data["settle"])

    # Every node sampled, with every reading the stub gives; no temperature (sandbox hosts have no sensor).
    assert set(data["telemetry"]) == {"pi-1", "pi-2"}
    for node in data["sampling"]["nodes"]:
        assert node["error"] is None and node["samples"] >= 6
        assert set(node["readings"]) >= {"arm_mhz", "throttled", "load", "power_w", "cpu_power_w"}
        assert 0 <= node["cost"] < 0.2
    for samples in data["telemetry"].values():
        assert {tuple(sorted(s)) for s in samples} == {("arm_mhz", "cpu_power_w", "load", "power_w", "t_ns",
                                                        "temp_c", "throttled")}
        assert all(s["temp_c"] is None for s in samples)
        assert all(s["power_w"] == pytest.approx(POWER_W) for s in samples)

    # The throttle event: on pi-2 only, THROTTLE_AFTER_S after its sampler started (one interval of slack).
    origin = data["sampling"]["origin_ns"]
    onsets = [s for s in data["telemetry"]["pi-2"] if s["throttled"]]
    assert onsets and all(not s["throttled"] for s in data["telemetry"]["pi-1"])
    first = onsets[0]
    assert first["arm_mhz"] == 1500.0 and first["throttled"] == 0x80008
    events = data["sampling"]["events"]
    assert len(events) == 1 and events[0].startswith("node pi-2 throttled at t = ")
    said = float(events[0].split("t = ")[1].split(" s")[0])
    assert said == round((first["t_ns"] - origin) / 1e9)
    assert THROTTLE_AFTER_S - 1 <= said <= THROTTLE_AFTER_S + 2
    assert "soft temperature limit" in events[0]
    # The runs pi-2 worked in after the onset are flagged; none before it.
    for run in data["runs"]:
        on_pi2 = [r for r in run["results"] if r["host"] == "pi-2"]
        if any(r["t_start_ns"] > first["t_ns"] for r in on_pi2):
            assert run["throttled"], run["run_id"]
        if all(r["t_end_ns"] < first["t_ns"] - 1e9 for r in run["results"]):
            assert not run["throttled"], run["run_id"]

    # The straggler: pi-2 in every run on both hosts, about twice as slow per sample, with the throttling
    # its readings show once it began.
    both = [r for r in data["runs"] if len({x["host"] for x in r["results"]}) == 2]
    slow = data["sampling"]["stragglers"]
    assert both and len(slow) == len(both) and all(line.startswith("node pi-2 ") for line in slow)
    ratios = [float(line.split("its time was ")[1].split("×")[0]) for line in slow]
    assert all(1.5 <= ratio <= 3.0 for ratio in ratios), slow
    for run, line in zip(sorted(both, key=lambda r: min(x["t_start_ns"] for x in r["results"])), slow):
        start = min(x["t_start_ns"] for x in run["results"])
        assert ("throttled" in line) == (max(x["t_end_ns"] for x in run["results"]) > first["t_ns"]), (line, start)

    # Energy: known power × the run's time × its nodes, within 2 %.
    for run in data["runs"]:
        start = min(r["t_start_ns"] for r in run["results"])
        end = max(r["t_end_ns"] for r in run["results"])
        nodes = len({r["host"] for r in run["results"]})
        assert run["energy_j"] == pytest.approx(POWER_W * nodes * (end - start) / 1e9, rel=0.02)
        assert run["cpu_energy_j"] == pytest.approx(CPU_POWER_W * nodes * (end - start) / 1e9, rel=0.02)
        assert run["energy_per_unit_j"] == pytest.approx(run["energy_j"] / (run["work"] / 1e6), rel=1e-3)
    energy = data["energy"]
    assert energy["available"] and energy["label"].endswith("not wall power")
    assert [(p["mode"], p["workers"]) for p in energy["points"]] == [("strong", 1), ("strong", 2)]
    page = (tmp_path / "reports" / "latest-pi" / "index.html").read_text()
    assert "What each node did during the experiment" in page and "Node pi-2 throttled at t = " in page
    assert "J per 10⁶ samples" in page


def test_the_controller_shows_what_it_has_and_a_calibration_is_checked_first(tmp_path: Path) -> None:
    small = {"pi_samples": 4_000_000, "pi_workers": [1], "pi_repetitions": 2, "pi_scaling": "strong",
             "pi_reports_dir": str(tmp_path / "reports"), "lab_telemetry_interval": 0.2}
    refused = run_playbook("bench-pi.yml", extra_vars=small | {"lab_power_calibration": 0})
    assert refused.returncode != 0
    assert "Invalid parameter: lab_power_calibration=0 " in refused.stdout
    refused = run_playbook("bench-pi.yml", extra_vars=small | {"lab_telemetry_interval": "fast"})
    assert "Invalid parameter: lab_telemetry_interval='fast' is not a number" in refused.stdout
    assert not (tmp_path / "reports").exists()

    proc = run_playbook("bench-pi.yml", extra_vars=small | {"lab_power_calibration": 1.2})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    data = report(tmp_path)
    (node, samples), = data["telemetry"].items()
    assert len(samples) >= 2
    assert all(s["throttled"] is None and s["power_w"] is None for s in samples)  # no vcgencmd here
    assert {key for key in ("temp_c", "arm_mhz", "load") if any(s[key] is not None for s in samples)} \
        == set(data["sampling"]["nodes"][0]["readings"]) - {"throttled", "power_w", "cpu_power_w"}
    assert data["energy"]["available"] is False and "Raspberry Pi 5" in data["energy"]["why_not"]
    assert data["energy"]["calibration"] == 1.2
    assert all(run["energy_j"] is None for run in data["runs"])
    assert "Energy: n/a" in (tmp_path / "reports" / "latest-pi" / "summary.md").read_text()

    # A sampler that cannot start costs the node its timeline, not the experiment.
    broken = run_playbook("bench-pi.yml", extra_vars=small | {"lab_telemetry_sampler": str(tmp_path / "missing.py")})
    assert broken.returncode == 0, broken.stdout[-3000:]
    (node,) = report(tmp_path)["sampling"]["nodes"]
    assert node["samples"] == 0 and node["error"].startswith("the sampler stopped at once (exit 2)")
    assert "missing.py" in node["error"]
    assert ": no timeline (the sampler stopped at once" in (tmp_path / "reports" / "latest-pi" / "summary.md").read_text()

    off = run_playbook("bench-pi.yml", extra_vars=small | {"lab_telemetry": False})
    assert off.returncode == 0, off.stdout[-3000:]
    data = report(tmp_path)
    assert data["telemetry"] is None and data["sampling"] is None


SETTLE_PLAY = """\
---
- name: Settle this machine on a scripted sensor
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Load every core until the temperature stops rising
      lab_settle:
        thermal: "{{ sensor }}"
        interval: 0.2
        window: 2
        rise_c: 0.5
        max_seconds: 30
      register: settled

    - name: Keep it
      ansible.builtin.copy:
        content: "{{ settled.settle | to_json }}"
        dest: "{{ out }}"
        mode: "0644"
"""


def test_settling_loads_until_the_sensor_stops_rising_then_stops_the_load(tmp_path: Path) -> None:
    import threading
    import time

    sensor = tmp_path / "temp"
    sensor.write_text("40000\n")
    stop = threading.Event()

    def warm() -> None:  # +2 °C a second for 3 s, then flat at 46 °C
        started = time.monotonic()
        while not stop.is_set():
            value = 40.0 + 2.0 * min(time.monotonic() - started, 3.0)
            (tmp_path / "temp.new").write_text(f"{int(value * 1000)}\n")
            (tmp_path / "temp.new").replace(sensor)
            time.sleep(0.05)

    writer = threading.Thread(target=warm, daemon=True)
    playbook = tmp_path / "settle.yml"
    playbook.write_text(SETTLE_PLAY)
    writer.start()
    try:
        proc = run_playbook(str(playbook), extra_vars={"sensor": str(sensor), "out": str(tmp_path / "settle.json")})
    finally:
        stop.set()
        writer.join()
    assert proc.returncode == 0, proc.stdout[-3000:]
    result = json.loads((tmp_path / "settle.json").read_text())
    assert result["settled"] is True and result["end_c"] == pytest.approx(46.0)
    assert result["seconds"] < 15 and result["rise_c"] < 0.5 and result["cores"] >= 1
    # It saw the rise, and went on until the flat part filled most of a window.
    readings = result["readings"]
    assert readings[0][1] < 45.0
    reached = next(t for t, c in readings if c >= 45.99)
    assert readings[-1][0] - reached >= 1.0
    assert "pid" not in result
    busy = subprocess.run(["pgrep", "-f", "while True: pass"], capture_output=True, text=True).stdout.split()
    assert busy == []  # the load is gone


def test_bench_pi_says_a_node_without_a_sensor_has_nothing_to_settle_on(tmp_path: Path) -> None:
    if Path("/sys/class/thermal/thermal_zone0/temp").exists():
        pytest.skip("this machine has a temperature sensor: settling would take minutes")
    small = {"pi_samples": 4_000_000, "pi_workers": [1], "pi_repetitions": 1, "pi_scaling": "strong",
             "pi_reports_dir": str(tmp_path / "reports"), "lab_settle": True}
    proc = run_playbook("bench-pi.yml", extra_vars=small)
    assert proc.returncode == 0, proc.stdout[-3000:]
    (node,) = report(tmp_path)["settle"]
    assert node["settled"] is None and node["reason"].startswith("no temperature sensor")
    assert "Settled before the first run (-e lab_settle=true): " in (
        tmp_path / "reports" / "latest-pi" / "summary.md").read_text()
    refused = run_playbook("bench-pi.yml", extra_vars=small | {"lab_settle_window": 0})
    assert refused.returncode != 0 and "Invalid parameter: lab_settle_window=0" in refused.stdout


def test_a_run_stopped_with_ctrl_c_leaves_no_sampler_behind(tmp_path: Path) -> None:
    import signal
    import time

    from labtest import BIN, REPO

    def samplers() -> list[str]:
        found = subprocess.run(["pgrep", "-f", "node_sampler.py"], capture_output=True, text=True).stdout.split()
        return [pid for pid in found if str(tmp_path) in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")]

    extra = {"pi_samples": 400_000_000, "pi_workers": [1], "pi_repetitions": 3, "pi_scaling": "strong",
             "pi_reports_dir": str(tmp_path / "reports"), "lab_artifacts_dir": str(tmp_path / "artifacts")}
    proc = subprocess.Popen([str(BIN / "ansible-playbook"), "bench-pi.yml", "-e", json.dumps(extra)], cwd=REPO,
                            env=ansible_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while not samplers() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert samplers(), "the sampler never started"
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground process group
    proc.communicate(timeout=120)
    deadline = time.monotonic() + 10
    while samplers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert samplers() == []
