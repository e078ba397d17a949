"""The ssh backend for real, against sandbox hosts (network namespaces with their own sshd).

Each host's "remote" folder is its own directory (SshHost.paths maps the controller's
folder there), so outputs really travel back over SSH. Needs root (skipped otherwise).
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.backends import WorkItem, lost_hosts_text
from labkit.backends.ssh import SshBackend, SshHost, check_hosts
from labkit.supervise import Children
from labtest import processes_with
from sandbox import Sandbox, SandboxHost, SandboxUnavailable, unavailable_reason

pytestmark = [pytest.mark.sandbox, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
PI_WORKER = REPO / "plugins" / "workers" / "pi_worker.py"
HOSTILE = "a b'$(x);é.mp4"
NEWLINE_ARG = "two\nlines; $(id) `id` 'q'"

# Writes its second argument into the file named by its first, sleeps, prints one RESULT line.
WRITER = """
import json, pathlib, sys, time
out, text, seconds, index = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
time.sleep(seconds)
pathlib.Path(out).write_text(text, encoding="utf-8")
print("RESULT " + json.dumps({"schema": 1, "workload": "pi", "run_id": "r", "index": index, "count": 100,
      "node": "n", "t_start_ns": 1, "t_end_ns": 2, "compute_s": seconds, "samples": 1, "inside": 1,
      "seed": 1, "kernel": "python"}))
"""


def start_sandbox(workdir: Path, names: tuple[str, ...]) -> Sandbox:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    try:
        box = Sandbox(workdir)
        for name in names:
            box.add_host(name)
        box.start()
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    return box


@pytest.fixture
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = start_sandbox(tmp_path_factory.mktemp("sbx"), ("h1", "h2", "h3"))
    try:
        yield box
    finally:
        box.close()


def ssh_options(box: Sandbox) -> tuple[str, ...]:
    known = getattr(box, "known_hosts", None)
    if known is not None and Path(known).exists():
        return ("-o", f"UserKnownHostsFile={known}", "-o", "StrictHostKeyChecking=yes", "-o", "LogLevel=ERROR")
    return ("-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR")


def ssh_hosts(box: Sandbox, controller_dir: Path | None = None, slots: int = 1) -> list[SshHost]:
    """The sandbox's hosts; with controller_dir, each sees it as its own 'remote' folder."""
    hosts = []
    for h in box.hosts:
        paths = {str(controller_dir): str(h.root / "remote")} if controller_dir else {}
        hosts.append(SshHost(h.name, h.address, "root", key_file=str(box.key), options=ssh_options(box),
                             slots=slots, paths=paths))
    return hosts


def writer(index: int, out: Path, text: str, seconds: float = 0.0, name: str | None = None) -> WorkItem:
    return WorkItem(name=name or f"item {index}", argv=("python3", "-c", WRITER, str(out), text, str(seconds),
                                                        str(index)), outputs=(str(out),), index=index)


def stop_host(box: Sandbox, host: SandboxHost) -> None:
    """Cut a host off as a power failure would: the sandbox's own stop, else by hand."""
    if hasattr(box, "stop_host"):
        box.stop_host(host.name)
        return
    pids = subprocess.run(["ip", "netns", "pids", host.netns], capture_output=True, text=True).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), 9)
        except ProcessLookupError:
            pass
    subprocess.run(["ip", "link", "del", host.veth], capture_output=True)
    subprocess.run(["ip", "netns", "del", host.netns], capture_output=True)


def test_pi_workers_spread_over_three_hosts(three: Sandbox) -> None:
    items = [WorkItem(name=f"worker {i}", index=i,
                      argv=("python3", str(PI_WORKER), "--index", str(i), "--count", "3", "--samples", "30000",
                            "--seed", "5", "--run-id", "ssh-pi", "--kernel", "python"))
             for i in range(3)]
    seen: list[tuple[int, int, str]] = []
    with SshBackend(ssh_hosts(three)) as backend:
        outcome = backend.run(items, 3, on_progress=lambda done, total, item: seen.append((done, total, item.host)))
    assert not outcome.failed, [item.error for item in outcome.failed]
    assert {item.host for item in outcome.items} == {"h1", "h2", "h3"}
    assert sorted(item.slot for item in outcome.items) == [0, 1, 2]
    assert sum(item.result["samples"] for item in outcome.items) == 30000          # every sample counted once
    assert sorted(done for done, _, _ in seen) == [1, 2, 3] and {h for *_, h in seen} == {"h1", "h2", "h3"}
    assert 0 < outcome.t_e2e_s == max(item.finished_s for item in outcome.items)


def test_outputs_come_back_before_accept_and_hostile_names_survive(three: Sandbox, tmp_path: Path) -> None:
    ctl = tmp_path / "work"
    (ctl / "out").mkdir(parents=True)
    outs = [ctl / "out" / HOSTILE.replace(".mp4", f"{i}.mp4") for i in range(6)]
    items = [writer(i, out, f"{NEWLINE_ARG} #{i}") for i, out in enumerate(outs)]
    accepted: list[str] = []

    def accept(item: WorkItem, result: dict) -> None:
        out = Path(item.outputs[0])   # what the controller recorded is a file the controller has
        assert out.read_text(encoding="utf-8") == f"{NEWLINE_ARG} #{result['index']}"
        accepted.append(item.name)

    with SshBackend(ssh_hosts(three, ctl)) as backend:
        outcome = backend.run(items, 3, accept=accept)
    assert not outcome.failed, [item.error for item in outcome.failed]
    assert sorted(accepted) == sorted(item.name for item in items)
    assert len({item.host for item in outcome.items}) >= 2
    assert sorted(p.name for p in (ctl / "out").iterdir()) == sorted(p.name for p in outs)   # no temporary left
    for h in three.hosts:   # removed from the hosts once fetched
        assert [p for p in (h.root / "remote").rglob("*") if p.is_file()] == []
    assert not (tmp_path / "x").exists() and not Path("x").exists()


def test_a_host_sharing_the_controllers_files_keeps_the_output(three: Sandbox, tmp_path: Path) -> None:
    # No folder mapping: the sandbox hosts see the controller's own files. Removing the
    # "remote" copy before the rename must not remove the output.
    out = tmp_path / HOSTILE
    with SshBackend(ssh_hosts(three)[:1]) as backend:
        outcome = backend.run([writer(0, out, "kept")], 1)
    assert not outcome.failed and out.read_text(encoding="utf-8") == "kept"
    assert [p.name for p in tmp_path.iterdir()] == [HOSTILE]


def test_inputs_copied_just_in_time_when_asked(three: Sandbox, tmp_path: Path) -> None:
    ctl = tmp_path / "work"
    (ctl / "in").mkdir(parents=True)
    source = ctl / "in" / HOSTILE
    source.write_text("from the controller\n", encoding="utf-8")
    out = ctl / "out" / "copy.txt"
    item = WorkItem("copy", ("sh", "-c", 'cat -- "$1" > "$2" && echo \'RESULT {"schema":1,"workload":"pi",'
                                         '"run_id":"r","index":0,"count":1,"node":"n","t_start_ns":1,"t_end_ns":2,'
                                         '"compute_s":0,"samples":1,"inside":1,"seed":1,"kernel":"python"}\'',
                             "copy", str(source), str(out)),
                    inputs=(str(source),), outputs=(str(out),))
    hosts = ssh_hosts(three, ctl)[:1]
    with SshBackend(hosts) as backend:
        missing = backend.run([item], 1)
    assert missing.failed and "exited 1" in (missing.items[0].error or "")   # not copied by default
    with SshBackend(hosts, copy_inputs=True) as backend:
        outcome = backend.run([item], 1)
    assert not outcome.failed, outcome.items[0].error
    assert out.read_text(encoding="utf-8") == "from the controller\n"
    assert (three.hosts[0].root / "remote" / "in" / HOSTILE).read_text(encoding="utf-8") == "from the controller\n"


def test_a_host_stopped_mid_run_costs_time_not_output(tmp_path_factory: pytest.TempPathFactory,
                                                      tmp_path: Path) -> None:
    box = start_sandbox(tmp_path_factory.mktemp("sbx"), ("h1", "h2", "h3"))
    try:
        ctl = tmp_path / "work"
        outs = [ctl / "out" / f"seg_{i:04d}.mp4" for i in range(9)]
        items = [writer(i, out, f"segment {i}", seconds=1.5, name=out.name) for i, out in enumerate(outs)]
        started_on_h2 = threading.Event()

        def progress(done: int, total: int, item) -> None:
            pass

        with SshBackend(ssh_hosts(box, ctl)) as backend:
            result: dict = {}
            runner = threading.Thread(target=lambda: result.update(outcome=backend.run(
                items, 3, retries=0, on_progress=progress)))
            t_start = time.monotonic()
            runner.start()
            # Stop h2 while it is busy with its first item.
            deadline = time.monotonic() + 20
            while not processes_with(str(box.hosts[1].root / "remote")) and time.monotonic() < deadline:
                time.sleep(0.05)
            started_on_h2.set()
            time.sleep(0.5)
            stop_host(box, box.hosts[1])
            runner.join(timeout=90)
            wall = time.monotonic() - t_start
        assert not runner.is_alive()
        outcome = result["outcome"]
        assert started_on_h2.is_set()
        assert not outcome.failed, [item.error for item in outcome.failed]       # retries=0: the loss was free
        assert outcome.hosts_lost == ["h2"] and outcome.redone.get("h2")
        assert all(item.host in ("h1", "h3") for item in outcome.items)
        for name in outcome.redone["h2"]:
            assert next(item for item in outcome.items if item.name == name).lost_on == ["h2"]
        assert [a.host for a in outcome.attempts if a.host_lost] == ["h2"] * len(outcome.redone["h2"])
        text = lost_hosts_text(outcome)
        assert len(text) == 1 and text[0].startswith("host h2 was lost (") and "redone on another host" in text[0]
        for i, out in enumerate(outs):
            assert out.read_text(encoding="utf-8") == f"segment {i}"
        assert wall < 40, f"took {wall:.1f} s: a dead host must be noticed within seconds"
    finally:
        box.close()


def test_a_host_unreachable_at_the_start_is_named_before_any_work(three: Sandbox, tmp_path: Path) -> None:
    stop_host(three, three.hosts[2])
    hosts = ssh_hosts(three)
    checks = check_hosts(hosts, tools=("python3",))
    assert [(c.host, c.reachable, c.usable) for c in checks] == [("h1", True, True), ("h2", True, True),
                                                                  ("h3", False, False)]
    assert checks[2].reasons[0].startswith(f"h3 is unreachable (root@{three.hosts[2].address}, port 22): ")
    tools = check_hosts(hosts[:1], tools=("python3", "no-such-tool-here"))
    assert tools[0].reachable and not tools[0].usable and tools[0].missing == ["no-such-tool-here"]
    assert tools[0].reasons == ["h1 has no no-such-tool-here (not found on its PATH)"]
    with SshBackend(hosts) as backend:   # and the backend runs without it, naming it
        outcome = backend.run([writer(i, tmp_path / f"o{i}", "x") for i in range(4)], 3)
    assert not outcome.failed and {item.host for item in outcome.items} <= {"h1", "h2"}
    assert outcome.hosts_lost == ["h3"] and outcome.host_errors["h3"].startswith("unreachable at the start")


def test_an_encoder_the_hosts_ffmpeg_lacks_is_named(three: Sandbox, ffmpeg_available: None) -> None:
    hosts = ssh_hosts(three)[:1]
    assert check_hosts(hosts, tools=("ffmpeg", "ffprobe"), encoder="libx264")[0].usable
    lacking = check_hosts(hosts, tools=("ffmpeg", "ffprobe"), encoder="no_such_encoder")[0]
    assert lacking.reachable and not lacking.usable
    assert lacking.reasons == ["h1: its ffmpeg has no encoder no_such_encoder (ffmpeg -encoders does not list it)"]


def test_a_final_failure_is_attempted_once_on_one_host(three: Sandbox) -> None:
    item = WorkItem("seg_0001.mp4", ("sh", "-c", "echo 'corrupt packet' >&2; exit 7"),
                    final_exit_codes={7: "the source is damaged around 6.40–7.90 s"})
    flaky = WorkItem("seg_0002.mp4", ("sh", "-c", "echo boom >&2; exit 3"), index=1)
    with SshBackend(ssh_hosts(three)) as backend:
        outcome = backend.run([item, flaky], 3, retries=2)
    final, retried = outcome.items
    assert final.final and final.attempts == 1 and final.returncode == 7
    assert final.error == "the source is damaged around 6.40–7.90 s (exited 7, not retried): corrupt packet"
    assert not retried.final and retried.attempts == 3 and retried.error == "exited 3: boom"
    assert len({a.host for a in outcome.attempts if a.item == "seg_0002.mp4"}) == 3   # each retry elsewhere
    assert outcome.hosts_lost == []


def test_stopping_the_run_stops_the_remote_workers(three: Sandbox) -> None:
    marker = f"labkit-ssh-stop-{os.getpid()}"
    items = [WorkItem(f"sleeper {i}", ("sh", "-c", f"sleep 60 # {marker}"), index=i) for i in range(3)]
    children = Children()
    backend = SshBackend(ssh_hosts(three), children)
    result: dict = {}
    runner = threading.Thread(target=lambda: result.update(outcome=backend.run(items, 3)))
    runner.start()
    deadline = time.monotonic() + 20
    while len(processes_with(f"sleep 60 # {marker}")) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)   # 3 ssh clients here + 3 remote shells running the sleep
    assert len(processes_with(f"sleep 60 # {marker}")) >= 6
    children.kill_all()   # what the owner watchdog does when ansible-playbook is gone
    runner.join(timeout=30)
    backend.close()
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(marker) == []   # neither the ssh clients nor the remote workers are left
    assert len(result["outcome"].failed) == 3


def test_a_timeout_stops_the_remote_worker(three: Sandbox) -> None:
    marker = f"labkit-ssh-timeout-{os.getpid()}"
    with SshBackend(ssh_hosts(three)[:1]) as backend:
        outcome = backend.run([WorkItem("slow", ("sh", "-c", f"sleep 30 # {marker}"))], 1, timeout_s=1.5)
    assert outcome.items[0].timed_out and "timed out after 1.5 s on h1" in (outcome.items[0].error or "")
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(marker) == []


def test_throttle_readings_are_none_without_vcgencmd(three: Sandbox) -> None:
    with SshBackend(ssh_hosts(three)) as backend:
        assert backend.throttle_readings() == {"h1": None, "h2": None, "h3": None}
        assert backend.throttle_reading() is None


def test_no_master_connection_outlives_a_killed_controller(three: Sandbox) -> None:
    # The controller is killed with -9 (no cleanup at all): the guard pipe closes with it,
    # and the master connection it held ends too.
    host = ssh_hosts(three)[0]
    code = f"""
import sys, time
sys.path.insert(0, {str(REPO / "plugins" / "module_utils")!r})
from labkit.backends.ssh import SshBackend, SshHost
backend = SshBackend([SshHost({host.name!r}, {host.address!r}, "root", key_file={host.key_file!r},
                              options={host.options!r})])
print(backend._ensure_master(backend.hosts[{host.name!r}]), flush=True)
time.sleep(60)
"""
    controller = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        control = controller.stdout.readline().strip()
        assert control and processes_with(f"ControlPath={control}")
    finally:
        controller.kill()
        controller.wait()
    deadline = time.monotonic() + 10
    while processes_with(f"ControlPath={control}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_with(f"ControlPath={control}") == []
    subprocess.run(["rm", "-rf", "--", os.path.dirname(control)], check=False)   # what close() would have removed
