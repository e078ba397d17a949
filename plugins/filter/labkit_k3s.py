"""Filters for the K3s roles, over labkit.k3s_versions.

  output | lab_k3s_upgrade_plan(k3s_version, host)  -> {action: install|none|upgrade|refuse, installed,
                                                        wanted, problem}: the step from what
                                                        `k3s --version` printed to the pinned release
  output | lab_k3s_servers_first(k3s_version, server, host) -> '' or why an agent must wait for its
                                                        server's upgrade
  token | lab_k3s_token_password                    -> the password of a join token (the part after
                                                        '::server:' of K10<hash>::server:<password>)
  given | lab_k3s_tokens_match(cluster_token)       -> whether a user's token is the cluster's
  value | lab_k3s_ip_address                        -> value if it is an IP address, else ''
"""
from __future__ import annotations

import os
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from labkit_path import MODULE_UTILS  # noqa: E402,F401  (puts the core on sys.path)

from labkit.k3s_versions import (  # noqa: E402
    ip_address_or_empty,
    servers_first_problem,
    token_parts,
    tokens_match,
    upgrade_plan,
)


def lab_k3s_upgrade_plan(installed_output: Any, wanted: Any, host: Any = "the node") -> dict[str, Any]:
    return upgrade_plan(str(installed_output or ""), str(wanted), str(host))


def lab_k3s_servers_first(server_output: Any, wanted: Any, server: Any, host: Any = "the agent") -> str:
    return servers_first_problem(str(server_output or ""), str(wanted), str(server), str(host))


def lab_k3s_token_password(token: Any) -> str:
    return token_parts(str(token or ""))["password"]


def lab_k3s_tokens_match(given: Any, cluster: Any) -> bool:
    return tokens_match(str(given or ""), str(cluster or ""))


def lab_k3s_ip_address(value: Any) -> str:
    return ip_address_or_empty(value)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "lab_k3s_upgrade_plan": lab_k3s_upgrade_plan,
            "lab_k3s_servers_first": lab_k3s_servers_first,
            "lab_k3s_token_password": lab_k3s_token_password,
            "lab_k3s_tokens_match": lab_k3s_tokens_match,
            "lab_k3s_ip_address": lab_k3s_ip_address,
        }
