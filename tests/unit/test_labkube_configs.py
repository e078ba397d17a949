"""The local Kubernetes' files (tools/labkube/configs.py, pki.py, build.py): pure text and openssl."""
from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from labkube import build, configs, pki
from labkube.versions import KUBERNETES_VERSION
from labtest import REPO


def test_the_kubernetes_pin_is_the_k3s_pins_kubernetes() -> None:
    defaults = (REPO / "roles" / "lab_common" / "defaults" / "main.yml").read_text()
    k3s = re.search(r"^k3s_version: (v[0-9.]+)\+k3s[0-9]+", defaults, re.M)
    assert k3s and k3s.group(1) == KUBERNETES_VERSION
    go_mod = (REPO / "tools" / "kubebuild" / "go.mod").read_text()
    assert f"require k8s.io/kubernetes {KUBERNETES_VERSION}" in go_mod
    # Every staging module is replaced by its published release of the same minor version.
    staging = re.findall(r"^\s*(k8s\.io/\S+) => k8s\.io/\S+ (v\S+)", go_mod, re.M)
    assert len(staging) > 20
    minor = KUBERNETES_VERSION.split(".")[1]
    assert all(version == f"v0.{minor}.{KUBERNETES_VERSION.split('.')[2]}" for _, version in staging), staging


def test_containerd_config_restricts_oom_score_and_uses_the_local_pause_image(tmp_path: Path) -> None:
    text = configs.containerd_config(root=tmp_path / "root", state=tmp_path / "state", socket=tmp_path / "c.sock",
                                     cni_conf_dir=tmp_path / "net.d", cni_bin_dir=Path("/usr/lib/cni"),
                                     sandbox_image="localhost/lab-pause:1")
    parsed = tomllib.loads(text)
    assert parsed["version"] == 2 and parsed["root"] == str(tmp_path / "root")
    cri = parsed["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["restrict_oom_score_adj"] is True
    assert cri["sandbox_image"] == "localhost/lab-pause:1"
    assert cri["netns_mounts_under_state_dir"] is True
    assert cri["containerd"]["runtimes"]["runc"]["options"]["SystemdCgroup"] is False
    assert cri["cni"]["conf_dir"] == str(tmp_path / "net.d")


def test_kubelet_config_fits_this_kind_of_vm(tmp_path: Path) -> None:
    config = json.loads(configs.kubelet_config(
        ca=tmp_path / "ca.crt", serving_cert=tmp_path / "k.crt", serving_key=tmp_path / "k.key",
        runtime_socket=tmp_path / "c.sock", cgroup_root="/lab-kube-n1", address="10.0.0.2", pod_cidr="10.244.1.0/24",
        pod_logs=tmp_path / "pod-logs"))
    assert config["kind"] == "KubeletConfiguration"
    assert config["cgroupDriver"] == "cgroupfs" and config["failCgroupV1"] is False
    assert config["maxOpenFiles"] == 20000
    assert config["imageGCHighThresholdPercent"] == 100  # local images cannot be pulled back
    # Not /var/log/pods, where two kubelets on one machine delete each other's pods' logs.
    assert config["podLogsDir"] == str(tmp_path / "pod-logs")
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["containerRuntimeEndpoint"] == f"unix://{tmp_path / 'c.sock'}"


def test_the_inventory_never_names_site_yml_groups() -> None:
    text = configs.inventory(
        kubeconfig_path=Path("/w/admin.kubeconfig"), cluster_name="kube-local",
        images={"worker": "localhost/lab-worker:bookworm-1", "pause": "localhost/lab-pause:1"},
        nodes=[{"name": "lab-kube-1", "server": True, "connection": {"ansible_connection": "local"}},
               {"name": "lab-kube-2", "server": False, "connection": {"ansible_host": "10.213.0.2"}}],
        node_storage=Path("/w/storage"))
    assert text.startswith(configs.INVENTORY_HEADER)
    document = json.loads(text[len(configs.INVENTORY_HEADER):])
    children = document["all"]["children"]
    # site.yml installs K3s on `server`, `agent` and `k3s_cluster`: none of them may hold this machine.
    assert not {"server", "agent", "k3s_cluster"} & set(children)
    assert children["kube_local"]["children"]["kube_local_agent"]["hosts"] == {"lab-kube-2": {"ansible_host": "10.213.0.2",
                                                                                      "k3s_node_name": "lab-kube-2"}}
    variables = document["all"]["vars"]
    assert variables["cluster_backend"] == "k3s" and variables["lab_pi_image"].startswith("localhost/")
    assert variables["pi_k3s_image_pull_policy"] == "Never"
    assert variables["cluster_config_server_group"] == "kube_local_server"
    # The transcode ships to, and fetches from, every node of the local cluster's own group,
    # into the folder its pods see through the claim.
    assert variables["lab_k3s_nodes_group"] == "kube_local" and variables["lab_node_storage"] == "/w/storage"
    assert variables["lab_transcode_image"] == variables["lab_pi_image"]


def test_certificates_carry_the_identity_kubernetes_reads(tmp_path: Path) -> None:
    crt, key = pki.ensure_cert(tmp_path, pki.Identity("kubelet-n1", "system:node:n1", ("system:nodes",)),
                               dns_names=["n1"], addresses=["10.0.0.2"])
    text = subprocess.run(["openssl", "x509", "-in", str(crt), "-noout", "-subject", "-ext", "subjectAltName"],
                          capture_output=True, text=True, check=True).stdout
    assert "O = system:nodes" in text and "CN = system:node:n1" in text
    assert "DNS:n1" in text and "IP Address:10.0.0.2" in text
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    verify = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.crt"), str(crt)],
                            capture_output=True, text=True)
    assert verify.returncode == 0, verify.stderr
    # Made once: a second call keeps the same certificate.
    before = crt.read_bytes()
    pki.ensure_cert(tmp_path, pki.Identity("kubelet-n1", "system:node:n1", ("system:nodes",)))
    assert crt.read_bytes() == before


def test_the_build_key_follows_the_module_and_the_flags(tmp_path: Path) -> None:
    for name in ("go.mod", "go.sum", "tools.go"):
        (tmp_path / name).write_text((build.KUBEBUILD / name).read_text())
    key = build.build_key(tmp_path)
    assert key.startswith(KUBERNETES_VERSION + "-")
    (tmp_path / "go.sum").write_text((tmp_path / "go.sum").read_text() + "\n")
    assert build.build_key(tmp_path) != key
    assert f"gitVersion={KUBERNETES_VERSION}" in build.ldflags()


def test_a_missing_go_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(build.shutil, "which", lambda _: None)
    monkeypatch.setattr(build.os, "access", lambda *_: False)
    with pytest.raises(build.BuildError, match="Go >= 1.24 is needed to build Kubernetes"):
        build.go_binary()


def test_the_module_zip_hash_is_the_go_commands() -> None:
    import io
    import zipfile

    def zipped(entries: list[tuple[str, bytes]]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in entries:
                archive.writestr(name, data)
        return buffer.getvalue()

    files = [("m@v1/b.txt", b"b"), ("m@v1/a.txt", b"a")]
    # dirhash.Hash1 by hand: sorted "<sha256>  <name>" lines, hashed, base64.
    import base64
    import hashlib
    lines = "".join(f"{hashlib.sha256(d).hexdigest()}  {n}\n" for n, d in sorted(files))
    expected = "h1:" + base64.b64encode(hashlib.sha256(lines.encode()).digest()).decode()
    assert build.h1_of_zip(zipped(files)) == expected
    assert build.h1_of_zip(zipped(list(reversed(files)))) == expected  # the zip's order does not matter
    assert build.h1_of_zip(zipped([("m@v1/b.txt", b"B"), ("m@v1/a.txt", b"a")])) != expected
