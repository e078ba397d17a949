"""labkit.kubeconfig (rename, repoint, merge) and the lab_kubeconfig_merge module through ansible-playbook."""
from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml

from labkit.kubeconfig import KubeconfigError, dump, load, merge, rename, server_url
from labtest import run_playbook

K3S_YAML = """\
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EtREFUQQ==
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
"""

USER_CONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "work", "cluster": {"server": "https://k8s.example:443"}},
                 {"name": "pi-cluster", "cluster": {"server": "https://10.0.0.9:6443"}}],
    "users": [{"name": "work", "user": {"token": "abc"}}],
    "contexts": [{"name": "work", "context": {"cluster": "work", "user": "work"}}],
    "current-context": "work",
}


def test_rename_points_everything_at_the_cluster_name_and_server() -> None:
    cfg = rename(load(K3S_YAML), "pi-cluster", "192.168.1.50")
    assert cfg["clusters"][0]["name"] == "pi-cluster"
    assert cfg["clusters"][0]["cluster"]["server"] == "https://192.168.1.50:6443"
    assert cfg["clusters"][0]["cluster"]["certificate-authority-data"] == "Q0EtREFUQQ=="
    assert cfg["users"][0] == {"name": "pi-cluster", "user": {"client-certificate-data": "Q0VSVA==",
                                                              "client-key-data": "S0VZ"}}
    assert cfg["contexts"][0] == {"name": "pi-cluster", "context": {"cluster": "pi-cluster", "user": "pi-cluster"}}
    assert cfg["current-context"] == "pi-cluster"
    assert load(K3S_YAML)["clusters"][0]["name"] == "default"  # the input is not modified


@pytest.mark.parametrize(("server", "url"), [
    ("pi-server.local", "https://pi-server.local:6443"),
    ("fd00::5", "https://[fd00::5]:6443"),
    ("https://lb.example:7443", "https://lb.example:7443"),
])
def test_server_url(server: str, url: str) -> None:
    assert server_url("https://127.0.0.1:6443", server) == url


@pytest.mark.parametrize("bad", ["", "http://x:6443", "a b", "host/path", "user@host"])
def test_bad_server_is_named(bad: str) -> None:
    with pytest.raises(KubeconfigError, match="server"):
        server_url("https://127.0.0.1:6443", bad)


def test_merge_keeps_other_entries_and_replaces_same_names() -> None:
    new = rename(load(K3S_YAML), "pi-cluster", "192.168.1.50")
    merged, changes = merge(load(dump(USER_CONFIG)), new)
    assert [c["name"] for c in merged["clusters"]] == ["work", "pi-cluster"]
    assert merged["clusters"][0] == USER_CONFIG["clusters"][0]
    assert merged["clusters"][1]["cluster"]["server"] == "https://192.168.1.50:6443"
    assert [u["name"] for u in merged["users"]] == ["work", "pi-cluster"]
    assert [c["name"] for c in merged["contexts"]] == ["work", "pi-cluster"]
    assert merged["current-context"] == "work"  # not switched unless asked
    assert changes == ["clusters/pi-cluster", "users/pi-cluster", "contexts/pi-cluster"]
    again, changes2 = merge(merged, new)
    assert again == merged and changes2 == []
    switched, changes3 = merge(merged, new, set_current=True)
    assert switched["current-context"] == "pi-cluster" and changes3 == ["current-context/pi-cluster"]


def test_merge_into_empty_sets_current_context() -> None:
    merged, _ = merge(load(""), rename(load(K3S_YAML), "lab", None))
    assert merged["current-context"] == "lab"
    assert merged["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"


@pytest.mark.parametrize(("text", "msg"), [
    ("- a\n", "expected a mapping"),
    ("kind: Pod\n", "kind is 'Pod'"),
    ("clusters: [{server: x}]\n", "'clusters' must be a list"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_kubeconfig_is_named(text: str, msg: str) -> None:
    with pytest.raises(KubeconfigError, match=msg):
        load(text, "x.yaml")


def test_rename_rejects_multi_cluster_and_bad_names() -> None:
    with pytest.raises(KubeconfigError, match="exactly one entry in 'clusters'"):
        rename(load(dump(USER_CONFIG)), "x")
    with pytest.raises(KubeconfigError, match="name 'a b' is not valid"):
        rename(load(K3S_YAML), "a b")


PLAY = """\
- name: Write and merge kubeconfigs
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Write the cluster's own kubeconfig
      lab_kubeconfig_merge:
        content: "{{ k3s_yaml }}"
        name: pi-cluster
        server: 192.168.1.50
        dest: "{{ own }}"
      register: own_result
    - name: Merge it into the user's kubeconfig
      lab_kubeconfig_merge:
        content: "{{ k3s_yaml }}"
        name: pi-cluster
        server: 192.168.1.50
        dest: "{{ user }}"
        merge: true
        backup: true
      register: merge_result
    - name: Report
      ansible.builtin.debug:
        msg: "RESULT {{ {'own': own_result.changed, 'merge': merge_result.changed,
                         'backup': merge_result.backup_file | default('')} | to_json }}"
"""


def _play(tmp_path: Path, own: Path, user: Path) -> dict:
    play = tmp_path / "play.yml"
    play.write_text(PLAY)
    proc = run_playbook(str(play), "-i", "localhost,",
                        extra_vars={"k3s_yaml": K3S_YAML, "own": str(own), "user": str(user)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "S0VZ" not in proc.stdout  # the client key is never printed
    line = next(ln for ln in proc.stdout.splitlines() if "RESULT {" in ln)
    return json.loads(line.split("RESULT ", 1)[1].rstrip('"').replace('\\"', '"'))


@pytest.mark.integration
def test_module_writes_0600_backs_up_and_is_idempotent(tmp_path: Path) -> None:
    own = tmp_path / "artifacts" / "pi-cluster" / "kubeconfig.yaml"
    user = tmp_path / "home" / ".kube" / "config"
    user.parent.mkdir(parents=True)
    user.write_text(dump(USER_CONFIG))
    user.chmod(0o644)
    first = _play(tmp_path, own, user)
    assert first["own"] and first["merge"] and first["backup"]
    assert stat.S_IMODE(own.stat().st_mode) == 0o600
    assert stat.S_IMODE(user.stat().st_mode) == 0o600
    assert yaml.safe_load(Path(first["backup"]).read_text()) == USER_CONFIG
    cfg = yaml.safe_load(own.read_text())
    assert cfg["clusters"][0]["cluster"]["server"] == "https://192.168.1.50:6443"
    assert cfg["current-context"] == "pi-cluster"
    merged = yaml.safe_load(user.read_text())
    assert {c["name"] for c in merged["contexts"]} == {"work", "pi-cluster"}
    assert merged["users"][0] == USER_CONFIG["users"][0]
    assert merged["current-context"] == "work"
    second = _play(tmp_path, own, user)
    assert not second["own"] and not second["merge"] and not second["backup"]
