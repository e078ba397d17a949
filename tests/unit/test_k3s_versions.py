"""Unit tests for labkit.k3s_versions: release comparison, upgrade steps, join tokens, node-ip."""
from __future__ import annotations

import importlib.util

import pytest

from labkit.k3s_versions import (
    K3sVersion,
    find_version,
    ip_address_or_empty,
    parse_version,
    servers_first_problem,
    token_parts,
    tokens_match,
    upgrade_plan,
)
from labtest import REPO

OUTPUT = "k3s version v1.33.5+k3s1 (f8ea5c8b)\ngo version go1.24.6\n"
CA = "a" * 64
SECURE = f"K10{CA}::server:s3cret"


def test_parse_a_release_into_a_comparable_tuple() -> None:
    v = parse_version("v1.33.5+k3s1")
    assert (v.major, v.minor, v.patch, v.k3s, v.pre) == (1, 33, 5, 1, "")
    assert str(v) == "v1.33.5+k3s1" and v.minor_line == "1.33"
    assert parse_version("v1.33.5-rc2+k3s1").pre == "rc2"
    for bad in ("1.33.5+k3s1", "v1.33+k3s1", "v1.33.5", "v1.33-latest", "k3s version v1.33.5+k3s1 (x)"):
        with pytest.raises(ValueError, match="is not a K3s release"):
            parse_version(bad)


def test_find_the_release_in_k3s_version_output() -> None:
    assert find_version(OUTPUT) == K3sVersion(1, 33, 5, 1)
    assert find_version("") is None and find_version(None) is None
    assert find_version("bash: /usr/local/bin/k3s: No such file or directory") is None


def test_comparison_is_numeric_not_textual() -> None:
    assert parse_version("v1.33.5+k3s10") > parse_version("v1.33.5+k3s1")
    assert parse_version("v1.33.10+k3s1") > parse_version("v1.33.9+k3s2")
    assert parse_version("v1.33.5-rc1+k3s1") < parse_version("v1.33.5+k3s1")
    assert parse_version("v1.34.0+k3s1") > parse_version("v1.33.99+k3s9")


def test_k3s1_is_not_k3s10() -> None:
    """The old test was `k3s_version in stdout`: v1.33.5+k3s1 'was installed' on a v1.33.5+k3s10 node."""
    plan = upgrade_plan("k3s version v1.33.5+k3s10 (abc123)", "v1.33.5+k3s1", "pi-node1")
    assert plan["action"] == "refuse" and "downgrades" in plan["problem"]
    up = upgrade_plan("k3s version v1.33.5+k3s1 (abc123)", "v1.33.5+k3s10", "pi-node1")
    assert up["action"] == "upgrade" and up["problem"] == ""


def test_same_version_needs_nothing() -> None:
    assert upgrade_plan(OUTPUT, "v1.33.5+k3s1") == {
        "action": "none", "installed": "v1.33.5+k3s1", "wanted": "v1.33.5+k3s1", "problem": ""}


def test_no_k3s_is_an_install() -> None:
    assert upgrade_plan("", "v1.33.5+k3s1")["action"] == "install"
    assert upgrade_plan(None, "v1.33.5+k3s1")["installed"] == ""


@pytest.mark.parametrize("installed, wanted", [
    ("v1.33.5+k3s1", "v1.33.6+k3s1"),   # patch
    ("v1.33.5+k3s1", "v1.33.5+k3s2"),   # K3s rebuild
    ("v1.33.5+k3s1", "v1.34.1+k3s1"),   # the next minor
    ("v1.33.5-rc1+k3s1", "v1.33.5+k3s1"),
])
def test_supported_upgrades_are_allowed(installed: str, wanted: str) -> None:
    plan = upgrade_plan(f"k3s version {installed} (x)", wanted, "pi-node1")
    assert plan == {"action": "upgrade", "installed": installed, "wanted": wanted, "problem": ""}


def test_a_downgrade_is_refused_with_the_host_and_both_releases() -> None:
    plan = upgrade_plan(OUTPUT, "v1.32.9+k3s1", "pi-node2")
    assert plan["action"] == "refuse"
    assert plan["problem"] == (
        "K3s on pi-node2 is v1.33.5+k3s1, newer than k3s_version v1.32.9+k3s1: K3s does not support downgrades. "
        "Set k3s_version to v1.33.5+k3s1 or later (or remove K3s with reset.yml first).")
    assert upgrade_plan(OUTPUT, "v1.33.4+k3s3", "x")["action"] == "refuse"


def test_a_skipped_minor_is_refused_naming_the_next_step() -> None:
    plan = upgrade_plan("k3s version v1.31.4+k3s1 (x)", "v1.33.5+k3s1", "pi-node1")
    assert plan["action"] == "refuse"
    assert plan["problem"] == (
        "K3s on pi-node1 is v1.31.4+k3s1; k3s_version v1.33.5+k3s1 skips minor versions: K3s upgrades one minor "
        "version at a time. Set k3s_version to a v1.32 release first, run site.yml, then go on to v1.33.5+k3s1.")
    assert "another major version" in upgrade_plan(OUTPUT, "v2.0.0+k3s1")["problem"]


def test_a_malformed_pin_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        upgrade_plan(OUTPUT, "v1.33-latest")


def test_agents_wait_for_their_server() -> None:
    assert servers_first_problem(OUTPUT, "v1.33.5+k3s1", "pi-node1") == ""
    assert servers_first_problem(OUTPUT, "v1.33.4+k3s1", "pi-node1") == ""
    assert servers_first_problem("", "v1.34.1+k3s1", "pi-node1") == ""  # no K3s on the server: nothing to compare
    assert servers_first_problem(OUTPUT, "v1.34.1+k3s1", "pi-node1", "pi-node2") == (
        "k3s_version v1.34.1+k3s1 is newer than the K3s of the server pi-node1 (v1.33.5+k3s1): K3s upgrades the "
        "servers first. Run site.yml (or playbooks/k3s_server.yml) before upgrading pi-node2.")


def test_token_parts() -> None:
    assert token_parts(SECURE + "\n") == {"ca_hash": CA, "user": "server", "password": "s3cret"}
    assert token_parts("s3cret") == {"ca_hash": "", "user": "", "password": "s3cret"}
    assert token_parts(f"K10{CA}::node:abc:def")["password"] == "abc:def"
    assert token_parts(None)["password"] == ""


def test_tokens_match_on_the_password_and_the_ca_when_both_have_one() -> None:
    assert tokens_match("s3cret", SECURE)
    assert tokens_match(SECURE, SECURE)
    assert tokens_match(f"K10{CA.upper()}::server:s3cret", SECURE)
    assert not tokens_match("other", SECURE)
    assert not tokens_match(f"K10{'b' * 64}::server:s3cret", SECURE)  # another cluster's CA
    assert not tokens_match("", SECURE)
    assert tokens_match("s3cret", "s3cret")


def test_ip_address_or_empty() -> None:
    assert ip_address_or_empty("192.168.1.101") == "192.168.1.101"
    assert ip_address_or_empty(" fd00::1 ") == "fd00::1"
    assert ip_address_or_empty("pi-node1.local") == ""
    assert ip_address_or_empty(None) == ""


def test_the_filter_plugin_exposes_the_core() -> None:
    spec = importlib.util.spec_from_file_location("labkit_k3s", REPO / "plugins" / "filter" / "labkit_k3s.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    filters = module.FilterModule().filters()
    assert filters["lab_k3s_upgrade_plan"](OUTPUT, "v1.33.5+k3s1", "h")["action"] == "none"
    assert filters["lab_k3s_token_password"](SECURE) == "s3cret"
    assert filters["lab_k3s_tokens_match"]("s3cret", SECURE) is True
    assert filters["lab_k3s_ip_address"]("10.0.0.1") == "10.0.0.1"
    assert filters["lab_k3s_servers_first"]("", "v1.33.5+k3s1", "s") == ""
