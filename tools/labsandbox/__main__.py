"""./lab sandbox: a simulated Pi cluster on this machine (python -m labsandbox).

  up N [--cpus C] [--mem SIZE] [--net RATE]   start hosts sbx-1..sbx-N, write the inventory
  stop HOST                                   cut one host off, as a power failure would
  status                                      the hosts, their caps, whether each answers on port 22
  down                                        remove everything (also after a crash)

--workdir (state, keys, the hosts' files; default work/sandbox), --inventory (default
inventory/sandbox.yml) and --id (names the namespaces, veths and cgroups; default main) let
several sandboxes live side by side: the tests use their own.
"""
from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
from pathlib import Path

from labsandbox import (
    MARKER_FILE,
    STATE_FILE,
    Sandbox,
    SandboxUnavailable,
    check_id,
    teardown,
    unavailable_reason,
)
from labsandbox.limits import HostLimits, format_size, parse_cpus, parse_memory, parse_rate

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORKDIR = ROOT / "work" / "sandbox"
DEFAULT_INVENTORY = ROOT / "inventory" / "sandbox.yml"
DEFAULT_ID = "main"
DEFAULT_CPUS = "1"
DEFAULT_MEMORY = "1G"   # a Raspberry Pi 3's memory
HOST_PREFIX = "sbx-"
GROUP = "workers"


def shown(path: Path) -> str:
    """A path as the user would type it: relative to where they are when it is below, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="./lab sandbox", description="A simulated Pi cluster on this machine.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workdir", type=Path, default=Path(os.environ.get("LAB_SANDBOX_WORKDIR", DEFAULT_WORKDIR)),
                        help=f"state, keys and the hosts' files (default {shown(DEFAULT_WORKDIR)};"
                             " env LAB_SANDBOX_WORKDIR)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="up|stop|status|down")
    up = sub.add_parser("up", parents=[common], help="start N hosts and write their inventory")
    up.add_argument("count", type=int, metavar="N", help="how many hosts (sbx-1 .. sbx-N)")
    up.add_argument("--cpus", default=DEFAULT_CPUS, help="CPUs per host, fractions allowed (default 1)")
    up.add_argument("--mem", default=DEFAULT_MEMORY, help="memory per host, e.g. 512M (default 1G)")
    up.add_argument("--net", default=None, help="link rate per host, e.g. 100mbit (default: unshaped)")
    up.add_argument("--inventory", type=Path,
                    default=Path(os.environ.get("LAB_SANDBOX_INVENTORY", DEFAULT_INVENTORY)),
                    help=f"where to write the inventory (default {shown(DEFAULT_INVENTORY)};"
                         " env LAB_SANDBOX_INVENTORY)")
    up.add_argument("--id", default=os.environ.get("LAB_SANDBOX_ID", DEFAULT_ID),
                    help="names the namespaces, veths and cgroups: lab-sbx-ID-n (default main; env LAB_SANDBOX_ID)")
    stop = sub.add_parser("stop", parents=[common], help="cut one host off (its processes killed, its link gone)")
    stop.add_argument("host", metavar="HOST")
    sub.add_parser("status", parents=[common], help="the hosts and whether each answers")
    down = sub.add_parser("down", parents=[common], help="remove everything, also after a crash")
    down.add_argument("--id", default=os.environ.get("LAB_SANDBOX_ID"),
                      help="sweep this id's leftovers when the state file is gone (default: the state's, else main)")
    return parser.parse_args(argv)


def fail(message: str, code: int = 1) -> int:
    print(f"lab sandbox: {message}", file=sys.stderr)
    return code


def parse_limits(args: argparse.Namespace) -> HostLimits:
    return HostLimits(cpus=parse_cpus(args.cpus), memory_bytes=parse_memory(args.mem),
                      rate=parse_rate(args.net) if args.net else None)


def check_workdir_free(workdir: Path) -> None:
    """Refuse a work directory that holds a running sandbox or someone's files (down deletes it)."""
    if (workdir / STATE_FILE).exists():
        raise RuntimeError(f"a sandbox is already in {workdir}: ./lab sandbox status, or ./lab sandbox down first")
    if workdir.exists() and any(workdir.iterdir()) and not (workdir / MARKER_FILE).exists():
        raise RuntimeError(f"--workdir {workdir} is not empty and not a sandbox's: down would delete it;"
                           " name a new directory")


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def up(args: argparse.Namespace) -> int:
    try:
        limits = parse_limits(args)
        check_id(args.id)
    except ValueError as exc:
        return fail(str(exc), 2)
    if not 1 <= args.count <= 60:
        return fail(f"up {args.count}: between 1 and 60 hosts", 2)
    workdir, inventory = args.workdir.absolute(), args.inventory.absolute()
    try:
        check_workdir_free(workdir)
    except RuntimeError as exc:
        return fail(str(exc))
    # Ctrl-C or a kill while starting: clean up what was made (down would too, from the state).
    signal.signal(signal.SIGTERM, interrupted)
    box: Sandbox | None = None
    try:
        box = Sandbox(workdir, sandbox_id=args.id, limits=limits)
        for n in range(1, args.count + 1):
            box.add_host(f"{HOST_PREFIX}{n}", groups=[GROUP])
        box.start()
        box.inventory(allvars={"cluster_backend": "ssh"}, controller=True, path=inventory)
    except (SandboxUnavailable, OSError, KeyboardInterrupt) as exc:
        teardown(workdir, args.id)
        if isinstance(exc, KeyboardInterrupt):
            return fail("interrupted; everything it had started is removed", 130)
        return fail(f"cannot start the sandbox: {exc}")
    print_usage(box, limits, inventory)
    return 0


def print_usage(box: Sandbox, limits: HostLimits, inventory: Path) -> None:
    print(f"Sandbox up: {len(box.hosts)} hosts, each {limits.describe()}")
    for host in box.hosts:
        print(f"  {host.name:<8} {host.address}")
    first, last = box.hosts[0], box.hosts[-1]
    inv = shown(inventory)
    workdir = [] if box.workdir == DEFAULT_WORKDIR.absolute() else ["--workdir", shown(box.workdir)]
    lab = ["./lab", "sandbox"]
    print(f"Inventory: {inv} (cluster_backend: ssh, group {GROUP})")
    print("Use it:")
    print(f"  ./lab play bench-pi.yml -i {shlex.quote(inv)}")
    print(f"  {shlex.join(box.ssh_command(first))}")
    print(f"  {shlex.join([*lab, 'stop', last.name, *workdir])}     # a power failure")
    print(f"  {shlex.join([*lab, 'status', *workdir])}")
    print(f"  {shlex.join([*lab, 'down', *workdir])}")


def stop(args: argparse.Namespace) -> int:
    try:
        box = Sandbox.attach(args.workdir)
        host = box.stop_host(args.host)
    except (FileNotFoundError, KeyError) as exc:
        return fail(str(exc.args[0]) if exc.args else str(exc))
    print(f"{host.name} ({host.address}) is off: its processes killed, its link removed")
    return 0


def status(args: argparse.Namespace) -> int:
    try:
        box = Sandbox.attach(args.workdir)
    except FileNotFoundError as exc:
        return fail(str(exc), 3)
    rows = box.status()
    print(f"Sandbox {box.tag} in {shown(box.workdir)}: {len(rows)} hosts")
    for row in rows:
        lim: HostLimits = row["limits"]
        cpus = "-" if lim.cpus is None else f"{lim.cpus:g} CPU"
        memory = "-" if lim.memory_bytes is None else format_size(lim.memory_bytes)
        state = "stopped" if row["stopped"] else ("up, answers on port 22" if row["answers"] else "NOT ANSWERING")
        print(f"  {row['name']:<8} {row['address']:<15} {cpus:>8} {memory:>6} {lim.rate or 'unshaped':>9}  {state}")
    return 0


def down(args: argparse.Namespace) -> int:
    workdir = args.workdir.absolute()
    sandbox_id = args.id
    if sandbox_id is None and not (workdir / STATE_FILE).exists():
        sandbox_id = DEFAULT_ID
    try:
        done, problems = teardown(workdir, sandbox_id)
    except ValueError as exc:
        return fail(str(exc), 2)
    print("Sandbox down: " + ("; ".join(done) if done else "nothing was left"))
    for problem in problems:
        print(f"lab sandbox: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    args = arguments(sys.argv[1:] if argv is None else argv)
    if args.command != "status" and os.geteuid() != 0:
        return fail(f"{args.command} needs root (network namespaces, cgroups, sshd): sudo ./lab sandbox"
                    f" {args.command} ...")
    reason = unavailable_reason() if args.command == "up" else None
    if reason:
        return fail(f"up: this machine cannot run sandbox hosts: {reason}")
    return {"up": up, "stop": stop, "status": status, "down": down}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
