"""Inventory connection variables → the ssh backend's hosts."""
from __future__ import annotations

from labkit.hosts import connection_of, ssh_host


def test_a_host_is_reached_as_ansible_reaches_it() -> None:
    hostvars = {"ansible_host": "10.0.0.2", "ansible_user": "pi", "ansible_port": 2222,
                "ansible_ssh_private_key_file": "/k/id", "inventory_dir": "/inv", "pi_samples": 5,
                "ansible_ssh_common_args": "-o UserKnownHostsFile='/a b/known_hosts' -o StrictHostKeyChecking=yes"}
    spec = connection_of("pi-1", hostvars)
    assert set(spec) == {"name", "ansible_host", "ansible_user", "ansible_port", "ansible_ssh_private_key_file",
                         "ansible_ssh_common_args"}
    host = ssh_host(spec, slots=4, paths={"/work": "/var/tmp/lab"})
    assert (host.name, host.address, host.user, host.port, host.key_file, host.slots) == (
        "pi-1", "10.0.0.2", "pi", 2222, "/k/id", 4)
    assert host.options == ("-o", "UserKnownHostsFile=/a b/known_hosts", "-o", "StrictHostKeyChecking=yes")
    assert host.remote_path("/work/chunks/c.ts") == "/var/tmp/lab/chunks/c.ts"


def test_a_bare_name_is_its_own_address_and_slots_are_at_least_one() -> None:
    host = ssh_host(connection_of("pi-2.local", {}), slots=0)
    assert (host.address, host.user, host.port, host.slots, host.options) == ("pi-2.local", "", 22, 1, ())
