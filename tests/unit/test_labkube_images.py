"""labkube.images without root or network: OCI packing, the cache key, missing tools."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
from labkube import images  # noqa: E402

NAME = "localhost/lab-test:7"


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _blob(members: dict[str, bytes], descriptor: dict[str, object]) -> bytes:
    digest = str(descriptor["digest"])
    data = members[f"blobs/sha256/{digest.removeprefix('sha256:')}"]
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
    assert len(data) == descriptor["size"]
    return data


@pytest.fixture()
def packed(tmp_path: Path) -> tuple[Path, str]:
    if not shutil.which("tar"):
        pytest.skip("GNU tar is not installed")
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "greeting").write_text("hello\n")
    (rootfs / "dev").mkdir()
    (rootfs / "dev" / "leftover").write_text("not for the layer\n")
    archive = tmp_path / "out" / "image.tar"
    archive.parent.mkdir()
    digest = images.pack_oci_archive(rootfs, archive, name=NAME, config=images.worker_config(),
                                     tar_options=("--owner=0", "--group=0", "--mtime=@0"),
                                     architecture="arm64")
    return archive, digest


def test_the_archive_is_an_oci_layout_whose_digests_and_sizes_agree(packed: tuple[Path, str]) -> None:
    archive, digest = packed
    members = _members(archive)
    assert json.loads(members["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(members["index.json"])
    assert index["mediaType"] == images.MEDIA_TYPE_INDEX
    [entry] = index["manifests"]
    assert entry["digest"] == digest
    assert entry["platform"] == {"architecture": "arm64", "os": "linux"}
    manifest = json.loads(_blob(members, entry))
    assert manifest["mediaType"] == images.MEDIA_TYPE_MANIFEST
    config = json.loads(_blob(members, manifest["config"]))
    [layer] = manifest["layers"]
    assert layer["mediaType"] == images.MEDIA_TYPE_LAYER_GZIP
    layer_tar = gzip.decompress(_blob(members, layer))
    assert config["rootfs"] == {"type": "layers",
                                "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]}
    assert (config["architecture"], config["os"]) == ("arm64", "linux")
    assert config["config"]["Cmd"] == ["python3"]
    # Nothing but the layout: the scratch layout directory is gone.
    assert sorted(p.name for p in archive.parent.iterdir()) == ["image.tar"]


def test_ctr_finds_the_full_name_in_the_index_annotations(packed: tuple[Path, str]) -> None:
    archive, _ = packed
    [entry] = json.loads(_members(archive)["index.json"])["manifests"]
    assert entry["annotations"] == {"io.containerd.image.name": NAME,
                                    "org.opencontainers.image.ref.name": "7"}


def test_the_layer_holds_the_files_root_owned_without_dev_contents(packed: tuple[Path, str]) -> None:
    archive, _ = packed
    members = _members(archive)
    manifest_digest = json.loads(members["index.json"])["manifests"][0]["digest"]
    manifest = json.loads(members[f"blobs/sha256/{manifest_digest.removeprefix('sha256:')}"])
    layer = _blob(members, manifest["layers"][0])
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(layer))) as tar:
        entries = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile(entries["./etc/greeting"]).read() == b"hello\n"
    assert "./dev" in entries and "./dev/leftover" not in entries
    assert {(m.uid, m.gid) for m in entries.values()} == {(0, 0)}


def test_packing_the_same_tree_twice_gives_the_same_digest(tmp_path: Path, packed: tuple[Path, str]) -> None:
    _, digest = packed
    again = tmp_path / "again" / "image.tar"
    again.parent.mkdir()
    assert images.pack_oci_archive(tmp_path / "rootfs", again, name=NAME, config=images.worker_config(),
                                   tar_options=("--owner=0", "--group=0", "--mtime=@0"),
                                   architecture="arm64") == digest


def test_the_cache_key_changes_with_the_package_list() -> None:
    base = images.recipe_digest(images.worker_recipe())
    assert images.recipe_digest(images.worker_recipe()) == base
    assert images.recipe_digest(images.worker_recipe(packages=("python3", "python3-numpy"))) != base
    assert images.recipe_digest(images.worker_recipe(suite="trixie")) != base
    assert images.recipe_digest(images.pause_recipe()) != base


def test_the_worker_name_carries_the_recipe_version() -> None:
    assert images.WORKER_IMAGE_NAME == f"localhost/lab-worker:bookworm-{images.RECIPE_VERSION}"
    assert images.PAUSE_IMAGE_NAME == "localhost/lab-pause:1"


@pytest.mark.parametrize("machine,arch", [("x86_64", "amd64"), ("aarch64", "arm64"), ("arm64", "arm64")])
def test_the_architecture_follows_the_machine(machine: str, arch: str) -> None:
    assert images.image_architecture(machine) == arch


def test_an_unknown_machine_is_refused() -> None:
    with pytest.raises(images.ImageError, match="riscv64"):
        images.image_architecture("riscv64")


def test_a_missing_compiler_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(images.ImageError, match=r"gcc: not found; install it with: apt-get install gcc"):
        images.pause_image(tmp_path, lambda line: None)


def test_a_missing_debootstrap_is_reported_before_root_is_needed(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(images.ImageError, match="apt-get install debootstrap"):
        images.worker_image(tmp_path, lambda line: None)


def test_a_missing_ctr_names_containerd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images.shutil, "which", lambda *args, **kwargs: None)
    image = images.LocalImage(NAME, tmp_path / "image.tar", "sha256:" + "0" * 64)
    with pytest.raises(images.ImageError, match="apt-get install containerd"):
        images.import_image(image, "/run/nowhere.sock")


def test_a_failing_step_says_which_and_ends_with_its_output() -> None:
    with pytest.raises(images.ImageError) as caught:
        images._run("apt-get", [sys.executable, "-c",
                                "import sys; print('E: Unable to locate package x'); sys.exit(100)"])
    message = str(caught.value)
    assert message.startswith("apt-get failed")
    assert "exited with 100" in message and message.endswith("E: Unable to locate package x")


def test_a_finished_build_in_the_cache_is_returned_without_building(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    done = tmp_path / images._cache_name("pause", images.pause_recipe())
    done.mkdir()
    (done / images.ARCHIVE_FILE).write_bytes(b"")
    (done / images.METADATA_FILE).write_text(json.dumps({"name": images.PAUSE_IMAGE_NAME,
                                                         "digest": "sha256:" + "1" * 64}))
    monkeypatch.setattr(images, "_require_tool", lambda name: pytest.fail(f"looked for {name}"))
    image = images.pause_image(tmp_path, lambda line: pytest.fail(line))
    assert image == images.LocalImage(images.PAUSE_IMAGE_NAME, done / images.ARCHIVE_FILE,
                                      "sha256:" + "1" * 64)


def test_a_half_build_is_not_mistaken_for_a_finished_one(tmp_path: Path) -> None:
    half = tmp_path / images._cache_name("pause", images.pause_recipe())
    half.mkdir()
    (half / images.ARCHIVE_FILE).write_bytes(b"")     # no metadata: never renamed into place
    assert images._cached(tmp_path, "pause", images.pause_recipe()) is None


def test_a_dead_builds_scratch_directory_is_removed(tmp_path: Path) -> None:
    key = images._cache_name("worker", images.worker_recipe())
    dead = tmp_path / f"{images._BUILDING_PREFIX}{key}-999999999-abc"
    (dead / "rootfs").mkdir(parents=True)
    images._remove_stale_builds(tmp_path, key)
    assert not dead.exists()


def test_the_pause_source_reaps_children_and_exits_on_term() -> None:
    source = images.PAUSE_C_SOURCE
    assert "waitpid(-1, NULL, WNOHANG)" in source and "SIGTERM" in source and "_exit(0)" in source


def _can_link_statically() -> bool:
    return bool(shutil.which("gcc") and shutil.which("tar") and list(Path("/usr/lib").glob("*/libc.a")))


@pytest.mark.skipif(not _can_link_statically(), reason="gcc, tar or libc6-dev (libc.a) missing")
def test_the_pause_image_is_built_once_and_then_cached(tmp_path: Path) -> None:
    lines: list[str] = []
    first = images.pause_image(tmp_path, lines.append)
    assert first.name == "localhost/lab-pause:1" and first.archive.is_file()
    assert any("building the pause image" in line for line in lines)
    lines.clear()
    assert images.pause_image(tmp_path, lines.append) == first
    assert lines == []
    # Only the finished entry: no scratch directory left behind.
    assert [p.name for p in tmp_path.iterdir()] == [first.archive.parent.name]
    members = _members(first.archive)
    [entry] = json.loads(members["index.json"])["manifests"]
    config = json.loads(_blob(members, json.loads(_blob(members, entry))["config"]))
    assert config["config"]["Entrypoint"] == ["/pause"]
    assert config["config"]["User"] == "65535:65535"
