"""preflight.yml for real: iperf3, the probe and the report, on sandbox hosts with shaped links
and on the local backend.

The sandbox's hosts have their links shaped to 100 Mbit/s each way (tc tbf, `--net 100mbit`);
they reach one another through this machine (host routes in their namespaces, as
test_k3s_roles does), so a node -> node test crosses two shaped links. Nothing is mocked.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from labtest import ansible_env, run_playbook
from sandbox import HostLimits, Sandbox, SandboxUnavailable, unavailable_reason

pytestmark = [pytest.mark.integration]

RATE_MBIT = 100


def need_iperf3() -> None:
    if shutil.which("iperf3") is None:
        pytest.skip("iperf3 is not installed (./lab setup --sandbox installs it)")


@pytest.fixture(scope="module")
def shaped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Path]]:
    need_iperf3()
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    if Path("/proc/sys/net/ipv4/ip_forward").read_text().strip() != "1":
        pytest.skip("this machine does not forward IPv4 between the sandbox hosts (net.ipv4.ip_forward=0)")
    try:
        box = Sandbox(tmp_path_factory.mktemp("pf"), limits=HostLimits(cpus=0.5, rate=f"{RATE_MBIT}mbit"))
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    try:
        for i in range(3):
            box.add_host(f"sbx-{i + 1}", groups=["workers"])
        box.start()
        for a in box.hosts:  # every pair reaches the other through this machine
            for b in box.hosts:
                if a is not b:
                    done = a.exec("ip", "route", "add", f"{b.address}/32", "via", a.gateway)
                    assert done.returncode == 0, done.stderr
        inventory = box.inventory(allvars={"cluster_backend": "ssh"}, controller=True)
        yield box, inventory
    finally:
        box.close()


def listening_on(host: object, port: int) -> bool:
    """A socket in LISTEN (state 0A) on the port in the host's /proc/net/tcp and tcp6 (a TIME_WAIT
    left by a finished test is not a server)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in host.exec("cat", table).stdout.splitlines()[1:]:  # type: ignore[attr-defined]
            fields = line.split()
            if len(fields) > 3 and fields[1].rsplit(":", 1)[-1] == f"{port:04X}" and fields[3] == "0A":
                return True
    return False


def within(value: float, expected: float, share: float) -> bool:
    return abs(value - expected) <= share * expected


@pytest.mark.sandbox
def test_preflight_measures_every_link_disk_and_name_of_a_shaped_sandbox(shaped: tuple[Sandbox, Path],
                                                                         tmp_path: Path) -> None:
    box, inventory = shaped
    proc = run_playbook("preflight.yml", "-i", str(inventory), extra_vars={"preflight_reports_dir": str(tmp_path)},
                        env=ansible_env(**box.env_overrides()), timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    latest = tmp_path / "latest-preflight"
    results = json.loads((latest / "results.json").read_text())
    assert results["backend"] == "ssh" and results["workload"] == "preflight"
    arrows = {(e["from"], e["to"]): e for e in results["network"]}
    names = ["sbx-1", "sbx-2", "sbx-3"]
    expected = ({("controller", n) for n in names} | {(n, "controller") for n in names}
                | {("sbx-1", "sbx-2"), ("sbx-1", "sbx-3"), ("sbx-2", "sbx-3")})
    assert set(arrows) == expected
    for arrow, e in arrows.items():
        assert e["error"] is None, (arrow, e)
        assert within(e["mbit_s"], RATE_MBIT, 0.2), (arrow, e["mbit_s"])  # the shaped rate, node -> node too
        assert e["rtt_ms"] is not None and e["rtt_ms"] > 0, (arrow, e)
        assert e["mtu"] == 1500 and e["retransmits"] is not None
    disk = {d["node"]: d for d in results["disk"]}
    assert set(disk) == set(names)
    for d in disk.values():
        assert d["path"] == "/var/tmp/pi-cluster-lab" and d["count"] == 200 and d["error"] is None
        assert 0 < d["fsync_ms_median"] <= d["fsync_ms_p99"] <= d["fsync_ms_max"] and d["ops_per_s"] > 0
    for host in box.hosts:  # each probe removed its test file, and no iperf3 server is left listening
        assert [p.name for p in (host.root / "var_tmp" / "pi-cluster-lab").iterdir()] == ["preflight_probe.py"]
        assert not listening_on(host, 5201)
    # The names the inventory uses: each node asked about the other two and the controller's name.
    asked = {(n["on"], n["name"]) for n in results["names"]}
    assert {("sbx-1", "sbx-2"), ("sbx-1", "sbx-3"), ("controller", "sbx-1")} <= asked
    page = (latest / "index.html").read_text()
    assert page.count("<svg") == 2 and "sbx-2 → sbx-3" in page
    assert "links measured" in proc.stdout and str(latest / "index.html") in proc.stdout


def test_preflight_on_the_local_backend_measures_the_controller_alone(tmp_path: Path) -> None:
    proc = run_playbook("preflight.yml", extra_vars={"preflight_reports_dir": str(tmp_path),
                                                     "preflight_disk_dir": str(tmp_path / "disk"),
                                                     "preflight_disk_count": 50})
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    results = json.loads((tmp_path / "latest-preflight" / "results.json").read_text())
    assert results["backend"] == "local" and results["network"] == [] and results["names"] == []
    assert "no network to measure" in results["network_note"]
    (d,) = results["disk"]
    assert d["node"] == "controller" and d["count"] == 50 and d["fsync_ms_p99"] > 0 and d["path"] == str(tmp_path / "disk")
    assert list((tmp_path / "disk").iterdir()) == []
    assert (tmp_path / "latest-preflight" / "index.html").is_file() and (tmp_path / "latest-preflight" / "summary.md").is_file()
    assert "no network (local backend)" in proc.stdout


def test_a_misspelled_preflight_variable_is_refused(tmp_path: Path) -> None:
    proc = run_playbook("preflight.yml", extra_vars={"preflight_reports_dir": str(tmp_path), "preflight_iperf_secs": 5})
    assert proc.returncode != 0
    assert "preflight_iperf_secs" in proc.stdout and "preflight_iperf_seconds" in proc.stdout
    assert not (tmp_path / "latest-preflight").exists()


def test_an_unreachable_node_stops_the_preflight_naming_it(tmp_path: Path) -> None:
    need_iperf3()
    inventory = tmp_path / "ghost.yml"
    inventory.write_text(json.dumps({"all": {"vars": {"cluster_backend": "ssh"}, "children": {
        "controller": {"hosts": {"localhost": {"ansible_connection": "local",
                                               "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}},
        "workers": {"hosts": {"ghost": {"ansible_host": "127.0.0.1", "ansible_port": 1, "ansible_user": "nobody"}}},
    }}}))
    proc = run_playbook("preflight.yml", "-i", str(inventory), extra_vars={"preflight_reports_dir": str(tmp_path)},
                        timeout=300)
    assert proc.returncode != 0
    assert ("Preflight cannot measure (inventory group workers): 1 host cannot run this workload: ghost: ghost is "
            "unreachable (nobody@127.0.0.1, port 1)") in " ".join(proc.stdout.split()), proc.stdout[-3000:]
    assert not (tmp_path / "latest-preflight").exists()


@pytest.mark.sandbox
def test_the_transcode_report_states_the_networks_ceiling_from_the_preflight(shaped: tuple[Sandbox, Path],
                                                                             tmp_path: Path) -> None:
    from mediatest import lavfi_video

    box, inventory = shaped
    env = ansible_env(**box.env_overrides())
    quick = {"preflight_reports_dir": str(tmp_path), "preflight_iperf_seconds": 1, "preflight_node_pairs": False}
    proc = run_playbook("preflight.yml", "-i", str(inventory), extra_vars=quick, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:]
    video = lavfi_video(tmp_path / "clip.mp4", 4)
    proc = run_playbook("transcode.yml", "-i", str(inventory), env=env, timeout=900, extra_vars={
        "video": str(video), "transcode_reports_dir": str(tmp_path), "transcode_work_dir": str(tmp_path / "work"),
        "transcode_output": str(tmp_path / "out.mp4"), "transcode_segment_seconds": 1, "transcode_baseline": True})
    assert proc.returncode == 0, proc.stdout[-4000:]
    data = json.loads((tmp_path / "latest-transcode" / "results.json").read_text())
    block = data["network_ceiling"]
    strong = next(r for r in data["runs"] if r["mode"] == "strong")
    baseline = next(r for r in data["runs"] if r["mode"] == "baseline")
    fetched = sum(r["bytes_out"] for r in strong["results"])
    assert block["shipped_bytes"] > 0 and block["fetched_bytes"] == fetched
    assert block["bytes_to_move"] == block["shipped_bytes"] + fetched
    assert block["compute_s"] == pytest.approx(baseline["t_e2e_s"])
    # Every node of the run, each at the shaped rate: R within 20 % of 100 Mbit/s per node.
    hosts = {r["host"] for r in strong["results"]}
    assert set(block["nodes"]) == hosts
    assert within(block["rate_mbit_s"], RATE_MBIT * len(hosts), 0.2)
    assert block["transfer_s"] == pytest.approx(8 * block["bytes_to_move"] / (block["rate_mbit_s"] * 1e6))
    assert block["ceiling"] == pytest.approx(min(strong["workers"], block["compute_s"] / block["transfer_s"]))
    assert "The network's ceiling" in (tmp_path / "latest-transcode" / "index.html").read_text()
    assert "Network ceiling: moving " in (tmp_path / "latest-transcode" / "summary.md").read_text()
