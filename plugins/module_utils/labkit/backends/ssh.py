"""The ssh backend: work items on several hosts over SSH, one queue for all of them.

Every host has `slots` lanes (its usable cores). One queue holds the items in
the order given (callers sort longest first); a free lane of any host takes the
next one, so a slow host does less and a fast one more. An item runs as

    ssh <options> user@address -- <remote command>

where the remote command is `shlex.join` of the item's argv: the remote sshd
always hands the command to the user's login shell as one string, so quoting
every argument is the only safe way (a POSIX login shell is assumed: sh, bash,
dash, zsh). Nothing the user typed is ever parsed by a shell as code.

Files. `WorkItem.inputs` are controller files the worker reads and `outputs` the
files it writes. A host sees a controller path under one of its `paths`
folders at the same place in its own folder (`SshHost.remote_path`); every
other path is the same path on the host. The item's argv and env values that
are such paths are rewritten the same way. Inputs are NOT copied by default:
the transcode stages them on every host with ansible.posix.synchronize before
the run (`copy_inputs=True` copies them just in time with rsync over the same
ssh options, for a host that lacks them). Outputs come back to the controller
as soon as the item's worker succeeds — before `accept` and `on_progress` see
the result — read over the same connection to a hidden temporary name (one
session that removes the remote file once it was read, unless
`keep_remote_outputs`), then renamed into place. Removing before renaming makes
a host that shares the controller's file system safe: its "remote" file is the
controller's own.

Lost hosts. An attempt that ends the way a lost host ends (ssh exit 255, a
failed copy) triggers a reachability check of that host (a fresh connection,
no multiplexing). If the host does not answer, it is lost: it takes no more
items, the item goes back to the front of the queue without counting against
`retries`, and the outcome names the host (`hosts_lost`, `host_errors`) and
what it was running (`redone`, `ItemOutcome.lost_on`); its lanes move to
spare slots of the other hosts when the run uses fewer than they have. A host
that does not answer at the start is named the same way and gets no lane.
If it answers, the
attempt was the item's own failure (e.g. a worker that exits 255) and counts
as usual. A retried item prefers a host it has not failed on. When every host
is lost, the remaining items fail with that said.

Connections. By default each host gets one master connection (`ssh -M`, a
tracked child in its own process group, its control socket in a private
temporary folder) and every item and fetch is a session on it: no SSH
handshake per item. Measured with sandbox hosts on a loaded 2-core machine
(medians): `ssh host true` 95 ms multiplexed against 294 ms with a handshake;
45 items on 3 hosts, each writing a 200 kB output the backend fetches,
379 ms against 774 ms of overhead per item and lane (228 against 375 ms
without outputs). A Pi's slower key exchange widens the gap. `multiplex=False`
connects afresh every time. A host with more than MAX_LANES_PER_MASTER lanes
connects afresh too (sshd's default MaxSessions is 10). BatchMode,
ConnectTimeout and ServerAliveInterval/CountMax make a dead host fail within
seconds.

Stopping. Every ssh client is a `supervise.Children` process in its own
process group. Killing an ssh client does NOT stop the remote command by
itself: without a terminal sshd sends no SIGHUP, and the remote worker goes on
(verified with sandbox hosts, with and without multiplexing). So the remote
command runs under a small POSIX sh wrapper (`REMOTE_WRAPPER`) whose stdin is
the SSH channel, kept open by the controller through a pipe it never writes:
when the ssh client dies, or the controller does, the channel's stdin ends and
the wrapper kills the worker's process group (the session sshd started). The
master connections are guarded the same way on the controller (`MASTER_GUARD`).
Both need /dev/fd on the controller (Linux, macOS).
"""
from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Optional, Sequence

from ..environment import parse_throttled
from ..supervise import Children
from . import (Accept, Attempt, BackendOutcome, ItemOutcome, Progress, WorkFailed, WorkItem, exit_failure,
               mapped_item, mapped_path,
               result_of, tail)

# ssh's own failures (connection refused, timed out, lost, authentication) all exit 255.
SSH_FAILED = 255
# sshd's default MaxSessions is 10 sessions per connection; a lane uses one at a time, and
# a check or a throttle reading may add one. Hosts with more lanes connect without a master.
MAX_LANES_PER_MASTER = 8

# Runs on the host as `sh -c REMOTE_WRAPPER labkit-worker ARGV...`. Its stdin is the SSH
# channel, which the controller keeps open and never writes: the loop ends only when the
# channel does (the ssh client or the controller died), and then the whole session's
# process group (sshd made it: setsid) is killed. The worker itself reads /dev/null.
REMOTE_WRAPPER = """exec 3<&0 0</dev/null
"$@" 3<&- &
w=$!
{ while read -r _; do :; done <&3; kill -TERM 0; } >/dev/null 2>&1 &
r=$!
exec 3<&-
wait "$w"; rc=$?
kill "$r" 2>/dev/null
exit "$rc\""""

# On the controller: run ssh with its stdin on an inherited pipe fd (given as $1), which the
# backend holds open until the item ends (supervise.Children always gives children
# /dev/null as stdin). A fixed script: the ssh argv comes as positional parameters.
KEEP_STDIN_OPEN = 'fd=$1; shift; exec "$@" <"/dev/fd/$fd"'

# On the controller: a master connection that ends when the backend's pipe (fd $1) does —
# closed by close(), or by the kernel when the controller dies however it dies (kill -9
# too), so that no master outlives its run. The reader kills its own process group (the
# guard, the master and itself: Children gave it one), never a pid that may be reused.
MASTER_GUARD = """fd=$1; shift
"$@" </dev/null &
m=$!
{ read -r _ <"/dev/fd/$fd"; kill -TERM 0; } 2>/dev/null &
wait "$m\""""

# On the host: an output to stdout, then (once all of it was written) removed; the path is $1.
READ_OUTPUT = 'cat -- "$1"'
READ_AND_REMOVE_OUTPUT = 'cat -- "$1" && rm -f -- "$1"'

# On the host: which of the tools (given as arguments) it has.
TOOLS_SCRIPT = ('for t do if command -v "$t" >/dev/null 2>&1; then echo "have $t"; '
                'else echo "lack $t"; fi; done')


@dataclass(frozen=True)
class SshHost:
    """One host the backend runs items on."""

    name: str                      # the inventory name: what outcomes and reports say
    address: str                   # what ssh connects to (ansible_host)
    user: str = ""                 # "" → ssh's default (~/.ssh/config, or the local user)
    port: int = 22
    key_file: str = ""             # ansible_ssh_private_key_file
    options: tuple[str, ...] = ()  # more ssh arguments, e.g. ("-o", "UserKnownHostsFile=/path/known_hosts")
    slots: int = 1                 # items at once: the host's usable cores
    # Controller folder → this host's folder (e.g. {work: "/var/tmp/labkit/run-1"}): a path
    # under a key is found under its value on the host; every other path is the same path.
    paths: Mapping[str, str] = field(default_factory=dict)

    @property
    def destination(self) -> str:
        return f"{self.user}@{self.address}" if self.user else self.address

    def remote_path(self, path: str) -> str:
        """Where the host sees a controller path (the longest matching `paths` folder wins)."""
        return mapped_path(path, self.paths)

    def remote_item(self, item: WorkItem) -> WorkItem:
        """The item as this host runs it (`backends.mapped_item`)."""
        return mapped_item(item, self.paths)


@dataclass(frozen=True)
class SshSettings:
    """How every connection behaves; the defaults notice a dead host within about 6 s."""

    connect_timeout_s: int = 5
    alive_interval_s: int = 2
    alive_count: int = 3


def ssh_argv(host: SshHost, settings: SshSettings = SshSettings(), control: Optional[str] = None, *,
             master: bool = False) -> list[str]:
    """`ssh` and its options for a host, without the destination.

    First what correctness needs (ssh keeps the first value of an option, so the
    host's options cannot turn it off): no prompts, no terminal, our control
    socket or none (never one from the user's config). Then the host's own
    options, then timeouts they may override. `master`: the connection that
    owns `control`, kept in the foreground (no ControlPersist fork), so that it
    stays a tracked child which stopping the run's children stops."""
    argv = ["ssh", "-T", "-o", "BatchMode=yes"]
    if master and control:
        argv += ["-N", "-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-o", f"ControlPath={control}"]
    elif control:
        argv += ["-o", "ControlMaster=no", "-o", f"ControlPath={control}"]
    else:
        argv += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
    argv += ["-p", str(host.port)]
    if host.key_file:
        argv += ["-i", host.key_file, "-o", "IdentitiesOnly=yes"]
    argv += list(host.options)
    argv += ["-o", f"ConnectTimeout={settings.connect_timeout_s}",
             "-o", f"ServerAliveInterval={settings.alive_interval_s}",
             "-o", f"ServerAliveCountMax={settings.alive_count}"]
    return argv


def remote_command(argv: Sequence[str], env: Mapping[str, str] = {}, make_dirs: Iterable[str] = ()) -> str:
    """The one string the host's login shell gets: every argument quoted (shlex.join).

    The worker runs under REMOTE_WRAPPER (stopped when the connection ends), with its
    extra environment set by `env`; the folders its outputs go to are made first."""
    worker = list(argv)
    if env:
        worker = ["env", *(f"{key}={value}" for key, value in env.items()), *worker]
    command = "exec " + shlex.join(["sh", "-c", REMOTE_WRAPPER, "labkit-worker", *worker])
    dirs = sorted(set(make_dirs))
    if dirs:
        command = shlex.join(["mkdir", "-p", "--", *dirs]) + " && " + command
    return command


def item_command(host: SshHost, item: WorkItem, settings: SshSettings = SshSettings(),
                 control: Optional[str] = None) -> list[str]:
    """The full ssh command line for an item (already mapped to the host's paths)."""
    dirs = [os.path.dirname(path) for path in item.outputs if os.path.dirname(path)]
    return [*ssh_argv(host, settings, control), host.destination, "--",
            remote_command(item.argv, item.env, dirs)]


def lanes_for(hosts: Sequence[tuple[str, int]], slots: int) -> list["Lane"]:
    """`slots` lanes over hosts given as (name, usable slots): taken round robin (each host's
    first slot, then each host's second …) so that N lanes spread over min(N, hosts) hosts;
    beyond every host's slots, round robin again (oversubscribed, as the caller asked).
    Numbered host after host: a host's lanes are consecutive (the report's timeline)."""
    if slots < 1:
        raise ValueError(f"slots={slots} must be at least 1")
    if not hosts:
        raise ValueError("no hosts to run on")
    taken = {name: 0 for name, _ in hosts}
    picked = 0
    level = 0
    while picked < slots:
        usable = [name for name, cap in hosts if level < cap] or [name for name, _ in hosts]
        for name in usable:
            if picked == slots:
                break
            taken[name] += 1
            picked += 1
        level += 1
    lanes: list[Lane] = []
    for name, _ in hosts:
        for k in range(taken[name]):
            lanes.append(Lane(name, len(lanes), k))
    return lanes


def spare_lanes(hosts: Sequence[tuple[str, int]], active: Sequence["Lane"]) -> list["Lane"]:
    """The hosts' unused slots, round robin (least used host first), numbered after `active`:
    where a lost host's lanes go, so that a run on fewer slots than the hosts have keeps
    its width when a host is lost."""
    used = {name: sum(1 for lane in active if lane.host == name) for name, _ in hosts}
    spares: list[Lane] = []
    for level in range(max((cap for _, cap in hosts), default=0)):
        for name, cap in hosts:
            if used[name] <= level < cap:
                spares.append(Lane(name, len(active) + len(spares), level))
    return spares


# -- scheduling (no ssh in here: unit-tested with fake attempts) ------------------

@dataclass(frozen=True)
class Lane:
    """One place an item can run: a host's k-th slot, `slot` its number in the run."""

    host: str
    slot: int
    k: int = 0


@dataclass
class Tried:
    """What one attempt gave, and whether it failed the way a lost host fails."""

    outcome: ItemOutcome
    host_suspect: bool = False   # ssh exit 255, a failed copy: check the host before blaming the item


Attempter = Callable[[WorkItem, Lane], Tried]
ReachabilityCheck = Callable[[str], Optional[str]]   # None: the host answers; otherwise why not, in words


@dataclass
class _Entry:
    position: int
    item: WorkItem
    attempts: int = 0                                    # every attempt made
    failures: int = 0                                    # those that count against retries
    avoid: set[str] = field(default_factory=set)         # hosts it failed on: retried elsewhere if possible
    lost_on: list[str] = field(default_factory=list)


class Scheduler:
    """One queue, many lanes on several hosts, retries and lost hosts.

    `attempt(item, lane)` runs one attempt (blocking); `check_host(host)` says
    whether a host that failed like a lost one still answers. Both are called
    without the lock held."""

    def __init__(self, items: Sequence[WorkItem], lanes: Sequence[Lane], attempt: Attempter,
                 check_host: ReachabilityCheck, *, retries: int = 0, on_progress: Optional[Progress] = None,
                 down: Optional[Mapping[str, str]] = None, spares: Sequence[Lane] = ()) -> None:
        self.items = list(items)
        self.lanes = list(lanes)
        self.attempt = attempt
        self.check_host = check_host
        self.retries = retries
        self.on_progress = on_progress
        self.cond = threading.Condition()
        self.pending: deque[_Entry] = deque(_Entry(i, item) for i, item in enumerate(self.items))
        self.in_flight = 0
        self.finals: dict[int, ItemOutcome] = {}
        self.outcome = BackendOutcome(t_e2e_s=0.0)
        self.spares: deque[Lane] = deque(spares)   # taken by a lost host's lanes, in order
        self.threads: list[threading.Thread] = []
        self.started: list[Lane] = []
        for host, reason in (down or {}).items():
            self._mark_down(host, reason)

    # -- the state, under self.cond ------------------------------------------
    def _hosts_up(self) -> set[str]:
        """Hosts with a lane working (a spare host without one cannot take a retry)."""
        return {lane.host for lane in self.started} - set(self.outcome.hosts_lost)

    def _start(self, lane: Lane) -> None:
        thread = threading.Thread(target=self._lane, args=(lane,), name=f"ssh-lane-{lane.slot}", daemon=True)
        self.threads.append(thread)
        self.started.append(lane)
        thread.start()

    def _replace(self, lane: Lane) -> None:
        """A lane whose host was lost hands over to a spare lane of a host still up, if any."""
        while self.spares:
            spare = self.spares.popleft()
            if spare.host not in self.outcome.host_errors:
                self._start(spare)
                return

    def _mark_down(self, host: str, reason: str) -> None:
        if host not in self.outcome.host_errors:
            self.outcome.hosts_lost.append(host)
            self.outcome.host_errors[host] = reason

    def _take(self, lane: Lane) -> Optional[_Entry]:
        """The next item for a lane, waiting while others may still requeue one; None: stop."""
        with self.cond:
            while True:
                if lane.host in self.outcome.host_errors:
                    return None
                up = self._hosts_up()
                for entry in self.pending:
                    # A retry goes to a host it has not failed on, unless every host left has failed it.
                    if lane.host not in entry.avoid or up <= entry.avoid:
                        self.pending.remove(entry)
                        self.in_flight += 1
                        return entry
                if not self.pending and self.in_flight == 0:
                    return None
                self.cond.wait()

    def _finish(self, entry: _Entry, outcome: ItemOutcome) -> int:
        outcome.attempts = entry.attempts
        outcome.lost_on = list(entry.lost_on)
        self.finals[entry.position] = outcome
        return len(self.finals)

    # -- one lane ------------------------------------------------------------
    def _lane(self, lane: Lane) -> None:
        self._work(lane)
        with self.cond:
            if lane.host in self.outcome.host_errors:
                self._replace(lane)

    def _work(self, lane: Lane) -> None:
        while (entry := self._take(lane)) is not None:
            tried = self._try(entry.item, lane)
            entry.attempts += 1
            out = tried.outcome
            if not out.ok and tried.host_suspect:
                reason = self._host_down_reason(lane.host)
                if reason is not None:
                    self._lost(lane, entry, out, reason)
                    return
            done = None
            with self.cond:
                self.in_flight -= 1
                if out.ok:
                    done = self._finish(entry, out)
                else:
                    self.outcome.attempts.append(Attempt(entry.item.name, entry.attempts, lane.slot, lane.host,
                                                         out.error or ""))
                    entry.failures += 1
                    if out.final or entry.failures > self.retries:
                        done = self._finish(entry, out)
                    else:
                        entry.avoid.add(lane.host)
                        self.pending.appendleft(entry)   # before the items not yet started
                self.cond.notify_all()
            if done is not None:
                self._progress(done, self.finals[entry.position])

    def _try(self, item: WorkItem, lane: Lane) -> Tried:
        try:
            return self.attempt(item, lane)
        except Exception as err:  # a bug or a spawn failure must not hang the other lanes
            return Tried(ItemOutcome(item.name, item.index, lane.slot, lane.host, 1, None, "", "", 0.0, 0.0,
                                     error=f"could not run on {lane.host}: {err}"))

    def _host_down_reason(self, host: str) -> Optional[str]:
        with self.cond:
            if host in self.outcome.host_errors:   # another lane of this host found it already
                return self.outcome.host_errors[host]
        try:
            return self.check_host(host)
        except Exception as err:
            return f"checking it failed: {err}"

    def _lost(self, lane: Lane, entry: _Entry, out: ItemOutcome, reason: str) -> None:
        """The lane's host is gone: the item goes back first in the queue, its retries untouched."""
        with self.cond:
            self.in_flight -= 1
            self._mark_down(lane.host, reason)
            self.outcome.attempts.append(Attempt(entry.item.name, entry.attempts, lane.slot, lane.host,
                                                 f"host {lane.host} lost ({reason}): {out.error}", host_lost=True))
            self.outcome.redone.setdefault(lane.host, []).append(entry.item.name)
            entry.lost_on.append(lane.host)
            self.pending.appendleft(entry)
            self.cond.notify_all()

    def _progress(self, done: int, outcome: ItemOutcome) -> None:
        if self.on_progress is not None:
            self.on_progress(done, len(self.items), outcome)

    # -- the whole batch -----------------------------------------------------
    def run(self) -> BackendOutcome:
        with self.cond:
            for lane in self.lanes:
                if lane.host in self.outcome.host_errors:
                    self._replace(lane)
                else:
                    self._start(lane)
        joined = 0
        while True:   # a lane that stops for a lost host starts its replacement first
            with self.cond:
                if joined == len(self.threads):
                    break
                thread = self.threads[joined]
            thread.join()
            joined += 1
        self._fail_the_rest()
        self.outcome.items = [self.finals[i] for i in range(len(self.items))]
        self.outcome.t_e2e_s = max((item.finished_s for item in self.outcome.items), default=0.0)
        return self.outcome

    def _fail_the_rest(self) -> None:
        """Items left when no lane is: every host was lost."""
        lost = "; ".join(f"{host}: {why}" for host, why in self.outcome.host_errors.items()) or "none usable"
        for entry in list(self.pending):
            last = 0.0
            error = f"not run: every host was lost ({lost})"
            outcome = ItemOutcome(entry.item.name, entry.item.index, -1, "", entry.attempts, None, "", "",
                                  last, last, error=error)
            done = self._finish(entry, outcome)
            self._progress(done, outcome)
        self.pending.clear()


# -- the backend --------------------------------------------------------------

class _HostTrouble(Exception):
    """A step failed the way a lost host fails (ssh exit 255, a failed copy)."""


class SshBackend:
    """Work items on SSH hosts; `run` is the Backend protocol's. Close it (or use `with`)
    to stop the master connections and remove the control sockets."""

    name = "ssh"

    def __init__(self, hosts: Sequence[SshHost], children: Optional[Children] = None, *,
                 multiplex: bool = True, copy_inputs: bool = False, keep_remote_outputs: bool = False,
                 settings: SshSettings = SshSettings()) -> None:
        names = [host.name for host in hosts]
        if not hosts:
            raise ValueError("the ssh backend needs at least one host")
        if len(set(names)) != len(names):
            raise ValueError(f"host names must be unique: {names}")
        self.hosts = {host.name: host for host in hosts}
        self.children = children or Children()
        self.multiplex = multiplex
        self.copy_inputs = copy_inputs
        self.keep_remote_outputs = keep_remote_outputs
        self.settings = settings
        self._control_dir: Optional[str] = None
        self._masters: dict[str, subprocess.Popen] = {}
        self._guards: dict[str, int] = {}   # per master: the write end of the pipe that keeps it alive
        self._host_locks = {host.name: threading.Lock() for host in hosts}
        self._dir_lock = threading.Lock()
        self.master_errors: dict[str, str] = {}   # hosts whose master connection failed, why
        self._staged: set[tuple[str, str, int, int]] = set()   # (host, path, size, mtime_ns) copied this session

    # -- connections -----------------------------------------------------------
    def _control_path(self, host: SshHost) -> Optional[str]:
        if not self.multiplex or host.slots > MAX_LANES_PER_MASTER:
            return None
        with self._dir_lock:   # hosts start their masters in parallel: one folder for all
            if self._control_dir is None:
                # Short and private: a Unix socket path has at most 107 bytes.
                self._control_dir = tempfile.mkdtemp(prefix="labkit-ssh-")
            return os.path.join(self._control_dir, f"h{list(self.hosts).index(host.name)}")

    def _ensure_master(self, host: SshHost) -> Optional[str]:
        """The host's control socket, starting its master connection if it is not running.
        None when there is none: items then connect directly (slower, same result), and
        `master_errors[host]` says why the master did not start."""
        control = self._control_path(host)
        if control is None:
            return None
        with self._host_locks[host.name]:
            master = self._masters.get(host.name)
            if master is not None and master.poll() is None and os.path.exists(control):
                return control
            if master is not None:
                self.children.forget(master)
            if os.path.exists(control):
                os.unlink(control)   # a dead master's socket
            log_path = control + ".log"
            self._close_guard(host.name)
            read_end, write_end = os.pipe()
            try:
                with open(log_path, "wb") as log:
                    master = self.children.popen(["sh", "-c", MASTER_GUARD, "labkit-ssh-master", str(read_end),
                                                  *ssh_argv(host, self.settings, control, master=True),
                                                  host.destination],
                                                 stdout=subprocess.DEVNULL, stderr=log, pass_fds=(read_end,))
            except BaseException:
                os.close(write_end)
                raise
            finally:
                os.close(read_end)
            self._masters[host.name] = master
            self._guards[host.name] = write_end
            deadline = time.monotonic() + self.settings.connect_timeout_s + 5
            while time.monotonic() < deadline and master.poll() is None and not os.path.exists(control):
                time.sleep(0.02)
            if os.path.exists(control):
                self.master_errors.pop(host.name, None)
                return control
            with open(log_path, encoding="utf-8", errors="replace") as log:
                why = tail(log.read())
            self.master_errors[host.name] = why or (f"ssh exited {master.returncode}" if master.poll() is not None
                                                    else "no connection after "
                                                         f"{self.settings.connect_timeout_s + 5} s")
            return None

    def _close_guard(self, name: str) -> None:
        guard = self._guards.pop(name, None)
        if guard is not None:
            os.close(guard)

    def close(self) -> None:
        """Stop every master connection and remove the control sockets' folder."""
        with self._dir_lock:
            for name, master in self._masters.items():
                self._close_guard(name)   # the guard kills its master
                try:
                    master.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    _kill_group(master)
                    master.wait()
                self.children.forget(master)
            self._masters.clear()
            if self._control_dir is not None:
                shutil.rmtree(self._control_dir, ignore_errors=True)
                self._control_dir = None

    def __enter__(self) -> "SshBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ssh(self, host: SshHost, *command: str, timeout_s: Optional[float] = None,
             stdout: object = subprocess.PIPE) -> subprocess.CompletedProcess:
        """A short command on the host (not a worker: no wrapper), over its master if any."""
        argv = [*ssh_argv(host, self.settings, self._ensure_master(host)), host.destination, "--",
                shlex.join(command)]
        proc = self.children.popen(argv, stdout=stdout, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = proc.communicate()
        finally:
            self.children.forget(proc)
        return subprocess.CompletedProcess(argv, proc.returncode, _text(out), _text(err))

    def check_host(self, name: str) -> Optional[str]:
        """None when the host answers a fresh connection (no master); otherwise why not."""
        host = self.hosts[name]
        argv = [*ssh_argv(host, self.settings), host.destination, "--", "true"]
        done = self.children.run(argv)
        if done.returncode == 0:
            return None
        return tail(done.stderr) or f"ssh exited {done.returncode}"

    # -- one attempt -------------------------------------------------------------
    def _attempt(self, item: WorkItem, lane: Lane, t0: float, timeout_s: Optional[float],
                 accept: Optional[Accept]) -> Tried:
        host = self.hosts[lane.host]
        remote = host.remote_item(item)
        started = time.monotonic() - t0
        outcome = ItemOutcome(item.name, item.index, lane.slot, host.name, 1, None, "", "", started, started)
        try:
            if self.copy_inputs:
                self._stage_inputs(host, item, remote)
            control = self._ensure_master(host)
            returncode, stdout, stderr, timed_out = self._run_worker(item_command(host, remote, self.settings,
                                                                                  control), timeout_s)
            outcome.returncode, outcome.stdout, outcome.stderr, outcome.timed_out = returncode, stdout, stderr, timed_out
            if timed_out:
                raise WorkFailed(f"timed out after {timeout_s:g} s on {host.name}")
            if returncode == SSH_FAILED:
                raise _HostTrouble(f"ssh to {host.name} failed (exit 255): {tail(stderr) or 'no output'}")
            if returncode != 0:
                raise exit_failure(item, returncode, tail(stderr or stdout) or "no output")
            result = result_of(stdout)
            self._fetch_outputs(host, item, remote)
            if accept is not None:
                accept(item, result)   # after the fetch: what it accepts is on the controller
            outcome.result = result
        except _HostTrouble as err:
            outcome.error = str(err)
            outcome.finished_s = time.monotonic() - t0
            return Tried(outcome, host_suspect=True)
        except WorkFailed as err:
            outcome.error = str(err)
            outcome.final = err.final
        outcome.finished_s = time.monotonic() - t0
        return Tried(outcome)

    def _run_worker(self, argv: list[str], timeout_s: Optional[float]) -> tuple[int, str, str, bool]:
        """Run an item's ssh command with its stdin on a pipe held open until it ends (see
        REMOTE_WRAPPER); on a timeout kill it, which ends the remote worker too."""
        read_end, write_end = os.pipe()
        try:
            proc = self.children.popen(["sh", "-c", KEEP_STDIN_OPEN, "labkit-ssh", str(read_end), *argv],
                                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                       pass_fds=(read_end,))
        except BaseException:
            os.close(write_end)
            raise
        finally:
            os.close(read_end)
        timed_out = False
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            stdout, stderr = proc.communicate()
            timed_out = True
        finally:
            os.close(write_end)   # the remote wrapper's stdin ends: nothing of this item outlives it
            self.children.forget(proc)
        return proc.returncode, stdout, stderr, timed_out

    def _stage_inputs(self, host: SshHost, item: WorkItem, remote: WorkItem) -> None:
        """Copy the item's inputs to the host with rsync over the same ssh options
        (once per file version and host in this backend's life)."""
        todo = []
        for local, there in zip(item.inputs, remote.inputs):
            info = os.stat(local)
            key = (host.name, local, info.st_size, info.st_mtime_ns)
            if key not in self._staged:
                todo.append((local, there, key))
        if not todo:
            return
        dirs = sorted({os.path.dirname(there) for _, there, _ in todo if os.path.dirname(there)})
        if dirs:
            made = self._ssh(host, "mkdir", "-p", "--", *dirs)
            if made.returncode != 0:
                raise _HostTrouble(f"could not make {', '.join(dirs)} on {host.name}: {tail(made.stderr)}")
        rsh = shlex.join(ssh_argv(host, self.settings, self._ensure_master(host)))
        for local, there, key in todo:
            # --secluded-args (-s): the remote path reaches rsync as is, never through a shell.
            done = self.children.run(["rsync", "-s", "-t", "-e", rsh, "--", local, f"{host.destination}:{there}"])
            if done.returncode != 0:
                raise _HostTrouble(f"could not copy {local} to {host.name}: {tail(done.stderr) or done.returncode}")
            self._staged.add(key)

    def _fetch_outputs(self, host: SshHost, item: WorkItem, remote: WorkItem) -> None:
        """Bring every output to the controller: read it to a hidden temporary name, the remote
        file removed in the same session once read, then renamed into place. Raises
        _HostTrouble when the host is lost meanwhile and WorkFailed when an output is missing.

        Removing before the rename makes a host that shares the controller's files (the
        same path on both) safe: it removes the file we just read, then the rename puts it back."""
        fetched: list[tuple[str, str]] = []
        script = READ_OUTPUT if self.keep_remote_outputs else READ_AND_REMOVE_OUTPUT
        try:
            for local, there in zip(item.outputs, remote.outputs):
                folder = os.path.dirname(local) or "."
                os.makedirs(folder, exist_ok=True)
                temporary = os.path.join(folder, f".{os.path.basename(local)}.fetch-{uuid.uuid4().hex[:8]}")
                fetched.append((temporary, local))
                with open(temporary, "wb") as sink:
                    done = self._ssh(host, "sh", "-c", script, "labkit-fetch", there, stdout=sink)
                if done.returncode == SSH_FAILED:
                    raise _HostTrouble(f"fetching {there} from {host.name} failed: {tail(done.stderr)}")
                if done.returncode != 0:
                    raise WorkFailed(f"output {there} could not be read on {host.name}: {tail(done.stderr)}")
            for temporary, local in fetched:
                os.replace(temporary, local)
            fetched = []
        finally:
            for temporary, _ in fetched:
                _remove(temporary)

    def fetch(self, host_name: str, item: WorkItem) -> None:
        """Bring an item's outputs from a host where something else ran it (the k3s backend's
        pods write them into the node's storage folder). WorkFailed says what went wrong."""
        host = self.hosts[host_name]
        try:
            self._fetch_outputs(host, item, host.remote_item(item))
        except _HostTrouble as err:
            raise WorkFailed(str(err)) from None

    # -- the Backend protocol ---------------------------------------------------
    def run(self, items: Sequence[WorkItem], slots: int, *, retries: int = 0,
            timeout_s: Optional[float] = None, accept: Optional[Accept] = None,
            on_progress: Optional[Progress] = None) -> BackendOutcome:
        """Run every item on the hosts' lanes (at most `slots` at once), in the order given."""
        if retries < 0:
            raise ValueError(f"retries={retries} must be at least 0")
        if slots < 1:
            raise ValueError(f"slots={slots} must be at least 1")
        down = self._unreachable_at_start(list(self.hosts))
        up = [(host.name, host.slots) for host in self.hosts.values() if host.name not in down]
        lanes = lanes_for(up, slots) if up else []
        t0 = time.monotonic()
        scheduler = Scheduler(items, lanes, lambda item, lane: self._attempt(item, lane, t0, timeout_s, accept),
                              self.check_host, retries=retries, on_progress=on_progress, down=down,
                              spares=spare_lanes(up, lanes))
        return scheduler.run()

    def _unreachable_at_start(self, names: Iterable[str]) -> dict[str, str]:
        """Hosts that do not answer before the run starts (their masters start meanwhile)."""
        down: dict[str, str] = {}

        def probe(name: str) -> None:
            host = self.hosts[name]
            if self._ensure_master(host) is not None:
                return
            # A master that could not connect says why; without multiplexing, try once.
            reason = self.master_errors.get(name) or self.check_host(name)
            if reason is not None:
                down[name] = f"unreachable at the start: {reason}"

        _each(probe, sorted(names))
        return down

    # -- throttling ---------------------------------------------------------------
    def throttle_readings(self) -> dict[str, Optional[str]]:
        """`vcgencmd get_throttled` per host, None where there is none or it fails."""
        readings: dict[str, Optional[str]] = {}

        def read(name: str) -> None:
            done = self._ssh(self.hosts[name], "sh", "-c", "command -v vcgencmd >/dev/null && vcgencmd get_throttled",
                             timeout_s=self.settings.connect_timeout_s + 10)
            readings[name] = done.stdout if done.returncode == 0 and done.stdout.strip() else None

        _each(read, list(self.hosts))
        return {name: readings.get(name) for name in self.hosts}

    def throttle_reading(self) -> Optional[str]:
        """The hosts' readings as one: their flags OR-ed ("throttled=0x..."), None when no host has one.
        (A flag already set on one host hides the same flag newly set on another: use
        throttle_readings() per host to tell them apart.)"""
        return combine_throttled(self.throttle_readings().values())


def combine_throttled(readings: Iterable[Optional[str]]) -> Optional[str]:
    values = [parsed["value"] for parsed in map(parse_throttled, readings) if parsed is not None]
    if not values:
        return None
    combined = 0
    for value in values:
        combined |= value
    return f"throttled={hex(combined)}"


# -- checking hosts before any work ------------------------------------------

@dataclass
class HostCheck:
    """Whether one host can run the workload, and why not in words."""

    host: str
    reachable: bool
    usable: bool
    reasons: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)    # tools it lacks

    def to_dict(self) -> dict:
        return {"host": self.host, "reachable": self.reachable, "usable": self.usable,
                "reasons": list(self.reasons), "missing": list(self.missing)}


def check_hosts(hosts: Sequence[SshHost], tools: Sequence[str] = ("python3",), encoder: Optional[str] = None, *,
                children: Optional[Children] = None, settings: SshSettings = SshSettings()) -> list[HostCheck]:
    """Per host, in the order given: reachable? has every tool (e.g. ("ffmpeg", "ffprobe"))? and,
    with `encoder`, does its ffmpeg (the tool named ffmpeg, else "ffmpeg") list that encoder?"""
    children = children or Children()
    checks: dict[str, HostCheck] = {}

    def check(host: SshHost) -> None:
        checks[host.name] = _check_one(host, tools, encoder, children, settings)

    _each(check, list(hosts))
    return [checks[host.name] for host in hosts]


CHECK_TIMEOUT_S = 60  # one check command on a host, beyond the connection's own timeout


def _check_one(host: SshHost, tools: Sequence[str], encoder: Optional[str], children: Children,
               settings: SshSettings) -> HostCheck:
    base = [*ssh_argv(host, settings), host.destination, "--"]
    # Bounded: a host that accepts the connection but never runs the command is unusable too.
    limit = settings.connect_timeout_s + CHECK_TIMEOUT_S
    done = children.run([*base, shlex.join(["sh", "-c", TOOLS_SCRIPT, "labkit-check", *tools])], timeout_s=limit)
    if done.returncode != 0:
        why = tail(done.stderr) or f"ssh exited {done.returncode}"
        return HostCheck(host.name, reachable=False, usable=False,
                         reasons=[f"{host.name} is unreachable ({host.destination}, port {host.port}): {why}"])
    missing = missing_tools(done.stdout, tools)
    reasons = [f"{host.name} has no {tool} (not found on its PATH)" for tool in missing]
    ffmpeg = next((t for t in tools if os.path.basename(t) == "ffmpeg"), "ffmpeg")
    if encoder and ffmpeg not in missing:
        listed = children.run([*base, shlex.join([ffmpeg, "-hide_banner", "-encoders"])], timeout_s=limit)
        if listed.returncode != 0:
            reasons.append(f"{host.name}: {ffmpeg} -encoders failed: {tail(listed.stderr or listed.stdout)}")
        elif encoder not in encoders_listed(listed.stdout):
            reasons.append(f"{host.name}: its ffmpeg has no encoder {encoder} "
                           f"({ffmpeg} -encoders does not list it)")
    return HostCheck(host.name, reachable=True, usable=not reasons, reasons=reasons, missing=missing)


def missing_tools(report: str, tools: Sequence[str]) -> list[str]:
    """The tools TOOLS_SCRIPT reported lacking (or did not mention at all)."""
    have = {line[5:] for line in report.splitlines() if line.startswith("have ")}
    return [tool for tool in tools if tool not in have]


def encoders_listed(text: str) -> set[str]:
    """Encoder names from `ffmpeg -encoders` (lines " V....D libx264  description", after "------")."""
    names: set[str] = set()
    started = False
    for line in text.splitlines():
        if line.strip().startswith("------"):
            started = True
            continue
        parts = line.split()
        if started and len(parts) >= 2:
            names.add(parts[1])
    return names


# -- helpers --------------------------------------------------------------------

def _each(function: Callable, values: Sequence) -> None:
    """function(value) for every value, in parallel threads (each host is its own machine)."""
    threads = [threading.Thread(target=function, args=(value,), daemon=True) for value in values]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 9)
    except OSError:
        pass


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
