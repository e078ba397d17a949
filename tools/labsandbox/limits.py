"""What a sandbox host may use: CPUs, memory, link rate — parsed from what a user types."""
from __future__ import annotations

import re
from dataclasses import dataclass

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B?)?$", re.IGNORECASE)
_SIZE_FACTOR = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
# tc's rate units in bits per second ("mbps" would be megabytes for tc: refused as ambiguous).
_RATE = re.compile(r"^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$", re.IGNORECASE)
_RATE_FACTOR = {"bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9}
MIN_MEMORY_BYTES = 32 * 2**20   # sshd and a Python module need more than this
MIN_CPUS = 0.01
MIN_RATE_BPS = 100_000


@dataclass(frozen=True)
class HostLimits:
    """A host's caps. cpus None: no cgroup at all (the provisioning tests' hosts)."""

    cpus: float | None = None
    memory_bytes: int | None = None
    rate: str | None = None          # tc rate, e.g. "100mbit"; None: the veth's full speed

    @property
    def capped(self) -> bool:
        return self.cpus is not None or self.memory_bytes is not None

    def as_dict(self) -> dict[str, object]:
        return {"cpus": self.cpus, "memory_bytes": self.memory_bytes, "rate": self.rate}

    def describe(self) -> str:
        cpus = "no CPU cap" if self.cpus is None else f"{self.cpus:g} CPU"
        memory = "no memory cap" if self.memory_bytes is None else f"{format_size(self.memory_bytes)} memory"
        link = f"link {self.rate}" if self.rate else "unshaped link"
        return f"{cpus}, {memory}, {link}"


def parse_cpus(text: str) -> float:
    """CPUs as a positive number: "1", "0.5", "2"."""
    try:
        cpus = float(text)
    except ValueError:
        raise ValueError(f"--cpus {text!r}: not a number of CPUs (e.g. 1 or 0.5)") from None
    if not cpus >= MIN_CPUS or cpus > 4096:
        raise ValueError(f"--cpus {text!r}: must be between {MIN_CPUS} and 4096 CPUs")
    return cpus


def parse_memory(text: str) -> int:
    """Bytes in a size: "512M", "1G", "1.5G", "256MiB", "1048576" (binary units)."""
    match = _SIZE.match(text.strip())
    if not match:
        raise ValueError(f"--mem {text!r}: not a size (e.g. 512M or 1G)")
    number, unit, _ = match.groups()
    value = int(float(number) * _SIZE_FACTOR[unit.upper()])
    if value < MIN_MEMORY_BYTES:
        raise ValueError(f"--mem {text!r}: at least {format_size(MIN_MEMORY_BYTES)}"
                         " (sshd and Ansible's Python need that much)")
    return value


def parse_rate(text: str) -> str:
    """A link rate tc understands, in bits per second: "100mbit", "1gbit", "500kbit"."""
    match = _RATE.match(text.strip())
    if not match:
        raise ValueError(f"--net {text!r}: not a rate in bits per second (e.g. 100mbit, 1gbit, 500kbit)")
    if rate_bits_per_s(text) < MIN_RATE_BPS:
        raise ValueError(f"--net {text!r}: at least 100kbit (SSH needs some room)")
    return text.strip().lower()


def rate_bits_per_s(rate: str) -> float:
    match = _RATE.match(rate.strip())
    if not match:
        raise ValueError(f"not a rate: {rate!r}")
    return float(match.group(1)) * _RATE_FACTOR[match.group(2).lower()]


def format_size(size: int) -> str:
    for unit in ("T", "G", "M", "K"):
        factor = _SIZE_FACTOR[unit]
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B" if size < 1024 else f"{size / 2**20:.1f}M"
