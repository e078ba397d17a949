"""The one place the local cluster's versions are pinned.

KUBERNETES_VERSION is the Kubernetes of the kit's K3s pin (`k3s_version` in
roles/lab_common/defaults/main.yml, v1.33.5+k3s1); a test checks the two agree.
tools/kubebuild/go.mod requires the same version.
"""
KUBERNETES_VERSION = "v1.33.5"
