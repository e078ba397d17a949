"""What provides the swap areas listed in /proc/swaps (the rpi_prerequisites role's check).

Pure functions (no file access): the role slurps /proc/swaps and passes its text in;
`describe_active_swap` (the `lab_active_swap` filter) names each active area and what
sets it up at boot, for the message of the check that runs after the role's reboot.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# Raspberry Pi OS's swap file, whether dphys-swapfile (bookworm) or rpi-swap (trixie) made it.
PI_OS_SWAP_FILE = "/var/swap"


@dataclass(frozen=True)
class SwapArea:
    """One line of /proc/swaps: its file or device, its type and its size."""

    name: str
    kind: str  # "partition" or "file" (zram devices are partitions)
    size_kib: int


def _unescape(name: str) -> str:
    """/proc/swaps writes spaces and the like as octal escapes (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), name)


def parse_proc_swaps(text: str) -> list[SwapArea]:
    """The swap areas listed in the text of /proc/swaps (its header line skipped)."""
    areas = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 3 or fields[0] == "Filename":
            continue
        size = int(fields[2]) if fields[2].isdigit() else 0
        areas.append(SwapArea(_unescape(fields[0]), fields[1], size))
    return areas


def swap_provider(area: SwapArea, dropin: str = "") -> str:
    """What sets this swap area up at boot (the likely candidates, for a person to check)."""
    if re.match(r"^/dev/zram\d+$", area.name):
        later = (f"; a drop-in whose name sorts after {dropin.rsplit('/', 1)[-1]} overrides the kit's"
                 if dropin else "")
        return ("compressed RAM swap (zram), set up at boot by rpi-swap (Mechanism=zram or zram+file in "
                f"/etc/rpi/swap.conf or /etc/rpi/swap.conf.d/*.conf{later}), zram-tools "
                "(/etc/default/zramswap) or systemd-zram-generator (/etc/systemd/zram-generator.conf)")
    if area.name == PI_OS_SWAP_FILE:
        return ("Raspberry Pi OS's swap file: dphys-swapfile's (CONF_SWAPSIZE in /etc/dphys-swapfile; "
                "systemctl disable --now dphys-swapfile) or rpi-swap's swapfile mechanism "
                "(/etc/rpi/swap.conf, /etc/rpi/swap.conf.d)")
    if area.kind == "file":
        return "a swap file, from a swap line in /etc/fstab or a systemd .swap unit"
    return ("a swap partition, from a swap line in /etc/fstab, a systemd .swap unit or "
            "systemd-gpt-auto-generator (a GPT swap partition on the boot disk)")


def describe_active_swap(text: str, dropin: str = "") -> str:
    """Each active swap area of /proc/swaps with its size and provider; '' when there is none."""
    return "; ".join(
        f"{area.name} ({area.kind}, {area.size_kib // 1024} MiB): {swap_provider(area, dropin)}"
        for area in parse_proc_swaps(text)
    )
