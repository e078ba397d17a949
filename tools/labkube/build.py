"""Upstream Kubernetes built from the Go module proxy, cached outside the repository.

`tools/kubebuild` is a wrapper module: it requires k8s.io/kubernetes at the kit's pinned
version and replaces each staging module (k8s.io/api, k8s.io/apiserver, ...) with its
published release, which `go install k8s.io/kubernetes/cmd/...@v1.x` cannot do. The four
binaries land in `<cache>/bin/<version>-<digest>/`, the digest covering go.mod, go.sum
and the link flags, so a changed pin builds afresh and an unchanged one takes no time.
"""
from __future__ import annotations

import base64
import hashlib
import io
import os
import platform
import re
import shutil
import subprocess
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Callable

from labkube.versions import KUBERNETES_VERSION

KUBEBUILD = Path(__file__).resolve().parents[1] / "kubebuild"
COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet")
# The oldest Go that builds this Kubernetes (its go.mod says go 1.24.0), and the release
# fetched from the Go module proxy when the machine has no Go that new.
MINIMUM_GO = (1, 24)
FALLBACK_GO = "go1.24.9"


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


def go_version(go: str) -> tuple[int, int] | None:
    """(major, minor) of `go version`, None when it cannot say."""
    try:
        out = subprocess.run([go, "version"], capture_output=True, text=True, timeout=30, check=False).stdout
    except OSError:
        return None
    match = re.search(r"\bgo(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else None


def h1_of_zip(data: bytes) -> str:
    """The go command's "h1:" hash of a module zip (dirhash.Hash1): sha256 over the sorted
    "<sha256 of file>  <name>" lines of its files."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        lines = "".join(f"{hashlib.sha256(archive.read(name)).hexdigest()}  {name}\n"
                        for name in sorted(archive.namelist()) if not name.endswith("/"))
    return "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=300) as response:
        return bytes(response.read())


def fetch_go(cache: Path, log: Callable[[str], None], release: str = FALLBACK_GO) -> str:
    """A Go toolchain from the Go module proxy (the module golang.org/toolchain, which is how the
    go command itself upgrades), checked against the checksum database through the proxy."""
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine())
    if arch is None:
        raise BuildError(f"no Go toolchain for {platform.machine()} on the Go module proxy: install Go >= 1.24")
    version = f"v0.0.1-{release}.linux-{arch}"
    target = cache / "go" / version
    go = target / f"golang.org/toolchain@{version}" / "bin" / "go"
    if go.is_file():
        return str(go)
    proxy = os.environ.get("GOPROXY", "https://proxy.golang.org").split(",")[0].split("|")[0]
    if proxy in ("direct", "off"):
        proxy = "https://proxy.golang.org"
    log(f"no Go >= {MINIMUM_GO[0]}.{MINIMUM_GO[1]} here: fetching {release} from the Go module proxy ({proxy})")
    try:
        data = _get(f"{proxy}/golang.org/toolchain/@v/{version}.zip")
        lookup = _get(f"{proxy}/sumdb/sum.golang.org/lookup/golang.org/toolchain@{version}").decode()
    except OSError as err:
        raise BuildError(f"could not fetch Go {release} from the Go module proxy {proxy}: {err}") from err
    wanted = next((line.split()[2] for line in lookup.splitlines()
                   if line.startswith(f"golang.org/toolchain {version} h1:")), None)
    if wanted is None or h1_of_zip(data) != wanted:
        raise BuildError(f"Go {release} from {proxy} does not match the checksum database ({wanted}): not used")
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            archive.extract(info, partial)
            mode = info.external_attr >> 16
            if mode and not info.is_dir():
                os.chmod(partial / info.filename, mode & 0o777)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return str(go)


def go_binary(cache: Path | None = None, log: Callable[[str], None] = print) -> str:
    """A Go toolchain new enough: on PATH, where the official tarball puts it, or else (given a
    cache) fetched from the Go module proxy."""
    for found in (shutil.which("go"), "/usr/local/go/bin/go"):
        if found and os.access(found, os.X_OK) and (go_version(found) or (0, 0)) >= MINIMUM_GO:
            return found
    if cache is None:
        raise BuildError("Go >= 1.24 is needed to build Kubernetes from source (go.dev/dl; Debian bookworm's "
                         "golang-go is too old)")
    return fetch_go(cache, log)


def binaries(cache: Path, module_dir: Path = KUBEBUILD) -> Path:
    """Where the binaries of this pin are (or will be) kept."""
    return cache / "bin" / build_key(module_dir)


def ensure_binaries(cache: Path, log: Callable[[str], None], module_dir: Path = KUBEBUILD) -> Path:
    """Build the four binaries unless this pin's are cached; return their folder."""
    target = binaries(cache, module_dir)
    if all((target / name).is_file() for name in COMMANDS):
        return target
    go = go_binary(cache, log)
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
