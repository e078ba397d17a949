"""What would break the first real run of site.yml on Pis, caught by rpi_prerequisites (sandbox hosts).

- Raspberry Pi OS trixie's rpi-swap sets swap up again at every boot: the role writes a
  Mechanism=none drop-in, and a rerun changes nothing;
- swap still active after the role (and its reboot) fails, naming what provides it;
- a 32-bit system is refused with the reason and what to do;
- a server with too little memory is refused (an agent only warned about);
- a kernel without VXLAN fails with what to install;
- an air-gapped node with an unsynchronised clock is warned about, not refused.

Facts the sandbox hosts cannot fake (architecture, memory) are overridden through the role's
variables; the VXLAN probe and swapoff are replaced by commands in the host's own files.
"""
from __future__ import annotations

import re

import pytest

from integration.test_provision import BOOKWORM_CMDLINE, FLAGS, MARKER, add_pi, recap
from labtest import ansible_env, run_playbook
from sandbox import Sandbox
from sandbox.fixtures import sandbox, sandbox_factory  # noqa: F401 - fixtures

pytestmark = [pytest.mark.sandbox, pytest.mark.integration]

TRIXIE_CMDLINE = (
    "console=serial0,115200 console=tty1 root=PARTUUID=8a438930-02 rootfstype=ext4 fsck.repair=yes rootwait "
    "quiet splash plymouth.ignore-serial-consoles cfg80211.ieee80211_regdom=GB\n"
)
# Trixie's rpi-swap: zram by default. (Its real file is longer; only [Main] Mechanism matters.)
RPI_SWAP_CONF = "# rpi-swap configuration\n[Main]\nMechanism=zram\n"
DROPIN = "/etc/rpi/swap.conf.d/90-pi-cluster-lab.conf"
SWAPS_HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
# The cgroup flags already there, so that a run changes nothing but what a test looks at.
DONE = BOOKWORM_CMDLINE.replace("cgroup_disable=memory ", "").rstrip("\n") + " " + " ".join(FLAGS) + "\n"


def _run(box: Sandbox):
    inv = box.inventory()
    return run_playbook("playbooks/prerequisites.yml", "-i", str(inv),
                        env=ansible_env(**box.env_overrides()), timeout=300)


def _task(out: str, name: str, kind: str = "TASK") -> str:
    """The output of one task or handler (kind "RUNNING HANDLER"), the first one called that."""
    return re.split(r"\n(?:TASK|RUNNING HANDLER) \[", out.split(f"{kind} [rpi_prerequisites : {name}]", 1)[1], 1)[0]


def test_rpi_swap_gets_a_mechanism_none_dropin_and_a_rerun_changes_nothing(sandbox: Sandbox) -> None:  # noqa: F811
    trixie = add_pi(sandbox, "pi-trixie", "/boot/firmware/cmdline.txt", TRIXIE_CMDLINE)
    trixie.put("/etc/rpi/swap.conf", RPI_SWAP_CONF)
    # Trixie has no dphys-swapfile.
    (trixie.real_path("/etc/dphys-swapfile")).unlink()
    bookworm = add_pi(sandbox, "pi-bookworm", "/boot/firmware/cmdline.txt", BOOKWORM_CMDLINE)
    sandbox.start()

    first = _run(sandbox)
    assert first.returncode == 0, first.stdout + first.stderr
    dropin = trixie.read(DROPIN)
    assert dropin is not None, first.stdout
    # The active lines say no swap; the comments say why, in the file itself.
    settings = [line for line in dropin.splitlines() if line and not line.startswith("#")]
    assert settings == ["[Main]", "Mechanism=none"]
    assert "reproducible" in dropin and "SD card" in dropin
    assert trixie.read("/etc/rpi/swap.conf") == RPI_SWAP_CONF  # the package's own file is left alone
    assert "changed: [pi-trixie]" in _task(first.stdout, "Tell rpi-swap to set up no swap at boot")
    # Without rpi-swap (no /etc/rpi/swap.conf, no package): no drop-in.
    assert not bookworm.exists(DROPIN) and not bookworm.exists("/etc/rpi/swap.conf.d")
    # The sandboxes never reload the test machine's systemd.
    assert "skipping: [pi-trixie]" in _task(first.stdout, "Reload systemd so that rpi-swap's generator runs again",
                                             "RUNNING HANDLER")
    # Nothing listed in /proc/swaps afterwards: the check passes.
    assert "ok: [pi-trixie]" in _task(first.stdout, "Check that no swap is active")

    second = _run(sandbox)
    assert second.returncode == 0, second.stdout + second.stderr
    counts = recap(second.stdout)
    assert counts["pi-trixie"]["changed"] == 0 and counts["pi-bookworm"]["changed"] == 0, second.stdout
    assert trixie.read(DROPIN) == dropin


def test_first_run_refusals_and_warnings_name_the_problem(sandbox: Sandbox) -> None:  # noqa: F811
    cmdline = "/boot/firmware/cmdline.txt"
    add_pi(sandbox, "pi-armv7", cmdline, DONE, rpi_prerequisites_architecture="armv7l")
    add_pi(sandbox, "pi-armhf-userland", cmdline, DONE, rpi_prerequisites_architecture="aarch64",
           rpi_prerequisites_userspace_bits="32")
    small_server = add_pi(sandbox, "pi-1gb-server", cmdline, DONE, rpi_prerequisites_memtotal_mb=906)
    small_server.groups.append("server")
    big_server = add_pi(sandbox, "pi-4gb-server", cmdline, DONE, rpi_prerequisites_memtotal_mb=3796)
    big_server.groups.append("server")
    add_pi(sandbox, "pi-512mb-agent", cmdline, DONE, rpi_prerequisites_memtotal_mb=427)
    novx = add_pi(sandbox, "pi-novxlan", cmdline, DONE)
    probe = novx.put("/opt/lab-fake/ip-vxlan", "#!/bin/sh\necho 'Error: Unknown device type.' >&2\nexit 2\n",
                     mode=0o755)
    novx.hostvars["rpi_prerequisites_vxlan_probe"] = [str(probe)]
    # timedatectl cannot reach a time service from inside a sandbox (own /run): not synchronised.
    add_pi(sandbox, "pi-airgap", cmdline, DONE, rpi_prerequisites_check_clock=True, k3s_install_method="airgap")
    # Swap that swapoff (here a stand-in that does nothing) did not turn off: rpi-swap's zram and
    # a swap file, as after a reboot where something still sets them up.
    stuck = add_pi(sandbox, "pi-stuck-swap", cmdline, DONE, rpi_prerequisites_swapoff_command=["true"])
    stuck.file("proc_swaps", SWAPS_HEADER + "/dev/zram0                              partition\t473084\t\t0\t\t100\n"
                                            "/var/swap                               file\t\t102396\t\t0\t\t-2\n")
    sandbox.start()

    result = _run(sandbox)
    out = result.stdout
    assert result.returncode != 0
    counts = recap(out)
    failed = {name for name, c in counts.items() if c["failed"]}
    assert failed == {"pi-armv7", "pi-1gb-server", "pi-novxlan", "pi-stuck-swap"}, out

    # 32-bit: refused with the reason and what to do, before anything changed.
    assert "pi-armv7 runs a 32-bit system (armv7l), which the kit refuses" in out
    assert "no 32-bit ARM build since 2023" in out and "64-bit Raspberry Pi OS" in out
    assert "Pi 2 v1.1" in out and "Zero W" in out
    assert "fatal: [pi-armv7]" in _task(out, "Refuse a 32-bit system") and counts["pi-armv7"]["changed"] == 0
    assert sandbox.host("pi-armv7").read(MARKER) is None
    # A 32-bit user space on a 64-bit kernel: a warning only.
    assert re.search(r"WARNING on pi-armhf-userland: the kernel is aarch64\s+but the user space is 32-bit", out)

    # Memory: a 1 GB Pi as the server is refused (make it an agent), a 4 GB one passes,
    # a 512 MB agent is warned about.
    assert re.search(r"pi-1gb-server has 906 MiB of memory in all \(MemTotal\), less than\s+"
                     r"rpi_prerequisites_server_min_memory_mb \(1500 MiB\)", out), out
    assert "1.6 GB" in out and "this one an agent" in out
    assert counts["pi-4gb-server"]["failed"] == 0 and counts["pi-4gb-server"]["changed"] > 0
    assert "ok: [pi-4gb-server]" in _task(out, "Check that a server has enough memory for K3s")
    assert re.search(r"WARNING on pi-512mb-agent: 427 MiB of memory", out)
    assert "pi-4gb-server: 3796" not in out and "WARNING on pi-4gb-server" not in out

    # VXLAN: the probe's error and what to install.
    assert re.search(r"The kernel of pi-novxlan \(\S+\) cannot\s+create a VXLAN interface", out), out
    assert "Error: Unknown device type." in out
    assert "CONFIG_VXLAN" in out and "linux-modules-extra-raspi" in out
    # Every other host passed the real probe (this machine's kernel has VXLAN).
    assert "ok: [pi-4gb-server]" in _task(out, "Check that the kernel has VXLAN for flannel")

    # Air-gapped: an unsynchronised clock is a warning with the reason, not a failure.
    assert counts["pi-airgap"]["failed"] == 0
    assert re.search(r"WARNING on pi-airgap: the clock is not synchronised", out)
    assert "K3s is installed air-gapped here" in out
    assert "skipping: [pi-airgap]" in _task(out, "Check that the clock is synchronised")

    # Swap still active after the role: each area named with what sets it up.
    assert re.search(r"Swap is still active on pi-stuck-swap \(\S+proc_swaps\)", out), out
    assert re.search(r"/dev/zram0 \(partition, 461 MiB\): compressed RAM swap \(zram\), set up at boot by\s+rpi-swap",
                     out), out
    assert "/var/swap (file, 99 MiB): Raspberry Pi OS's swap file" in out
    assert "dphys-swapfile" in out and "fail-swap-on=false" in out
    assert "sorts after 90-pi-cluster-lab.conf" in out
