"""The ssh backend without ssh: command building, path mapping, lanes, and the scheduler
(one queue, retries, lost hosts) driven by fake attempts. The real thing against sandbox
hosts is tests/integration/test_ssh_backend.py (a different
basename: two test files of one name break collecting the whole suite)."""
from __future__ import annotations

import os
import shlex
import signal
import subprocess
import threading
import time
from typing import Optional

import pytest

from labkit.backends import BackendOutcome, ItemOutcome, WorkItem, lost_hosts_text
from labkit.backends.ssh import (SSH_FAILED, Lane, Scheduler, SshHost, SshSettings, Tried, combine_throttled,
                                 encoders_listed, item_command, lanes_for, missing_tools, remote_command, spare_lanes,
                                 ssh_argv)

HOSTILE = "a b'$(touch labkit-pwned);é.mp4"
NEWLINE = "first line\nsecond; rm -rf $HOME `id`"


# -- the command line -------------------------------------------------------

def as_login_shell(command: str, hold_stdin: bool = True) -> subprocess.Popen:
    """Run a remote command string the way sshd does (the login shell's -c), in its own
    session: the wrapper kills its process group when its stdin ends."""
    return subprocess.Popen(["bash", "-c", command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)


def test_every_argument_reaches_the_worker_exactly_as_given(tmp_path) -> None:
    out = tmp_path / "out dir" / HOSTILE
    argv = ("python3", "-c", "import sys; print(repr(sys.argv[1:]))", HOSTILE, NEWLINE, "", "$HOME", "*", "-n")
    proc = as_login_shell(remote_command(argv, {"LAB_X": "it's $HOME"}, [str(out.parent)]))
    stdout = proc.stdout.read()
    proc.wait(timeout=10)
    proc.stdin.close()
    assert proc.returncode == 0, proc.stderr.read()
    assert stdout.decode().strip() == repr([HOSTILE, NEWLINE, "", "$HOME", "*", "-n"])
    assert out.parent.is_dir()                           # the output's folder is made first
    assert not os.path.exists("labkit-pwned") and not os.path.exists(os.path.expanduser("~/labkit-pwned"))


def test_the_worker_gets_its_environment_and_its_exit_status_passes_through() -> None:
    proc = as_login_shell(remote_command(("sh", "-c", 'echo "$LAB_X"; exit 7'), {"LAB_X": "it's $HOME"}))
    stdout = proc.stdout.read()
    proc.wait(timeout=10)
    proc.stdin.close()
    assert proc.returncode == 7 and stdout.decode() == "it's $HOME\n"


def test_the_worker_stops_when_the_connection_ends(tmp_path) -> None:
    # The wrapper's stdin is the SSH channel: when it ends (client killed), the worker's group dies.
    pidfile = tmp_path / "pid"
    proc = as_login_shell(remote_command(("sh", "-c", f'echo $$ > {shlex.quote(str(pidfile))}; exec sleep 60')))
    deadline = time.monotonic() + 10
    while not (pidfile.exists() and pidfile.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    worker = int(pidfile.read_text())
    proc.stdin.close()                                   # what the controller's ssh client dying looks like
    proc.wait(timeout=10)
    deadline = time.monotonic() + 5
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker)
    assert proc.returncode == -signal.SIGTERM


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def host(name: str = "pi1", **kw) -> SshHost:
    return SshHost(name=name, address=kw.pop("address", "10.0.0.1"), user=kw.pop("user", "pi"), **kw)


def test_ssh_options_put_what_correctness_needs_first_and_timeouts_last() -> None:
    h = host(port=2222, key_file="/k/id", options=("-o", "UserKnownHostsFile=/k/known_hosts"))
    argv = ssh_argv(h, SshSettings(connect_timeout_s=4, alive_interval_s=2, alive_count=3), "/tmp/cm/h0")
    assert argv[:4] == ["ssh", "-T", "-o", "BatchMode=yes"]
    assert argv[4:8] == ["-o", "ControlMaster=no", "-o", "ControlPath=/tmp/cm/h0"]
    assert argv[8:] == ["-p", "2222", "-i", "/k/id", "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=/k/known_hosts",
                        "-o", "ConnectTimeout=4", "-o", "ServerAliveInterval=2", "-o", "ServerAliveCountMax=3"]
    # Without a master: never a control socket from the user's ssh config.
    assert "ControlPath=none" in ssh_argv(h)
    master = ssh_argv(h, control="/tmp/cm/h0", master=True)
    assert {"-N", "ControlMaster=yes", "ControlPersist=no", "ControlPath=/tmp/cm/h0"} <= set(master)


def test_an_item_command_is_ssh_destination_double_dash_and_one_string() -> None:
    item = WorkItem("seg", ("sh", "/w/seg.sh", "--output", f"/out/{HOSTILE}"), outputs=(f"/out/{HOSTILE}",))
    argv = item_command(host(), item)
    assert argv[-3:-1] == ["pi@10.0.0.1", "--"]
    command = argv[-1]
    assert command.startswith(shlex.join(["mkdir", "-p", "--", "/out"]) + " && exec sh -c ")
    assert shlex.split(command)[-3:] == ["/w/seg.sh", "--output", f"/out/{HOSTILE}"]
    assert host(user="").destination == "10.0.0.1"


# -- files ------------------------------------------------------------------

def test_controller_paths_under_a_mapped_folder_move_to_the_hosts_folder() -> None:
    h = host(paths={"/work/run": "/var/tmp/lab/run", "/work/run/tools": "/opt/lab"})
    assert h.remote_path("/work/run/chunks/c 1.mp4") == "/var/tmp/lab/run/chunks/c 1.mp4"
    assert h.remote_path("/work/run") == "/var/tmp/lab/run"
    assert h.remote_path("/work/run/tools/w.sh") == "/opt/lab/w.sh"          # the longest folder wins
    assert h.remote_path("/work/running/x") == "/work/running/x"             # a prefix of a name is not a folder
    assert h.remote_path("/elsewhere/x") == "/elsewhere/x"                   # not mapped: the same path
    item = WorkItem("s", ("sh", "/work/run/tools/w.sh", "--input", "/work/run/chunks/c.mp4",
                          "--output", "/work/run/segments/s.mp4", "--output=/work/run/x"),
                    env={"LAB_OUT": "/work/run/segments"}, inputs=("/work/run/chunks/c.mp4",),
                    outputs=("/work/run/segments/s.mp4",), index=3, final_exit_codes={7: "damaged"})
    mapped = h.remote_item(item)
    assert mapped.argv == ("sh", "/opt/lab/w.sh", "--input", "/var/tmp/lab/run/chunks/c.mp4",
                           "--output", "/var/tmp/lab/run/segments/s.mp4", "--output=/work/run/x")
    assert mapped.env == {"LAB_OUT": "/var/tmp/lab/run/segments"}
    assert mapped.inputs == ("/var/tmp/lab/run/chunks/c.mp4",) and mapped.outputs == ("/var/tmp/lab/run/segments/s.mp4",)
    assert (mapped.name, mapped.index, mapped.final_exit_codes) == ("s", 3, {7: "damaged"})
    assert host().remote_item(item) is item                                  # no folders: nothing moves


# -- lanes ------------------------------------------------------------------

def test_lanes_spread_over_hosts_first_and_are_numbered_host_after_host() -> None:
    hosts = [("a", 2), ("b", 1), ("c", 1)]
    assert lanes_for(hosts, 3) == [Lane("a", 0, 0), Lane("b", 1, 0), Lane("c", 2, 0)]
    assert lanes_for(hosts, 4) == [Lane("a", 0, 0), Lane("a", 1, 1), Lane("b", 2, 0), Lane("c", 3, 0)]
    assert [lane.host for lane in lanes_for(hosts, 1)] == ["a"]
    # More than the hosts' slots: round robin again (oversubscribed, as asked).
    assert [lane.host for lane in lanes_for(hosts, 6)] == ["a", "a", "a", "b", "b", "c"]
    with pytest.raises(ValueError):
        lanes_for(hosts, 0)


# -- the scheduler ----------------------------------------------------------

def outcome_of(item: WorkItem, lane: Lane, *, error: Optional[str] = None, final: bool = False,
               t: float = 0.0) -> ItemOutcome:
    return ItemOutcome(item.name, item.index, lane.slot, lane.host, 1, 0 if error is None else 1, "", "",
                       t, t, error=error, final=final, result=None if error else {"index": item.index})


class FakeHosts:
    """Attempts that take `seconds[host]` each; hosts in `dead` fail like lost ones once `dies_after` items ran."""

    def __init__(self, seconds: dict[str, float], dead: tuple[str, ...] = (), fail: Optional[dict] = None) -> None:
        self.seconds = seconds
        self.dead = set(dead)
        self.fail = fail or {}            # item name -> (error, final, host or None)
        self.ran: list[tuple[str, str]] = []
        self.checked: list[str] = []
        self.lock = threading.Lock()
        self.t0 = time.monotonic()

    def attempt(self, item: WorkItem, lane: Lane) -> Tried:
        with self.lock:
            self.ran.append((item.name, lane.host))
        time.sleep(self.seconds[lane.host])
        now = time.monotonic() - self.t0
        if lane.host in self.dead:
            return Tried(outcome_of(item, lane, error=f"ssh to {lane.host} failed (exit 255)", t=now),
                         host_suspect=True)
        if item.name in self.fail:
            error, final, only_on = self.fail[item.name]
            if only_on in (None, lane.host):
                return Tried(outcome_of(item, lane, error=error, final=final, t=now))
        return Tried(outcome_of(item, lane, t=now))

    def check(self, name: str) -> Optional[str]:
        with self.lock:
            self.checked.append(name)
        return "connection timed out" if name in self.dead else None


def items(n: int) -> list[WorkItem]:
    return [WorkItem(f"item {i}", ("w",), index=i) for i in range(n)]


def schedule(fake: FakeHosts, n: int, lanes: list[Lane], **kw) -> BackendOutcome:
    return Scheduler(items(n), lanes, fake.attempt, fake.check, **kw).run()


def test_one_queue_in_order_and_a_slow_host_does_less() -> None:
    fake = FakeHosts({"fast": 0.02, "slow": 0.2})
    outcome = schedule(fake, 12, [Lane("fast", 0), Lane("slow", 1)])
    assert not outcome.failed and [item.name for item in outcome.items] == [f"item {i}" for i in range(12)]
    assert fake.ran[0][0] == "item 0" and {name for name, _ in fake.ran[:2]} == {"item 0", "item 1"}
    on_slow = [name for name, h in fake.ran if h == "slow"]
    assert 1 <= len(on_slow) <= 3 and len(fake.ran) == 12
    assert outcome.t_e2e_s == max(item.finished_s for item in outcome.items)


def test_a_lost_host_costs_time_not_retries_and_is_named() -> None:
    fake = FakeHosts({"a": 0.05, "b": 0.01}, dead=("b",))
    outcome = schedule(fake, 4, [Lane("a", 0), Lane("b", 1)], retries=0)
    assert not outcome.failed                                        # every item redone on a, with retries=0
    assert {h for _, h in fake.ran if h == "b"} == {"b"} and [h for _, h in fake.ran].count("b") == 1
    assert outcome.hosts_lost == ["b"] and outcome.host_errors == {"b": "connection timed out"}
    redone = outcome.redone["b"]
    assert len(redone) == 1 and next(i for i in outcome.items if i.name == redone[0]).lost_on == ["b"]
    lost = [a for a in outcome.attempts if a.host_lost]
    assert len(lost) == 1 and lost[0].host == "b" and "host b lost (connection timed out)" in lost[0].error
    assert all(item.host == "a" for item in outcome.items)
    assert lost_hosts_text(outcome) == [f"host b was lost (connection timed out); it was running {redone[0]}, "
                                        "redone on another host"]


def test_a_host_that_still_answers_was_not_lost_so_the_failure_counts() -> None:
    # ssh exit 255 but the host answers: the worker itself exited 255. With retries=0 the item fails.
    fake = FakeHosts({"a": 0.01})
    fake.attempt_real = fake.attempt

    def attempt(item: WorkItem, lane: Lane) -> Tried:
        return Tried(outcome_of(item, lane, error="exited 255: boom"), host_suspect=True)

    outcome = Scheduler(items(1), [Lane("a", 0)], attempt, fake.check, retries=0).run()
    assert fake.checked == ["a"] and outcome.hosts_lost == []
    assert outcome.failed and outcome.items[0].error == "exited 255: boom"


def test_when_every_host_is_lost_the_rest_fail_saying_so() -> None:
    fake = FakeHosts({"a": 0.01, "b": 0.01}, dead=("a", "b"))
    progress: list[int] = []
    outcome = schedule(fake, 3, [Lane("a", 0), Lane("b", 1)], retries=2,
                       on_progress=lambda done, total, item: progress.append(done))
    assert len(outcome.failed) == 3 and sorted(outcome.hosts_lost) == ["a", "b"]
    assert all(item.error.startswith("not run: every host was lost (") for item in outcome.items)
    assert "connection timed out" in outcome.items[0].error
    assert sorted(progress) == [1, 2, 3]


def test_a_host_down_at_the_start_takes_nothing() -> None:
    fake = FakeHosts({"a": 0.01, "b": 0.01})
    outcome = schedule(fake, 3, [Lane("a", 0), Lane("b", 1)], down={"b": "unreachable at the start: refused"})
    assert not outcome.failed and {h for _, h in fake.ran} == {"a"}
    assert outcome.hosts_lost == ["b"] and outcome.redone == {}
    assert lost_hosts_text(outcome) == ["host b was lost (unreachable at the start: refused)"]


def test_a_final_failure_is_not_retried_anywhere() -> None:
    fake = FakeHosts({"a": 0.01, "b": 0.01}, fail={"item 0": ("damaged source (exited 7, not retried)", True, None)})
    outcome = schedule(fake, 2, [Lane("a", 0), Lane("b", 1)], retries=3)
    assert [name for name, _ in fake.ran].count("item 0") == 1
    assert outcome.items[0].final and outcome.items[0].attempts == 1 and len(outcome.attempts) == 1


def test_a_retry_goes_to_another_host_and_counts() -> None:
    # item 0 fails on whichever host takes it first (either may, on a loaded machine);
    # that host is free first and must leave the retry to the other one.
    first: list[str] = []

    class FailOnFirstHost(FakeHosts):
        def attempt(self, item: WorkItem, lane: Lane) -> Tried:
            with self.lock:
                if not first:
                    first.append(lane.host)
                self.fail = {"item 0": ("exited 3: flaky", False, first[0])}
            return super().attempt(item, lane)

    fake = FailOnFirstHost({"a": 0.01, "b": 0.01})
    outcome = Scheduler(items(1), [Lane("a", 0), Lane("b", 1)], fake.attempt, fake.check, retries=1).run()
    other = {"a": "b", "b": "a"}[first[0]]
    assert fake.ran == [("item 0", first[0]), ("item 0", other)]
    assert outcome.items[0].ok and outcome.items[0].attempts == 2 and outcome.items[0].host == other
    # Only one host left: the retry runs there.
    fake = FakeHosts({"a": 0.01}, fail={"item 0": ("exited 3: flaky", False, None)})
    outcome = Scheduler(items(1), [Lane("a", 0)], fake.attempt, fake.check, retries=2).run()
    assert len(fake.ran) == 3 and outcome.failed and outcome.items[0].attempts == 3


def test_an_attempt_that_raises_fails_the_item_without_hanging_the_others() -> None:
    def attempt(item: WorkItem, lane: Lane) -> Tried:
        if item.index == 0:
            raise OSError("No such file or directory: 'ssh'")
        return Tried(outcome_of(item, lane))

    outcome = Scheduler(items(3), [Lane("a", 0), Lane("b", 1)], attempt, lambda h: None).run()
    assert [item.ok for item in outcome.items] == [False, True, True]
    assert "could not run on" in outcome.items[0].error and "'ssh'" in outcome.items[0].error


def test_progress_counts_every_item_once() -> None:
    seen: list[tuple[int, int, str]] = []
    fake = FakeHosts({"a": 0.01, "b": 0.02})
    schedule(fake, 5, [Lane("a", 0), Lane("b", 1)], on_progress=lambda d, t, item: seen.append((d, t, item.host)))
    assert sorted(d for d, _, _ in seen) == [1, 2, 3, 4, 5] and {t for _, t, _ in seen} == {5}
    assert {h for _, _, h in seen} <= {"a", "b"}


# -- checks and readings ----------------------------------------------------

ENCODERS = """Encoders:
 V..... = Video
 ------
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC (codec h264)
 V....D h264_v4l2m2m         V4L2 mem2mem H.264 encoder wrapper (codec h264)
 A....D aac                  AAC (Advanced Audio Coding)
"""


def test_encoders_and_tools_are_read_from_what_the_host_printed() -> None:
    assert encoders_listed(ENCODERS) == {"libx264", "h264_v4l2m2m", "aac"}
    assert missing_tools("have ffmpeg\nlack ffprobe\n", ("ffmpeg", "ffprobe", "rsync")) == ["ffprobe", "rsync"]


def test_throttle_readings_combine_into_one_flag_word() -> None:
    assert combine_throttled([None, None]) is None
    assert combine_throttled(["throttled=0x0\n", None, "throttled=0x50000\n"]) == "throttled=0x50000"
    assert combine_throttled(["throttled=0x4", "throttled=0x10000"]) == "throttled=0x10004"


def test_new_outcome_fields_have_defaults_so_old_callers_still_work() -> None:
    outcome = BackendOutcome(t_e2e_s=1.0)
    assert outcome.hosts_lost == [] and outcome.redone == {} and lost_hosts_text(outcome) == []
    item = ItemOutcome("w", 0, 0, "h", 1, 0, "", "", 0.0, 1.0)
    assert item.lost_on == []
    assert SSH_FAILED == 255


def test_spare_slots_are_the_unused_ones_least_used_host_first() -> None:
    hosts = [("a", 2), ("b", 1), ("c", 2)]
    active = lanes_for(hosts, 2)
    assert active == [Lane("a", 0, 0), Lane("b", 1, 0)]
    assert spare_lanes(hosts, active) == [Lane("c", 2, 0), Lane("a", 3, 1), Lane("c", 4, 1)]
    assert spare_lanes(hosts, lanes_for(hosts, 5)) == []


def test_a_lost_hosts_lane_moves_to_a_spare_host() -> None:
    # One slot asked for, three hosts: when the busy one is lost, the run goes on elsewhere.
    fake = FakeHosts({"a": 0.02, "b": 0.02, "c": 0.02}, dead=("a",))
    hosts = [("a", 1), ("b", 1), ("c", 1)]
    active = lanes_for(hosts, 1)
    outcome = Scheduler(items(3), active, fake.attempt, fake.check, spares=spare_lanes(hosts, active)).run()
    assert not outcome.failed and outcome.hosts_lost == ["a"]
    assert {item.host for item in outcome.items} == {"b"} and {item.slot for item in outcome.items} == {1}


def test_a_retry_is_not_left_waiting_for_a_spare_host_that_has_no_lane() -> None:
    fake = FakeHosts({"a": 0.01, "b": 0.01}, fail={"item 0": ("exited 3: flaky", False, None)})
    hosts = [("a", 1), ("b", 1)]
    active = lanes_for(hosts, 1)
    outcome = Scheduler(items(1), active, fake.attempt, fake.check, retries=1,
                        spares=spare_lanes(hosts, active)).run()
    assert [h for _, h in fake.ran] == ["a", "a"] and outcome.failed
