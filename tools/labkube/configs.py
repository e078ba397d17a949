"""What the local cluster's programs read: pure functions from names and paths to file text.

containerd's config (CRI plugin with restrict_oom_score_adj, the local pause image,
cgroupfs), the CNI bridge of a node, the kubelet's KubeletConfiguration, kubeconfigs
with embedded certificates, and the Ansible inventory `./lab kube up` writes. JSON is
valid YAML, so the YAML files are written as JSON: no YAML library needed, no quoting
surprises.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, Mapping


INVENTORY_HEADER = ("---\n# Written by ./lab kube up: a local upstream Kubernetes (not K3s) on this machine.\n"
                    "# ./lab kube down removes it with the cluster.\n")


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode("ascii")


def kubeconfig(*, cluster: str, server: str, ca: Path, cert: Path, key: Path, user: str) -> str:
    """A kubeconfig with one cluster, user and context, certificates embedded (mode 0600 by the caller)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": _b64(ca)}}],
        "users": [{"name": user, "user": {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)}}],
        "contexts": [{"name": cluster, "context": {"cluster": cluster, "user": user}}],
        "current-context": cluster,
    }
    return json.dumps(config, indent=2) + "\n"


def containerd_config(*, root: Path, state: Path, socket: Path, cni_conf_dir: Path, cni_bin_dir: Path,
                      sandbox_image: str) -> str:
    """containerd 1.6 (config version 2) for one node: its own root, state and socket, the CRI
    plugin with the local pause image and cgroupfs (the kubelet's driver here)."""
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = {json.dumps(str(root))}
state = {json.dumps(str(state))}
# Plugins a local cluster does not use: fewer things to start and fail.
disabled_plugins = ["io.containerd.internal.v1.tracing", "io.containerd.snapshotter.v1.aufs",
                    "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = {json.dumps(str(socket))}

[ttrpc]
  address = {json.dumps(str(socket) + ".ttrpc")}

[{cri}]
  sandbox_image = {json.dumps(sandbox_image)}
  # This VM's root lacks CAP_SYS_RESOURCE: without this, runc fails every pod sandbox
  # with "failed to update /proc/self/oom_score_adj".
  restrict_oom_score_adj = true
  enable_selinux = false
  # Pod network namespaces under the state folder, not /run/netns: down removes them with it.
  netns_mounts_under_state_dir = true
  # No registry here: images are imported with ctr; never try to pull the pause image.
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        # runc's state beside containerd's, not in /run/containerd/runc shared with any
        # other containerd on the machine.
        Root = {json.dumps(str(state / "runc"))}
  [{cri}.cni]
    bin_dir = {json.dumps(str(cni_bin_dir))}
    conf_dir = {json.dumps(str(cni_conf_dir))}
    max_conf_num = 1
"""


def cni_config(*, bridge: str, subnet: str, ipam_dir: Path) -> str:
    """A bridge network for one node's pods (host-local addresses from `subnet`). The workloads
    need no traffic between nodes' pods, so no overlay: each node's pods share its bridge."""
    config = {
        "cniVersion": "1.0.0",
        "name": "lab-kube",
        "plugins": [
            {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False, "hairpinMode": True,
             "ipam": {"type": "host-local", "dataDir": str(ipam_dir),
                      "ranges": [[{"subnet": subnet}]], "routes": [{"dst": "0.0.0.0/0"}]}},
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(config, indent=2) + "\n"


def kubelet_config(*, ca: Path, serving_cert: Path, serving_key: Path, runtime_socket: Path,
                   cgroup_root: str, address: str, pod_cidr: str, pod_logs: Path, max_pods: int = 30) -> str:
    """The KubeletConfiguration of one node on this machine.

    cgroupfs with cgroup v1 allowed (the VM has v1; 1.33 still runs there with
    failCgroupV1: false), maxOpenFiles at this VM's hard limit, eviction thresholds that a
    small, fullish development disk does not trip, and image garbage collection off: the
    local images cannot be pulled again once deleted.
    """
    config: dict[str, Any] = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": address,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": address,
        "healthzPort": 10248,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                           "x509": {"clientCAFile": str(ca)}},
        # The API server is the only client that reaches the kubelet port (logs, exec) and it
        # authenticates with a CA-signed certificate: authorization by the API server's RBAC
        # (webhook) adds a round trip per log read and nothing a one-machine cluster needs.
        "authorization": {"mode": "AlwaysAllow"},
        "tlsCertFile": str(serving_cert),
        "tlsPrivateKeyFile": str(serving_key),
        "containerRuntimeEndpoint": f"unix://{runtime_socket}",
        # Each kubelet its own pod log folder: a kubelet deletes the folders in /var/log/pods of
        # pods it does not run, which on a machine with two kubelets are the other node's.
        "podLogsDir": str(pod_logs),
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": cgroup_root,
        "cgroupsPerQOS": True,
        "failCgroupV1": False,
        "failSwapOn": False,
        "maxOpenFiles": 20000,
        "maxPods": max_pods,
        "podCIDR": pod_cidr,
        "resolvConf": "/etc/resolv.conf",
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "1%",
                         "imagefs.available": "1%", "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "containerLogMaxSize": "10Mi",
        "shutdownGracePeriod": "0s",
        "registerNode": True,
        # The kubelet's own status reports every 10 s (the default) and a 5 s sync: a local
        # cluster shows Ready in seconds, not a minute.
        "nodeStatusUpdateFrequency": "10s",
        "syncFrequency": "5s",
        "fileCheckFrequency": "5s",
        "logging": {"format": "text"},
    }
    return json.dumps(config, indent=2) + "\n"


def inventory(*, kubeconfig_path: Path, nodes: list[Mapping[str, Any]], images: Mapping[str, str],
              cluster_name: str, node_storage: Path) -> str:
    """The Ansible inventory of the local cluster (inventory/kube-local.yml).

    `nodes`: name, server (bool), and `connection` vars for reaching the node's host
    (local for the first, ssh for a sandbox host). The groups are not site.yml's
    `server`/`agent`/`k3s_cluster`: site.yml must never try to install K3s on this
    machine. cluster_config and bench-pi's node readings are pointed at them instead.
    The images are the local ones, never pulled (imagePullPolicy Never).
    """
    # k3s_node_name: the node's name in Kubernetes, which for node 1 is not this machine's name.
    server = {n["name"]: dict(n.get("connection", {}), k3s_node_name=n["name"]) for n in nodes if n.get("server")}
    agent = {n["name"]: dict(n.get("connection", {}), k3s_node_name=n["name"]) for n in nodes if not n.get("server")}
    document = {
        "all": {
            "vars": {
                "cluster_backend": "k3s",
                "cluster_name": cluster_name,
                "lab_kubeconfig": str(kubeconfig_path),
                # Local images, built by ./lab kube from Debian packages and imported into each
                # node's containerd: there is no registry to pull them from.
                "lab_pi_image": images["worker"],
                "pi_k3s_image_has_numpy": True,
                "pi_k3s_image_pull_policy": "Never",
                "lab_transcode_image": images["worker"],  # it has ffmpeg too
                "transcode_k3s_image_pull_policy": "Never",
                # Each node's own folder at this path (LocalKube.node_storage).
                "lab_node_storage": str(node_storage),
                "lab_k3s_nodes_group": "kube_local",
                # Ansible connects as root here, and the machine may have no sudo.
                "ansible_become": False,
                "cluster_config_prepull_pause_image": images["pause"],
                "cluster_config_server_group": "kube_local_server",
                "cluster_config_agent_group": "kube_local_agent",
            },
            "children": {
                "controller": {"hosts": {"localhost": {
                    "ansible_connection": "local",
                    "ansible_python_interpreter": "{{ ansible_playbook_python }}"}}},
                "kube_local": {"children": {"kube_local_server": {"hosts": server},
                                            "kube_local_agent": {"hosts": agent}}},
            },
        }
    }
    return INVENTORY_HEADER + json.dumps(document, indent=2) + "\n"
