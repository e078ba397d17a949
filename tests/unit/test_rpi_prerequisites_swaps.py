"""labkit.swaps, behind the lab_active_swap filter: what provides each active swap area."""
from __future__ import annotations

import yaml

from labkit import swaps
from labtest import REPO

ROLE = REPO / "roles" / "rpi_prerequisites"
HEADER = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
DROPIN = "/etc/rpi/swap.conf.d/90-pi-cluster-lab.conf"


def test_parses_proc_swaps_and_skips_the_header() -> None:
    text = HEADER + "/dev/zram0                              partition\t473084\t\t0\t\t100\n" \
                    "/var/swap                               file\t\t102396\t\t0\t\t-2\n"
    assert swaps.parse_proc_swaps(text) == [
        swaps.SwapArea("/dev/zram0", "partition", 473084),
        swaps.SwapArea("/var/swap", "file", 102396),
    ]
    assert swaps.parse_proc_swaps(HEADER) == [] and swaps.parse_proc_swaps("") == []


def test_octal_escapes_in_names_are_decoded() -> None:
    text = HEADER + "/mnt/my\\040disk/swap file 2048 0 -2\n"
    assert swaps.parse_proc_swaps(text)[0].name == "/mnt/my disk/swap"


def test_each_kind_of_swap_is_traced_to_what_sets_it_up() -> None:
    zram = swaps.swap_provider(swaps.SwapArea("/dev/zram0", "partition", 1), DROPIN)
    assert "rpi-swap" in zram and "/etc/rpi/swap.conf" in zram and "zram-tools" in zram
    assert "sorts after 90-pi-cluster-lab.conf" in zram
    assert "sorts after" not in swaps.swap_provider(swaps.SwapArea("/dev/zram1", "partition", 1))
    pi_file = swaps.swap_provider(swaps.SwapArea("/var/swap", "file", 1))
    assert "dphys-swapfile" in pi_file and "rpi-swap" in pi_file
    other_file = swaps.swap_provider(swaps.SwapArea("/swapfile", "file", 1))
    assert "/etc/fstab" in other_file and "dphys" not in other_file
    partition = swaps.swap_provider(swaps.SwapArea("/dev/sda2", "partition", 1))
    assert "swap partition" in partition and "zram" not in partition


def test_description_names_every_area_with_its_size() -> None:
    text = HEADER + "/dev/zram0 partition 2097148 0 100\n/swapfile file 1048572 0 -2\n"
    described = swaps.describe_active_swap(text, DROPIN)
    assert described.startswith("/dev/zram0 (partition, 2047 MiB): compressed RAM swap")
    assert "; /swapfile (file, 1023 MiB): a swap file" in described
    assert swaps.describe_active_swap(HEADER) == ""


def test_the_filter_wraps_the_core() -> None:
    import importlib.util
    spec = importlib.util.spec_from_file_location("labkit_swaps_filter", REPO / "plugins" / "filter" / "labkit_swaps.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.FilterModule().filters()["lab_active_swap"].__name__ == "describe_active_swap"


def test_no_32_bit_architecture_is_supported_by_default() -> None:
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    refused = set(defaults["rpi_prerequisites_refused_architectures"])
    assert {"armv6l", "armv7l"} <= refused
    assert not refused & set(defaults["rpi_prerequisites_supported_architectures"])
    assert "iptables" not in defaults["rpi_prerequisites_packages"]
    # A 1 GB Pi (MemTotal about 900 MiB) cannot be the server, a 2 GB one (about 1850 MiB) can.
    assert 950 < defaults["rpi_prerequisites_server_min_memory_mb"] < 1800
