"""The local cluster's two container images, built here without a registry or Docker.

There is no registry to pull from, so ./lab kube builds its images itself and imports
them into containerd with ctr:

* the pause (sandbox) image, ``localhost/lab-pause:1``: a static C program that blocks
  in pause() and reaps children, as Kubernetes' own pause image does;
* the worker image, ``localhost/lab-worker:bookworm-<RECIPE_VERSION>``: Debian bookworm
  (debootstrap minbase) with python3, python3-numpy and ffmpeg.

Each image is packed as an OCI image-layout tar archive (oci-layout, index.json,
blobs/sha256/...) with one gzip layer. ``ctr images import`` names an OCI archive's
image after the index's ``io.containerd.image.name`` annotation, so the archive itself
carries the final name.

Builds are cached under a caller-given directory, keyed by a digest of the recipe
(suite, packages, C source, RECIPE_VERSION, architecture): a second call returns at
once. A build happens in a temporary sibling directory renamed into place at the end,
so an interrupted build never leaves a half image that looks finished.
"""
from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

# Bump when the build steps change in a way the digest inputs below do not capture;
# it is also the worker image's tag, so a new recipe gets a new name.
RECIPE_VERSION = 1
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
WORKER_PACKAGES: tuple[str, ...] = ("python3", "python3-numpy", "ffmpeg")
PAUSE_IMAGE_NAME = "localhost/lab-pause:1"
WORKER_IMAGE_NAME = f"localhost/lab-worker:{SUITE}-{RECIPE_VERSION}"

PAUSE_USER = "65535:65535"   # Kubernetes' pause image runs as this user too
IMAGE_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PAUSE_CFLAGS: tuple[str, ...] = ("-static", "-O2", "-s", "-Wall", "-Wextra")
GZIP_LEVEL = 6
ERROR_TAIL_LINES = 25

# Which Debian package provides each external tool, for the "install it" hint.
TOOL_PACKAGES: Mapping[str, str] = {
    "debootstrap": "debootstrap",
    "gcc": "gcc",
    "tar": "tar",
    "ctr": "containerd",
    "chroot": "coreutils",
}
# A root shell started with sudo or su may lack the sbin directories in PATH;
# debootstrap and chroot live there.
_EXTRA_TOOL_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")

MEDIA_TYPE_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_TYPE_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_TYPE_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_TYPE_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"

ARCHIVE_FILE = "image.tar"
METADATA_FILE = "image.json"
_BUILDING_PREFIX = ".building-"
_CHUNK = 1 << 20

# Kubernetes' pause.c, reduced: pid 1 of every pod sandbox. It must reap the zombies
# of processes re-parented to it (shared pid namespace) and exit 0 on SIGINT/SIGTERM.
# Only async-signal-safe calls (write, _exit, waitpid) in the handlers.
PAUSE_C_SOURCE = r"""/* pause: the lab cluster's sandbox process (after Kubernetes' pause.c). */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static void sigdown(int signo) {
  static const char message[] = "pause: shutting down on a signal\n";
  (void)signo;
  (void)!write(STDERR_FILENO, message, sizeof message - 1);
  _exit(0);
}

static void sigreap(int signo) {
  (void)signo;
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
}

int main(int argc, char **argv) {
  struct sigaction down, reap;

  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    printf("lab-pause\n");
    return 0;
  }
  if (getpid() != 1)
    fprintf(stderr, "pause: warning: not pid 1\n");

  memset(&down, 0, sizeof down);
  down.sa_handler = sigdown;
  if (sigaction(SIGINT, &down, NULL) < 0)
    return 1;
  if (sigaction(SIGTERM, &down, NULL) < 0)
    return 2;

  memset(&reap, 0, sizeof reap);
  reap.sa_handler = sigreap;
  reap.sa_flags = SA_NOCLDSTOP;
  if (sigaction(SIGCHLD, &reap, NULL) < 0)
    return 3;

  for (;;)
    pause();
  fprintf(stderr, "pause: error: the infinite loop ended\n");
  return 42;
}
"""

# invoke-rc.d asks this before starting a service: 101 means "not allowed", so no
# package's postinst starts a daemon inside the build chroot.
_POLICY_RC_D = "#!/bin/sh\nexit 101\n"
# Documentation and translations no pod reads (Debian's "slim" images drop the same);
# the copyright files stay. dpkg skips these paths for what apt-get installs and
# _strip_docs removes those debootstrap already put down.
_DOC_GLOBS = ("usr/share/doc/*", "usr/share/man/*", "usr/share/info/*", "usr/share/lintian/*",
              "usr/share/locale/*")
_DOC_KEEP_GLOBS = ("usr/share/doc/*/copyright",)
_DPKG_NODOC = "".join([*(f"path-exclude=/{glob}\n" for glob in _DOC_GLOBS),
                       *(f"path-include=/{glob}\n" for glob in _DOC_KEEP_GLOBS)])
_CHROOT_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "DEBIAN_FRONTEND": "noninteractive",
    "DEBCONF_NONINTERACTIVE_SEEN": "true",
    "LC_ALL": "C",
    "LANG": "C",
    "HOME": "/root",
}
# Kernel file systems and scratch space: the container runtime provides them.
_LAYER_EXCLUDES = ("./dev/*", "./proc/*", "./sys/*", "./tmp/*", "./var/tmp/*")


class ImageError(Exception):
    """A build or import step failed; the message names the step and ends with its output."""


@dataclass(frozen=True)
class LocalImage:
    """An image built here, ready for ``ctr images import``."""

    name: str          # e.g. "localhost/lab-worker:bookworm-1"
    archive: Path      # the OCI image-layout tar
    digest: str        # "sha256:..." of the image manifest


# ---------------------------------------------------------------- public entry points

def pause_image(cache_dir: Path, log: Callable[[str], None]) -> LocalImage:
    """The pause image, compiled with gcc and packed on the first call, cached after."""
    recipe = pause_recipe()
    cached = _cached(cache_dir, "pause", recipe)
    if cached:
        return cached
    gcc = _require_tool("gcc")
    tar = _require_tool("tar")
    log(f"building the pause image {PAUSE_IMAGE_NAME} (gcc -static)")
    with _build_dir(cache_dir, "pause", recipe) as build:
        rootfs = build.work / "rootfs"
        rootfs.mkdir()
        source = build.work / "pause.c"
        source.write_text(PAUSE_C_SOURCE)
        _run("gcc", [gcc, *PAUSE_CFLAGS, "-o", str(rootfs / "pause"), str(source)],
             hint="a static binary needs libc6-dev (libc.a) as well as gcc")
        (rootfs / "pause").chmod(0o755)
        # Fixed owner and mtime: the same source gives the same digest on every machine.
        digest = pack_oci_archive(
            rootfs, build.archive, name=PAUSE_IMAGE_NAME, config=pause_config(), tar=tar,
            tar_options=("--owner=0", "--group=0", "--mtime=@0"),
            history="gcc -static pause.c (lab pause image)")
        image = build.finish(PAUSE_IMAGE_NAME, digest)
    log(f"pause image ready: {image.archive} ({_size_text(image.archive)})")
    return image


def worker_image(cache_dir: Path, log: Callable[[str], None], *,
                 mirror: str = DEFAULT_MIRROR) -> LocalImage:
    """The worker image (Debian minbase + WORKER_PACKAGES), built on the first call.

    Needs root (debootstrap, chroot) and the Debian mirror; a few minutes cold. The
    mirror is not part of the cache key: any mirror serves the same packages.
    """
    recipe = worker_recipe()
    cached = _cached(cache_dir, "worker", recipe)
    if cached:
        return cached
    tools = {name: _require_tool(name) for name in ("debootstrap", "chroot", "tar")}
    if os.geteuid() != 0:
        raise ImageError("debootstrap: building the worker image needs root (debootstrap and chroot)")
    log(f"building the worker image (debootstrap {SUITE} minbase, then {' '.join(WORKER_PACKAGES)}):"
        " a few minutes the first time")
    started = time.monotonic()
    with _build_dir(cache_dir, "worker", recipe) as build:
        rootfs = build.work / "rootfs"
        _debootstrap(tools["debootstrap"], rootfs, mirror, log)
        _install_packages(tools, rootfs, WORKER_PACKAGES, log)
        _tidy_rootfs(rootfs)
        log("packing the worker image (tar + gzip)")
        digest = pack_oci_archive(
            rootfs, build.archive, name=WORKER_IMAGE_NAME, config=worker_config(), tar=tools["tar"],
            history=f"debootstrap --variant=minbase {SUITE}; apt-get install {' '.join(WORKER_PACKAGES)}")
        image = build.finish(WORKER_IMAGE_NAME, digest)
    log(f"worker image ready in {time.monotonic() - started:.0f} s: {image.archive}"
        f" ({_size_text(image.archive)})")
    return image


def import_image(image: LocalImage, containerd_address: str, *, namespace: str = "k8s.io") -> None:
    """Import the image into containerd unless it is already there with the same digest."""
    ctr = _require_tool("ctr")
    if _image_digests(ctr, containerd_address, namespace).get(image.name) == image.digest:
        return
    # --no-unpack is not given: the CRI plugin runs containers from the unpacked
    # snapshot of its default snapshotter, which is also ctr's default.
    _run("import", [ctr, "--address", containerd_address, "-n", namespace,
                    "images", "import", str(image.archive)])
    if _image_digests(ctr, containerd_address, namespace).get(image.name) != image.digest:
        raise ImageError(f"import: ctr imported {image.archive} but containerd has no image"
                         f" {image.name} with digest {image.digest} afterwards")


def image_present(name: str, containerd_address: str, namespace: str = "k8s.io") -> bool:
    """Whether containerd (namespace) has an image of this exact name."""
    ctr = _require_tool("ctr")
    return name in _image_digests(ctr, containerd_address, namespace)


# ---------------------------------------------------------------- recipes and configs

def image_architecture(machine: str | None = None) -> str:
    """The OCI/Debian architecture name of this machine (or of `machine`)."""
    machine = (machine or platform.machine()).lower()
    names = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    if machine not in names:
        raise ImageError(f"pack: no image architecture for machine {machine!r} (amd64 and arm64 only)")
    return names[machine]


def pause_recipe() -> dict[str, object]:
    """Everything the pause image's content depends on."""
    return {"image": PAUSE_IMAGE_NAME, "recipe_version": RECIPE_VERSION, "arch": image_architecture(),
            "cflags": list(PAUSE_CFLAGS), "source": PAUSE_C_SOURCE, "config": pause_config()}


def worker_recipe(packages: Sequence[str] = WORKER_PACKAGES, suite: str = SUITE) -> dict[str, object]:
    """Everything the worker image's content depends on (the mirror aside)."""
    return {"image": WORKER_IMAGE_NAME, "recipe_version": RECIPE_VERSION, "arch": image_architecture(),
            "suite": suite, "variant": "minbase", "packages": list(packages),
            "config": worker_config()}


def recipe_digest(recipe: Mapping[str, object]) -> str:
    """A stable hex digest of a recipe: the cache key."""
    canonical = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def pause_config() -> dict[str, object]:
    """The pause image's OCI runtime config (the `config` member of the image config)."""
    return {"User": PAUSE_USER, "Env": [IMAGE_PATH_ENV], "Entrypoint": ["/pause"], "WorkingDir": "/"}


def worker_config() -> dict[str, object]:
    """The worker image's OCI runtime config: no entrypoint, python3 by default."""
    return {"Env": [IMAGE_PATH_ENV], "Cmd": ["python3"], "WorkingDir": "/"}


# ---------------------------------------------------------------- OCI packing

def pack_oci_archive(rootfs: Path, archive: Path, *, name: str, config: Mapping[str, object],
                     tar: str = "tar", tar_options: Sequence[str] = (), history: str = "",
                     architecture: str | None = None) -> str:
    """Pack `rootfs` as a one-layer OCI image-layout tar at `archive`; return the manifest digest.

    The layout is written next to the archive first and removed afterwards.
    """
    layout = archive.parent / (archive.name + ".layout")
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    try:
        layer_digest, layer_size, diff_id = _write_layer(rootfs, blobs, tar, tar_options)
        arch = architecture or image_architecture()
        image_config: dict[str, object] = {
            "architecture": arch, "os": "linux", "config": dict(config),
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": history or "tools/labkube/images.py"}],
        }
        config_desc = _write_json_blob(blobs, image_config, MEDIA_TYPE_CONFIG)
        manifest = {
            "schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST, "config": config_desc,
            "layers": [{"mediaType": MEDIA_TYPE_LAYER_GZIP, "digest": layer_digest, "size": layer_size}],
        }
        manifest_desc = _write_json_blob(blobs, manifest, MEDIA_TYPE_MANIFEST)
        manifest_desc["platform"] = {"architecture": arch, "os": "linux"}
        manifest_desc["annotations"] = {ANNOTATION_CONTAINERD_NAME: name,
                                        ANNOTATION_REF_NAME: _tag_of(name)}
        index = {"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": [manifest_desc]}
        (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
        (layout / "index.json").write_text(json.dumps(index, sort_keys=True))
        _tar_layout(layout, archive)
        return str(manifest_desc["digest"])
    finally:
        shutil.rmtree(layout, ignore_errors=True)


def _tag_of(name: str) -> str:
    """The tag of an image name ("localhost/lab-pause:1" -> "1"): the OCI ref.name convention."""
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        raise ImageError(f"pack: image name {name!r} has no tag")
    return last.rsplit(":", 1)[1]


def _write_layer(rootfs: Path, blobs: Path, tar: str, tar_options: Sequence[str]) -> tuple[str, int, str]:
    """tar the rootfs, gzip it into a blob; return (blob digest, blob size, diff_id)."""
    argv = [tar, "--create", "--file=-", f"--directory={rootfs}", "--numeric-owner", "--sort=name",
            # pax format carries xattrs (file capabilities); atime/ctime records would
            # only make the layer differ from build to build.
            "--format=posix", "--pax-option=delete=atime,delete=ctime",
            "--xattrs", "--xattrs-include=security.capability",
            *(f"--exclude={pattern}" for pattern in _LAYER_EXCLUDES), *tar_options, "."]
    uncompressed = hashlib.sha256()
    partial = blobs / "layer.partial"
    # stderr to a file, not a pipe: a pipe nobody reads until the end could fill and stall tar.
    with open(partial, "wb") as raw, tempfile.TemporaryFile() as stderr, \
            subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr) as proc:
        assert proc.stdout is not None
        # No file name and mtime 0 in the gzip header: identical content, identical digest.
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", compresslevel=GZIP_LEVEL,
                           mtime=0) as compressed:
            for chunk in iter(lambda: proc.stdout.read(_CHUNK), b""):
                uncompressed.update(chunk)
                compressed.write(chunk)
        proc.wait()
        stderr.seek(0)
        errors = stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ImageError(f"pack: tar exited with {proc.returncode}{_tail(errors)}")
    digest = _file_digest(partial)
    blob = blobs / digest.removeprefix("sha256:")
    partial.rename(blob)
    return digest, blob.stat().st_size, "sha256:" + uncompressed.hexdigest()


def _write_json_blob(blobs: Path, document: Mapping[str, object], media_type: str) -> dict[str, object]:
    """Store a JSON document as a blob; return its OCI descriptor."""
    data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}


def _tar_layout(layout: Path, archive: Path) -> None:
    """The image layout as one tar; root-owned, mtime 0, sorted, so it is reproducible."""
    def normalise(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    with tarfile.open(archive, "w", format=tarfile.PAX_FORMAT) as out:
        for path in sorted(layout.rglob("*")):
            out.add(path, arcname=path.relative_to(layout).as_posix(), recursive=False, filter=normalise)


def _file_digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


# ---------------------------------------------------------------- worker rootfs steps

def _debootstrap(debootstrap: str, rootfs: Path, mirror: str, log: Callable[[str], None]) -> None:
    log(f"debootstrap --variant=minbase {SUITE} from {mirror}")
    _run("debootstrap", [debootstrap, "--variant=minbase", SUITE, str(rootfs), mirror])


def _install_packages(tools: Mapping[str, str], rootfs: Path, packages: Iterable[str],
                      log: Callable[[str], None]) -> None:
    """apt-get install in the chroot, with no service started and no documentation kept."""
    policy = rootfs / "usr/sbin/policy-rc.d"
    policy.write_text(_POLICY_RC_D)
    policy.chmod(0o755)
    (rootfs / "etc/dpkg/dpkg.cfg.d/lab-nodoc").write_text(_DPKG_NODOC)
    chroot = [tools["chroot"], str(rootfs)]
    log(f"apt-get install --no-install-recommends {' '.join(packages)} (in the chroot)")
    try:
        _run("apt-get", [*chroot, "apt-get", "update"], env=_CHROOT_ENV)
        _run("apt-get", [*chroot, "apt-get", "install", "--yes", "--no-install-recommends", *packages],
             env=_CHROOT_ENV)
        _run("apt-get", [*chroot, "apt-get", "clean"], env=_CHROOT_ENV)
    finally:
        policy.unlink(missing_ok=True)


def _tidy_rootfs(rootfs: Path) -> None:
    """Drop what a pod never needs and what describes the build host rather than the image."""
    for cache in ("var/lib/apt/lists", "var/cache/apt", "var/log"):
        _empty_dir(rootfs / cache, keep={"partial", "lock"} if cache.endswith("apt/lists") else set())
    for leftover in ("var/cache/debconf/templates.dat-old", "var/lib/dpkg/status-old",
                     "var/cache/ldconfig/aux-cache"):
        (rootfs / leftover).unlink(missing_ok=True)
    _strip_docs(rootfs)
    # debootstrap copied the host's; the kubelet bind-mounts its own over these files.
    (rootfs / "etc/resolv.conf").write_text("")
    (rootfs / "etc/hostname").write_text("localhost\n")


def _strip_docs(rootfs: Path) -> None:
    """Remove the files _DPKG_NODOC excludes, except the ones it includes again."""
    keep = {path for glob in _DOC_KEEP_GLOBS for path in rootfs.glob(glob)}
    for glob in _DOC_GLOBS:
        for entry in rootfs.glob(glob):
            _remove_all_but(entry, keep)


def _remove_all_but(entry: Path, keep: set[Path]) -> None:
    """Remove a file, link or directory tree except the kept files (and the directories holding them)."""
    if entry in keep:
        return
    if not entry.is_dir() or entry.is_symlink():
        entry.unlink()
    elif not any(path.is_relative_to(entry) for path in keep):
        shutil.rmtree(entry)
    else:
        for child in entry.iterdir():
            _remove_all_but(child, keep)


def _empty_dir(directory: Path, keep: set[str]) -> None:
    """Remove the contents of a directory (files, links, subdirectories), not the directory."""
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        if entry.name in keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


# ---------------------------------------------------------------- the cache

class _Build:
    """A build in a temporary directory of the cache, renamed into place when finished."""

    def __init__(self, final: Path, work: Path) -> None:
        self.final = final
        self.work = work
        self.archive = work / ARCHIVE_FILE
        self.image: LocalImage | None = None

    def finish(self, name: str, digest: str) -> LocalImage:
        """Write the metadata, drop the scratch files and move the result into place."""
        for entry in self.work.iterdir():
            if entry.name != ARCHIVE_FILE:
                _remove_tree(entry)
        (self.work / METADATA_FILE).write_text(json.dumps({"name": name, "digest": digest}, indent=1))
        if self.final.exists() and _read_cached(self.final) is None:
            _remove_tree(self.final)        # not a finished build (made by hand?): replace it
        try:
            self.work.rename(self.final)
        except OSError as err:
            # Another process finished the same recipe first: keep its result.
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        image = _read_cached(self.final)
        if image is None:
            raise ImageError(f"pack: {self.final} is incomplete after the build")
        self.image = image
        return image

    def __enter__(self) -> "_Build":
        return self

    def __exit__(self, *exc: object) -> None:
        if self.work.exists():
            _remove_tree(self.work)


def _build_dir(cache_dir: Path, kind: str, recipe: Mapping[str, object]) -> _Build:
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = _cache_name(kind, recipe)
    _remove_stale_builds(cache_dir, key)
    work = Path(tempfile.mkdtemp(prefix=f"{_BUILDING_PREFIX}{key}-{os.getpid()}-", dir=cache_dir))
    work.chmod(0o755)   # mkdtemp's 0700 would hide the finished image from other users
    return _Build(cache_dir / key, work)


def _cache_name(kind: str, recipe: Mapping[str, object]) -> str:
    return f"{kind}-{recipe_digest(recipe)[:16]}"


def _cached(cache_dir: Path, kind: str, recipe: Mapping[str, object]) -> LocalImage | None:
    return _read_cached(cache_dir / _cache_name(kind, recipe))


def _read_cached(directory: Path) -> LocalImage | None:
    try:
        meta = json.loads((directory / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return None
    archive = directory / ARCHIVE_FILE
    if not archive.is_file():
        return None
    return LocalImage(name=meta["name"], archive=archive, digest=meta["digest"])


def _remove_stale_builds(cache_dir: Path, key: str) -> None:
    """Remove temporary build directories of this recipe left by a process that is gone."""
    for entry in cache_dir.glob(f"{_BUILDING_PREFIX}{key}-*"):
        pid_text = entry.name.removeprefix(f"{_BUILDING_PREFIX}{key}-").split("-", 1)[0]
        if pid_text.isdigit() and not _process_alive(int(pid_text)):
            _remove_tree(entry)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_tree(path: Path) -> None:
    """rmtree that first unmounts anything mounted below (a killed build may leave /proc)."""
    umount = shutil.which("umount", path=os.pathsep.join((*_EXTRA_TOOL_DIRS, "/usr/bin", "/bin")))
    for mount_point in _mounts_under(path):
        subprocess.run([umount or "umount", "--lazy", str(mount_point)], capture_output=True, check=False)
    if _mounts_under(path):
        return      # never rmtree into a mounted file system; the next build tries again
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _mounts_under(path: Path) -> list[Path]:
    """Mount points at or below `path`, deepest first."""
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return []
    root = os.path.realpath(path)
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) > 4:
            # mountinfo escapes blanks in paths as octal (\040).
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4])
            if point == root or point.startswith(root + "/"):
                points.append(Path(point))
    return sorted(points, key=lambda p: len(p.parts), reverse=True)


# ---------------------------------------------------------------- running tools

def _require_tool(name: str) -> str:
    """The path of a tool, or an ImageError saying which Debian package provides it."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_TOOL_DIRS])
    found = shutil.which(name, path=search)
    if not found:
        package = TOOL_PACKAGES.get(name, name)
        raise ImageError(f"{name}: not found; install it with: apt-get install {package}")
    return found


def _run(step: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None, hint: str = "") -> str:
    """Run a command (never through a shell); on failure raise an ImageError with its output's end."""
    try:
        proc = subprocess.run(list(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=dict(env) if env is not None else None, check=False)
    except OSError as err:
        raise ImageError(f"{step}: could not run {argv[0]}: {err}") from err
    output = proc.stdout.decode(errors="replace")
    if proc.returncode != 0:
        hint_text = f" ({hint})" if hint else ""
        raise ImageError(f"{step} failed: {Path(argv[0]).name} exited with {proc.returncode}"
                         f"{hint_text}{_tail(output)}")
    return output


def _tail(output: str, lines: int = ERROR_TAIL_LINES) -> str:
    last = [line for line in output.strip().splitlines()][-lines:]
    return (":\n" + "\n".join(last)) if last else ""


def _image_digests(ctr: str, address: str, namespace: str) -> dict[str, str]:
    """containerd's image names and their target digests (`ctr images ls`)."""
    output = _run("import", [ctr, "--address", address, "-n", namespace, "images", "ls"])
    digests = {}
    for line in output.splitlines()[1:]:          # the first line is the header
        fields = line.split()
        if len(fields) >= 3:
            digests[fields[0]] = fields[2]
    return digests


def _size_text(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:.1f} MiB"
