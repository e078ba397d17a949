"""./lab kube up [--nodes N] | status | down: a real local Kubernetes (python -m labkube)."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from labkube import build, images, pki
from labkube.cluster import KubeError, LocalKube
from labkube.versions import KUBERNETES_VERSION

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WORKDIR = ROOT / "work" / "kube"
DEFAULT_INVENTORY = ROOT / "inventory" / "kube-local.yml"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pi-cluster-lab" / "kube"


def shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="./lab kube",
        description=f"A real local Kubernetes ({KUBERNETES_VERSION}, upstream, built from source; not K3s) "
                    "for running the kit's cluster paths without Pis.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workdir", type=Path, default=Path(os.environ.get("LAB_KUBE_WORKDIR", DEFAULT_WORKDIR)),
                        help=f"the cluster's files (default {shown(DEFAULT_WORKDIR)}; env LAB_KUBE_WORKDIR)")
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", parents=[common], help="build what is missing, start the cluster, write the inventory")
    up.add_argument("--nodes", type=int, default=1, choices=range(1, 5), metavar="N",
                    help="nodes, 1 to 4 (default 1: this machine; the others each in a sandbox host "
                         "with its own containerd and kubelet)")
    up.add_argument("--cache", type=Path, default=Path(os.environ.get("LAB_KUBE_CACHE", DEFAULT_CACHE)),
                    help=f"binaries and images, kept across clusters (default {DEFAULT_CACHE}; env LAB_KUBE_CACHE)")
    up.add_argument("--inventory", type=Path, default=DEFAULT_INVENTORY,
                    help=f"the inventory to write (default {shown(DEFAULT_INVENTORY)})")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the nodes (default 180)")
    status = sub.add_parser("status", parents=[common], help="what runs, which nodes are Ready")
    status.add_argument("--json", action="store_true", help="print it as JSON")
    sub.add_parser("down", parents=[common], help="stop everything and remove what up made")
    return top


def say(line: str) -> None:
    print(f"kube: {line}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    kube = LocalKube(args.workdir, getattr(args, "cache", DEFAULT_CACHE), log=say)
    if args.command == "up":
        # Ctrl-C or a failure part-way: take down what was started, then say why.
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            kube.preflight()
        except KubeError as err:
            say(str(err))
            return 1
        try:
            kube.up(nodes=args.nodes, inventory=args.inventory.absolute(), timeout_s=args.timeout)
        except BaseException as err:
            # Whatever stopped it (a failed step, Ctrl-C, a bug): nothing half-started stays.
            if kube.load():
                say("stopping what was started")
                for problem in kube.down():
                    say(problem)
            if isinstance(err, KeyboardInterrupt):
                say("interrupted")
                return 130
            if isinstance(err, (KubeError, build.BuildError, images.ImageError, pki.PkiError)):
                say(str(err))
                return 1
            raise
        print(f"inventory: {shown(args.inventory.absolute())}\n"
              f"kubeconfig: {shown(kube.admin_kubeconfig)}\n"
              f"try: ./lab play bench-pi.yml -i {shown(args.inventory.absolute())}")
        return 0
    if not kube.load():
        say(f"no local Kubernetes in {shown(args.workdir)} (./lab kube up starts one)")
        return 0 if args.command == "down" else 1
    if args.command == "status":
        status = kube.status()
        if args.json:
            print(json.dumps(status, indent=2))
        else:
            print(f"Kubernetes {status['version']} (upstream, built from source) in {shown(kube.workdir)}")
            for process in status["processes"]:
                print(f"  {process['name']:<28} pid {process['pid']:<8} {'running' if process['alive'] else 'STOPPED'}")
            print("nodes: " + ", ".join(f"{n} {'Ready' if n in status['ready'] else 'NOT READY'}"
                                        for n in status["nodes"]))
            print(f"kubeconfig: {shown(Path(status['kubeconfig']))}")
            if status.get("inventory"):
                print(f"inventory: {shown(Path(status['inventory']))}")
        alive = all(p["alive"] for p in status["processes"])
        return 0 if alive and set(status["nodes"]) <= set(status["ready"]) else 1
    problems = kube.down()
    for problem in problems:
        say(problem)
    if not problems:
        say(f"stopped; removed {shown(args.workdir)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
