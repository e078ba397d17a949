"""`./lab kube`: a real, upstream Kubernetes on this machine (labkube.cluster).

    build      the four Kubernetes binaries from the Go module proxy, cached by version
    images     the local images (a pause image, a Debian worker with python3, numpy, ffmpeg)
    pki        certificates with openssl
    configs    containerd, CNI, kubelet, kubeconfig and inventory files (pure functions)
    cluster    LocalKube: up, status, down
    versions   the pinned Kubernetes version
"""
