#!/usr/bin/env python3
"""Preflight probe: what one machine sees before an experiment, as one JSON document.

Runs on every node (copied to its work folder) and on the controller, with the standard
library only. It measures, each part only when asked:

- ``--disk DIR``: synchronous-write latency, what the K3s datastore (etcd's WAL, or sqlite
  under kine) waits for on every commit: ``--count`` blocks of ``--block`` bytes appended to
  a new file in DIR, each followed by fdatasync (fsync where there is none), every
  latency in ms. The file is removed afterwards, whatever happens.
- ``--rtt HOST:PORT``: round-trip time as the time a TCP connect takes (SYN to SYN-ACK is one
  round trip), ``--rtt-count`` times; no raw sockets, so no ping and no root needed.
- ``--route ADDRESS``: the raw lines of ``ip -o route get ADDRESS`` and ``ip -o link show dev
  <its device>`` (the route's MTU is parsed on the controller; /sys/class/net would show
  another network namespace's interfaces in a container or a sandbox host).
- ``--route-ssh-client``: the same towards the address this SSH session came from (the
  controller, as this node sees it: $SSH_CONNECTION).
- ``--resolve NAME``: getaddrinfo of each name, timed.
- ``--iperf-server PORT``: start ``iperf3 -s -1`` (one test, then it exits; ``--idle-timeout``
  ends it when no client comes) in a session of its own, and return once it listens.
- ``--iperf-stop PID``: end that server (its client never came), only if PID is still an
  iperf3 server.

    preflight_probe.py --disk /var/tmp/lab --count 200 --rtt 10.0.0.2:22 --route 10.0.0.2 --resolve pi2

Every argument is used as data, never passed through a shell. Prints one line of JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

SCHEMA = 1
RTT_TIMEOUT_S = 3.0


def disk_latency(directory: str, count: int, block: int) -> dict[str, Any]:
    """Append `count` blocks of `block` bytes to a new file in `directory`, each made durable
    (fdatasync) before the next; the latency of each write + sync in ms. Removes the file."""
    out: dict[str, Any] = {"path": directory, "count": count, "block_bytes": block, "latencies_ms": [],
                           "sync": "fdatasync" if hasattr(os, "fdatasync") else "fsync", "error": None}
    sync = getattr(os, "fdatasync", os.fsync)
    path = os.path.join(directory, f".preflight-fsync-{os.getpid()}")
    data = os.urandom(block)
    fd = -1
    try:
        os.makedirs(directory, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        start_all = time.perf_counter()
        for _ in range(count):
            start = time.perf_counter()
            os.write(fd, data)
            sync(fd)
            out["latencies_ms"].append((time.perf_counter() - start) * 1000.0)
        out["seconds"] = time.perf_counter() - start_all
    except OSError as err:
        out["error"] = f"{type(err).__name__}: {err}"
    finally:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(path)
        except OSError:
            pass
    return out


def tcp_rtt(target: str, count: int) -> dict[str, Any]:
    """`count` TCP connects to HOST:PORT, each timed from connect() to established, in ms."""
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    out: dict[str, Any] = {"target": target, "host": host, "port": int(port), "samples_ms": [], "error": None}
    try:
        infos = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
    except OSError as err:
        out["error"] = f"cannot resolve {host}: {err}"
        return out
    family, kind, proto, _, address = infos[0]
    for _ in range(count):
        sock = socket.socket(family, kind, proto)
        sock.settimeout(RTT_TIMEOUT_S)
        try:
            start = time.perf_counter()
            sock.connect(address)
            out["samples_ms"].append((time.perf_counter() - start) * 1000.0)
        except OSError as err:
            out["error"] = f"{type(err).__name__}: {err}"
            break
        finally:
            sock.close()
    return out


def _ip(*argv: str) -> tuple[str, str | None]:
    try:
        done = subprocess.run(["ip", *argv], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired) as err:
        return "", f"ip {' '.join(argv)}: {err}"
    if done.returncode != 0:
        return done.stdout, f"ip {' '.join(argv)}: {done.stderr.strip() or f'exit {done.returncode}'}"
    return done.stdout, None


def route(address: str) -> dict[str, Any]:
    """The raw `ip -o route get` line towards address and `ip -o link show` of its device."""
    out: dict[str, Any] = {"to": address, "route": "", "link": "", "error": None}
    out["route"], out["error"] = _ip("-o", "route", "get", address)
    words = out["route"].split()
    if "dev" in words[:-1]:
        device = words[words.index("dev") + 1]
        out["link"], error = _ip("-o", "link", "show", "dev", device)
        out["error"] = out["error"] or error
    return out


def resolve(name: str) -> dict[str, Any]:
    """getaddrinfo(name), timed in ms: its addresses, or the error."""
    start = time.perf_counter()
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        addresses = sorted({info[4][0] for info in infos})
        error = None
    except OSError as err:
        addresses, error = [], str(err)
    return {"name": name, "addresses": addresses, "ms": (time.perf_counter() - start) * 1000.0, "error": error}


def listening(port: int) -> bool:
    """Whether a TCP socket listens on port in this network namespace (/proc/net follows it)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 3 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                return True
    return False


def iperf_server(port: int, idle_s: int, wait_s: float = 10.0) -> dict[str, Any]:
    """Start a one-off iperf3 server on port, detached; return when it listens (or why not)."""
    out: dict[str, Any] = {"port": port, "pid": None, "error": None}
    if listening(port):
        out["error"] = f"port {port} is already in use (another iperf3 server?)"
        return out
    argv = ["iperf3", "--server", "--one-off", "--port", str(port), "--idle-timeout", str(idle_s)]
    log = tempfile.TemporaryFile()  # its messages, read if it stops early; nothing left behind
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    except OSError as err:
        out["error"] = f"cannot start iperf3: {err}"
        return out
    out["pid"] = proc.pid
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if listening(port):
            return out
        if proc.poll() is not None:
            log.seek(0)
            said = log.read().decode(errors="replace").strip()
            out["error"] = f"iperf3 server exited ({proc.returncode}): {said}"
            return out
        time.sleep(0.05)
    proc.kill()
    out["error"] = f"iperf3 server did not listen on port {port} within {wait_s:g} s"
    return out


def iperf_stop(pid: int) -> dict[str, Any]:
    """SIGTERM to pid when it is still an iperf3 server (a number reused since is left alone)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return {"pid": pid, "stopped": False, "error": None}  # already gone
    if not argv or os.path.basename(argv[0]) != "iperf3" or "--server" not in argv:
        return {"pid": pid, "stopped": False, "error": "not an iperf3 server (left alone)"}
    try:
        os.kill(pid, 15)
    except OSError as err:
        return {"pid": pid, "stopped": False, "error": str(err)}
    return {"pid": pid, "stopped": True, "error": None}


def ssh_client() -> str | None:
    """The address this SSH session came from, as this machine sees it."""
    words = os.environ.get("SSH_CONNECTION", "").split()
    return words[0] if words else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--disk", help="folder for the synchronous-write test")
    parser.add_argument("--count", type=int, default=200, help="synchronous writes")
    parser.add_argument("--block", type=int, default=4096, help="bytes per write")
    parser.add_argument("--rtt", action="append", default=[], metavar="HOST:PORT")
    parser.add_argument("--rtt-count", type=int, default=5)
    parser.add_argument("--route", action="append", default=[], metavar="ADDRESS")
    parser.add_argument("--route-ssh-client", action="store_true")
    parser.add_argument("--resolve", action="append", default=[], metavar="NAME")
    parser.add_argument("--iperf-server", type=int, metavar="PORT", help="start a one-off iperf3 server")
    parser.add_argument("--iperf-stop", type=int, metavar="PID", help="stop the server of a failed test")
    parser.add_argument("--iperf-idle", type=int, default=30, help="seconds the server waits for its client")
    args = parser.parse_args(argv)
    client = ssh_client()
    report: dict[str, Any] = {"schema": SCHEMA, "node": socket.gethostname(), "fqdn": socket.getfqdn(),
                              "ssh_client": client}
    routes = list(args.route) + ([client] if args.route_ssh_client and client else [])
    report["routes"] = [route(a) for a in routes]
    report["rtt"] = [tcp_rtt(t, max(1, args.rtt_count)) for t in args.rtt]
    report["names"] = [resolve(n) for n in args.resolve]
    if args.iperf_server:
        report["iperf_server"] = iperf_server(args.iperf_server, args.iperf_idle)
    if args.iperf_stop:
        report["iperf_stop"] = iperf_stop(args.iperf_stop)
    if args.disk:
        report["disk"] = disk_latency(args.disk, max(1, args.count), max(1, args.block))
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
