"""Upstream Kubernetes built from the Go module proxy, cached outside the repository.

`tools/kubebuild` is a wrapper module: it requires k8s.io/kubernetes at the kit's pinned
version and replaces each staging module (k8s.io/api, k8s.io/apiserver, ...) with its
published release, which `go install k8s.io/kubernetes/cmd/...@v1.x` cannot do. The four
binaries land in `<cache>/bin/<version>-<digest>/`, the digest covering go.mod, go.sum
and the link flags, so a changed pin builds afresh and an unchanged one takes no time.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

from labkube.versions import KUBERNETES_VERSION

KUBEBUILD = Path(__file__).resolve().parents[1] / "kubebuild"
COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")


class BuildError(Exception):
    """The build failed; the message names the step (Go, the module proxy, the compiler)."""


def ldflags(version: str = KUBERNETES_VERSION) -> str:
    """Strip symbols (a quarter of the size) and stamp the version the binaries report: a build
    from modules has no git tree for Kubernetes' own version script to read."""
    major, minor = version.lstrip("v").split(".")[:2]
    stamp = "k8s.io/component-base/version"
    return " ".join(["-s", "-w", f"-X {stamp}.gitVersion={version}", f"-X {stamp}.gitMajor={major}",
                     f"-X {stamp}.gitMinor={minor}", f"-X {stamp}.gitTreeState=clean"])


def build_key(module_dir: Path = KUBEBUILD, version: str = KUBERNETES_VERSION) -> str:
    """`<version>-<digest>`: what the binaries are built from."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "tools.go"):
        digest.update((module_dir / name).read_bytes())
    digest.update(ldflags(version).encode())
    return f"{version}-{digest.hexdigest()[:12]}"


def go_binary() -> str:
    """The Go toolchain: on PATH, or where the official tarball puts it."""
    found = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
    if not found:
        raise BuildError("Go is needed to build Kubernetes from source (Go ≥ 1.24, from go.dev/dl: "
                         "Debian bookworm's golang-go is too old)")
    return found


def binaries(cache: Path, module_dir: Path = KUBEBUILD) -> Path:
    """Where the binaries of this pin are (or will be) kept."""
    return cache / "bin" / build_key(module_dir)


def ensure_binaries(cache: Path, log: Callable[[str], None], module_dir: Path = KUBEBUILD) -> Path:
    """Build the four binaries unless this pin's are cached; return their folder."""
    target = binaries(cache, module_dir)
    if all((target / name).is_file() for name in COMMANDS):
        return target
    go = go_binary()
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    env = dict(os.environ, CGO_ENABLED="1", GOTOOLCHAIN="local", GOFLAGS="-mod=readonly")
    log(f"building Kubernetes {KUBERNETES_VERSION} from the Go module proxy ({', '.join(COMMANDS)}): "
        "about 5 minutes on 2 cores the first time, seconds with a warm Go cache")
    started = time.monotonic()
    download = subprocess.run([go, "mod", "download"], cwd=module_dir, env=env, capture_output=True, text=True)
    if download.returncode != 0:
        raise BuildError("could not download the Kubernetes modules from the Go module proxy "
                         f"(go mod download in {module_dir}): {download.stderr.strip()[-1500:]}")
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in COMMANDS]
    build = subprocess.run([go, "build", "-ldflags", ldflags(), "-o", str(partial) + "/", *packages],
                           cwd=module_dir, env=env, capture_output=True, text=True)
    if build.returncode != 0:
        raise BuildError(f"go build of Kubernetes {KUBERNETES_VERSION} failed: {build.stderr.strip()[-2000:]}")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    log(f"built in {time.monotonic() - started:.0f} s: {target}")
    return target
