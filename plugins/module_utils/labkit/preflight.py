"""Preflight (preflight.yml): is the cluster fit to measure on? Pure logic, no I/O but load_latest.

The role runs two programs and hands their output here:

- ``plugins/workers/preflight_probe.py`` on the controller and on every node: synchronous-write
  latency in the node's work folder, TCP-connect round trips, ``ip -o route get`` and ``ip -o
  link show`` towards each peer, name resolution (parse_probe);
- ``iperf3 --json`` between the controller and each node (both ways) and between each pair of
  nodes, one test at a time so that no two share a link (parse_iperf3).

build_results() turns them into the results.json document: ``network`` (``{from, to, mbit_s,
rtt_ms, mtu, retransmits, …}``), ``disk`` (``{node, path, fsync_ms_median, fsync_ms_p99,
ops_per_s, …}``), ``names`` (who resolves whom, how fast) and ``warnings``, each a sentence.

For the transcode report: network_ceiling() (the speed-up the controller's links allow a
video) and load_latest() (the newest preflight's results.json).
"""
from __future__ import annotations

import datetime as _dt
import ipaddress
import json
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from .stats import median, percentile_sorted

SCHEMA = 1
WORKLOAD = "preflight"
CONTROLLER = "controller"
# A link below this share of the links' median throughput is named as far below the others.
FAR_BELOW = 0.5
# etcd's guidance: the 99th percentile of WAL fdatasync should stay under 10 ms.
FSYNC_P99_LIMIT_MS = 10.0
# A round trip on a wired LAN is well under a millisecond; above this, Wi-Fi or a busy path.
RTT_LIMIT_MS = 5.0
# A lookup slower than this waited on something (a DNS server timing out before /etc/hosts).
RESOLVE_LIMIT_MS = 200.0

_ROUTE_MTU = re.compile(r"\bmtu (?:lock )?(\d+)\b")
_LINK_MTU = re.compile(r"\bmtu (\d+)\b")


# --- parsing ------------------------------------------------------------------------------------

def parse_iperf3(text: str) -> dict[str, Any]:
    """One `iperf3 --json` client run: the throughput that arrived (receiver side) in Mbit/s,
    the sender's rate, retransmits, the sender's mean TCP round trip under load (when the
    client sent), seconds and bytes; ``error`` is iperf3's own message, or why the output is
    unreadable (every number is then None)."""
    out: dict[str, Any] = {"mbit_s": None, "sent_mbit_s": None, "retransmits": None, "rtt_loaded_ms": None,
                           "seconds": None, "bytes": None, "mss": None, "error": None}
    try:
        data = json.loads(text) if text and text.strip() else None
    except ValueError:
        data = None
    if not isinstance(data, Mapping):
        out["error"] = "iperf3 printed no JSON" + (f": {text.strip()[:200]}" if text and text.strip() else "")
        return out
    if data.get("error"):
        out["error"] = str(data["error"])
        return out
    end = data.get("end") or {}
    received, sent = end.get("sum_received") or {}, end.get("sum_sent") or {}
    if not isinstance(received.get("bits_per_second"), (int, float)):
        out["error"] = "iperf3's JSON has no end.sum_received (the test did not finish)"
        return out
    out["mbit_s"] = received["bits_per_second"] / 1e6
    if isinstance(sent.get("bits_per_second"), (int, float)):
        out["sent_mbit_s"] = sent["bits_per_second"] / 1e6
    if isinstance(sent.get("retransmits"), int):
        out["retransmits"] = sent["retransmits"]
    out["seconds"] = received.get("seconds")
    out["bytes"] = received.get("bytes")
    out["mss"] = (data.get("start") or {}).get("tcp_mss_default")
    rtts = [s["sender"]["mean_rtt"] for s in end.get("streams") or []
            if isinstance((s.get("sender") or {}).get("mean_rtt"), (int, float)) and s["sender"].get("sender")
            and s["sender"]["mean_rtt"] > 0]
    if rtts:
        out["rtt_loaded_ms"] = sum(rtts) / len(rtts) / 1000.0  # iperf3 gives µs
    return out


def parse_probe(text: str) -> dict[str, Any]:
    """The JSON document preflight_probe.py printed (its last line that is a JSON object)."""
    for line in reversed((text or "").splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except ValueError as err:
                raise ValueError(f"the probe's output is not JSON: {err}") from None
            if not isinstance(data, dict) or data.get("schema") != 1:
                raise ValueError("the probe's output is not a schema 1 document")
            return data
    raise ValueError("the probe printed nothing" + (f": {text.strip()[:200]}" if text and text.strip() else ""))


def parse_route(route_line: str, link_line: str = "") -> dict[str, Any]:
    """The device, gateway, source address and MTU of `ip -o route get` (the route's own
    ``mtu`` when it has one, else the device's from `ip -o link show dev`)."""
    words = (route_line or "").replace("\\", " ").split()

    def after(key: str) -> Optional[str]:
        return words[words.index(key) + 1] if key in words[:-1] else None

    route_mtu = _ROUTE_MTU.search(route_line or "")
    link_mtu = _LINK_MTU.search(link_line or "")
    mtu = int(route_mtu.group(1)) if route_mtu else int(link_mtu.group(1)) if link_mtu else None
    return {"device": after("dev"), "via": after("via"), "src": after("src"), "mtu": mtu,
            "mtu_from": "route" if route_mtu else "device" if link_mtu else None}


def fsync_summary(disk: Mapping[str, Any]) -> dict[str, Any]:
    """Median, 99th percentile and maximum of the probe's synchronous-write latencies, and the
    writes per second over the whole test."""
    latencies = sorted(float(v) for v in disk.get("latencies_ms") or [] if isinstance(v, (int, float)))
    out: dict[str, Any] = {"path": disk.get("path"), "block_bytes": disk.get("block_bytes"),
                           "count": len(latencies), "sync": disk.get("sync"),
                           "fsync_ms_median": None, "fsync_ms_p99": None, "fsync_ms_max": None, "ops_per_s": None,
                           "error": disk.get("error")}
    if latencies:
        out["fsync_ms_median"] = median(latencies)
        out["fsync_ms_p99"] = percentile_sorted(latencies, 0.99)
        out["fsync_ms_max"] = latencies[-1]
        seconds = disk.get("seconds") if isinstance(disk.get("seconds"), (int, float)) else sum(latencies) / 1000
        out["ops_per_s"] = len(latencies) / seconds if seconds > 0 else None
    elif not out["error"]:
        out["error"] = "no synchronous write was timed"
    return out


def rtt_summary(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Median and least of the probe's TCP-connect times to one peer, in ms."""
    samples = [float(v) for v in entry.get("samples_ms") or [] if isinstance(v, (int, float))]
    return {"rtt_ms": median(samples) if samples else None, "rtt_min_ms": min(samples) if samples else None,
            "rtt_samples": len(samples), "rtt_error": None if samples else entry.get("error") or "no round trip timed"}


# --- planning -----------------------------------------------------------------------------------

def is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def names_of(node: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The names the inventory uses for a node, with what each is: its inventory name, and its
    ansible_host when that is a name (an address needs no resolving)."""
    out = [(str(node["name"]), "inventory name")] if not is_address(str(node["name"])) else []
    address = str(node.get("address") or "")
    if address and address != node["name"] and not is_address(address):
        out.append((address, "ansible_host"))
    return out


def plan(nodes: Sequence[Mapping[str, Any]], controller_name: str, *, disk_dir: str, count: int, block: int,
         rtt_count: int) -> dict[str, Any]:
    """What each probe is asked and which iperf3 tests run, in order.

    nodes: ``{name, address, port}`` each (address: ansible_host or the name; port: SSH's,
    whose TCP connect times the round trip). Returns ``controller_args`` and per node ``args``
    (preflight_probe.py's arguments: a list, never a shell line) and ``links``: controller → node
    and node → controller for each node (the server on the node: the controller needs none),
    then one direction of each pair of nodes (the server on the second)."""
    hosts = [{"name": str(n["name"]), "address": str(n.get("address") or n["name"]),
              "port": int(n.get("port") or 22)} for n in nodes]
    controller_args: list[str] = []
    for h in hosts:
        controller_args += ["--rtt", f"{_bracket(h['address'])}:{h['port']}", "--route", h["address"]]
    for h in hosts:
        for name, _kind in names_of(h):
            controller_args += ["--resolve", name]
    planned = []
    for h in hosts:
        args = ["--disk", disk_dir, "--count", str(count), "--block", str(block), "--rtt-count", str(rtt_count),
                "--route-ssh-client"]
        for peer in hosts:
            if peer["name"] != h["name"]:
                args += ["--rtt", f"{_bracket(peer['address'])}:{peer['port']}", "--route", peer["address"]]
        for peer in hosts:
            if peer["name"] != h["name"]:
                for name, _kind in names_of(peer):
                    args += ["--resolve", name]
        if controller_name and not is_address(controller_name):
            args += ["--resolve", controller_name]
        planned.append({**h, "args": args})
    controller_args += ["--rtt-count", str(rtt_count)]
    links = []
    for h in hosts:
        links.append({"from": CONTROLLER, "to": h["name"], "server": h["name"], "client": CONTROLLER,
                      "server_address": h["address"], "reverse": False})
        links.append({"from": h["name"], "to": CONTROLLER, "server": h["name"], "client": CONTROLLER,
                      "server_address": h["address"], "reverse": True})
    for i, a in enumerate(hosts):
        for b in hosts[i + 1:]:
            links.append({"from": a["name"], "to": b["name"], "server": b["name"], "client": a["name"],
                          "server_address": b["address"], "reverse": False})
    return {"controller_args": controller_args, "nodes": planned, "links": links}


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


# --- the results ------------------------------------------------------------------------------

def _probe_of(result: Any) -> tuple[Optional[dict[str, Any]], Optional[str]]:
    """A registered command result (or the probe's text) as (document, error)."""
    if isinstance(result, str):
        text, failed = result, ""
    elif isinstance(result, Mapping):
        text = str(result.get("stdout") or "")
        failed = ""
        if result.get("unreachable"):
            failed = f"unreachable: {result.get('msg') or ''}".strip()
        elif result.get("rc") not in (None, 0) or (result.get("failed") and not text):
            failed = str(result.get("stderr") or result.get("msg") or f"exit {result.get('rc')}").strip()[-300:]
        if failed and not text:
            return None, failed
    else:
        return None, "no probe result"
    try:
        return parse_probe(text), None
    except ValueError as err:
        return None, failed or str(err)


def _route_to(probe: Optional[Mapping[str, Any]], address: str) -> dict[str, Any]:
    for entry in (probe or {}).get("routes") or []:
        if entry.get("to") == address:
            parsed = parse_route(str(entry.get("route") or ""), str(entry.get("link") or ""))
            parsed["error"] = entry.get("error")
            return parsed
    return {"device": None, "via": None, "src": None, "mtu": None, "mtu_from": None, "error": None}


def _rtt_to(probe: Optional[Mapping[str, Any]], address: str) -> dict[str, Any]:
    for entry in (probe or {}).get("rtt") or []:
        if entry.get("host") == address:
            return rtt_summary(entry)
    return {"rtt_ms": None, "rtt_min_ms": None, "rtt_samples": 0, "rtt_error": "not measured"}


def build_results(backend: str, nodes: Sequence[Mapping[str, Any]], controller: Any, probes: Mapping[str, Any],
                  links: Sequence[Mapping[str, Any]], *, parameters: Optional[Mapping[str, Any]] = None,
                  unusable: Optional[Mapping[str, Sequence[str]]] = None, controller_disk: Any = None,
                  now: Optional[_dt.datetime] = None) -> dict[str, Any]:
    """The results.json document of one preflight.

    nodes: ``{name, address, port}`` as given to plan(); controller: the controller's probe
    (a registered result or its text); probes: node name → its probe; links: each planned link
    with ``stdout`` (iperf3's JSON) and optionally ``server_error`` (the server did not start);
    controller_disk: on the local backend, the controller's own probe with a disk part."""
    now = now or _dt.datetime.now(_dt.timezone.utc)
    hosts = {str(n["name"]): {"name": str(n["name"]), "address": str(n.get("address") or n["name"])} for n in nodes}
    controller_doc, controller_error = _probe_of(controller) if controller is not None else (None, None)
    docs: dict[str, Optional[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for name in hosts:
        doc, error = _probe_of(probes.get(name))
        docs[name] = doc
        if error:
            errors[name] = error
    network = []
    for link in links:
        src, dst = str(link["from"]), str(link["to"])
        measured = parse_iperf3(str(link.get("stdout") or ""))
        if link.get("server_error"):
            measured["error"] = f"the iperf3 server on {link.get('server')} did not start: {link['server_error']}"
        elif link.get("client_error") and measured["error"] == "iperf3 printed no JSON":
            measured["error"] = str(link["client_error"])
        # The idle round trip and the route's MTU, seen from the sending side of the link.
        if src == CONTROLLER:
            rtt, route = _rtt_to(controller_doc, hosts[dst]["address"]), _route_to(controller_doc, hosts[dst]["address"])
        elif dst == CONTROLLER:
            seen = (docs.get(src) or {}).get("ssh_client") or ""
            # Symmetric: the controller timed this pair's round trip.
            rtt, route = _rtt_to(controller_doc, hosts[src]["address"]), _route_to(docs.get(src), seen)
        else:
            rtt, route = _rtt_to(docs.get(src), hosts[dst]["address"]), _route_to(docs.get(src), hosts[dst]["address"])
        network.append({
            "from": src, "to": dst, "mbit_s": measured["mbit_s"], "rtt_ms": rtt["rtt_ms"],
            "rtt_min_ms": rtt["rtt_min_ms"], "rtt_loaded_ms": measured["rtt_loaded_ms"],
            "retransmits": measured["retransmits"], "mtu": route["mtu"], "device": route["device"],
            "seconds": measured["seconds"], "bytes": measured["bytes"], "error": measured["error"],
            "rtt_error": rtt["rtt_error"],
        })
    disk = []
    for name in hosts:
        doc = docs.get(name)
        if doc is None:
            disk.append({"node": name, "path": None, "fsync_ms_median": None, "fsync_ms_p99": None,
                         "fsync_ms_max": None, "ops_per_s": None, "count": 0, "block_bytes": None, "sync": None,
                         "error": f"the probe did not run: {errors.get(name, 'no result')}"})
        elif doc.get("disk"):
            disk.append({"node": name, **fsync_summary(doc["disk"])})
    local_doc = None
    if controller_disk is not None:
        local_doc, local_error = _probe_of(controller_disk)
        if local_doc and local_doc.get("disk"):
            disk.append({"node": CONTROLLER, **fsync_summary(local_doc["disk"])})
        else:
            disk.append({"node": CONTROLLER, "path": None, "fsync_ms_median": None, "fsync_ms_p99": None,
                         "fsync_ms_max": None, "ops_per_s": None, "count": 0, "block_bytes": None, "sync": None,
                         "error": f"the probe did not run: {local_error}"})
    controller_name = (controller_doc or local_doc or {}).get("node")
    names = _names(hosts, docs, controller_doc, controller_name)
    results: dict[str, Any] = {
        "schema_version": SCHEMA, "workload": WORKLOAD,
        "generated": now.astimezone(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "backend": backend,
        "controller": {"name": controller_name, "probe_error": controller_error},
        "nodes": [{"name": h["name"], "address": h["address"],
                   "seen_controller_as": (docs.get(h["name"]) or {}).get("ssh_client"),
                   "probe_error": errors.get(h["name"])} for h in hosts.values()],
        "unusable": {str(k): list(v) for k, v in (unusable or {}).items()},
        "parameters": dict(parameters or {}),
        "network": network, "disk": disk, "names": names,
        "network_note": ("local backend: the controller alone, so there is no network to measure "
                         "(run with -i INVENTORY for the cluster's links)") if not hosts else None,
    }
    results["warnings"] = verdicts(results)
    results["summary"] = summary_line(results)
    return results


def _names(hosts: Mapping[str, Mapping[str, str]], docs: Mapping[str, Optional[Mapping[str, Any]]],
           controller_doc: Optional[Mapping[str, Any]], controller_name: Optional[str]) -> list[dict[str, Any]]:
    kinds: dict[str, str] = {}
    addresses: dict[str, str] = {}
    for h in hosts.values():
        for name, kind in names_of(h):
            kinds[name] = f"{h['name']}'s {kind}" if kind != "inventory name" else f"{h['name']}'s inventory name"
            addresses[name] = h["address"]
    if controller_name:
        kinds.setdefault(controller_name, "the controller's host name")
    out = []
    for on, doc in [(CONTROLLER, controller_doc), *docs.items()]:
        for entry in (doc or {}).get("names") or []:
            name = str(entry.get("name"))
            found = [str(a) for a in entry.get("addresses") or []]
            out.append({"on": on, "name": name, "what": kinds.get(name, "a name"), "resolved": bool(found),
                        "addresses": found, "ms": entry.get("ms"), "error": entry.get("error"),
                        "expected": addresses.get(name),
                        "loopback_only": bool(found) and all(_loopback(a) for a in found)})
    return out


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


# --- verdicts -----------------------------------------------------------------------------------

def _f(value: Optional[float], digits: int = 3) -> str:
    if value is None:
        return "–"
    text = f"{value:.{digits}g}"
    return text if "e" not in text else f"{value:.0f}"


def _join(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _arrow(entry: Mapping[str, Any]) -> str:
    return f"{entry['from']} → {entry['to']}"


def verdicts(results: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every finding worth a look, as ``{level, text}``: ``bad`` (no measurement, too slow for
    K3s), ``warning`` (poor, likely to skew results) or ``note`` (worth knowing)."""
    out: list[dict[str, str]] = []

    def add(level: str, text: str) -> None:
        out.append({"level": level, "text": text})

    for host, reasons in (results.get("unusable") or {}).items():
        add("bad", f"{host} was left out: {'; '.join(reasons)}")
    for node in results.get("nodes") or []:
        if node.get("probe_error"):
            add("bad", f"{node['name']}: the probe did not run ({node['probe_error']})")
    network = list(results.get("network") or [])
    measured = [e for e in network if isinstance(e.get("mbit_s"), (int, float))]
    for e in network:
        if e.get("error"):
            add("bad", f"{_arrow(e)}: no throughput measured: {e['error']}")
    if len(measured) >= 2:
        typical = median([e["mbit_s"] for e in measured])
        for e in measured:
            if e["mbit_s"] < FAR_BELOW * typical:
                add("warning", f"{_arrow(e)}: {_f(e['mbit_s'])} Mbit/s, far below the other links "
                               f"(median {_f(typical)} Mbit/s): a 100 Mbit/s port or cable, Wi-Fi, or a busy "
                               "switch port on this path would hold back every transfer over it")
    for e in measured:
        if e.get("retransmits") and e.get("bytes") and e["retransmits"] > 0.01 * e["bytes"] / 1448:
            add("warning", f"{_arrow(e)}: {e['retransmits']} TCP retransmissions in {_f(e.get('seconds'))} s "
                           "(more than 1 % of the segments): a lossy link")
    for e in network:
        if isinstance(e.get("rtt_ms"), (int, float)) and e["rtt_ms"] > RTT_LIMIT_MS:
            add("warning", f"{_arrow(e)}: round trip {_f(e['rtt_ms'])} ms, slow for a wired LAN "
                           f"(under {RTT_LIMIT_MS:g} ms expected): Wi-Fi or a congested path?")
    mtus: dict[int, list[str]] = {}
    for e in network:
        if isinstance(e.get("mtu"), int):
            mtus.setdefault(e["mtu"], []).append(_arrow(e))
    if len(mtus) > 1:
        parts = "; ".join(f"MTU {m} on {', '.join(paths)}" for m, paths in sorted(mtus.items()))
        add("warning", f"the MTU differs between paths ({parts}): packets larger than the smallest are "
                       "dropped or fragmented on the way (set the same MTU on every interface)")
    for d in results.get("disk") or []:
        if d.get("error") and d.get("fsync_ms_p99") is None:
            add("bad", f"{d['node']}: no synchronous-write latency measured: {d['error']}")
            continue
        p99 = d.get("fsync_ms_p99")
        if isinstance(p99, (int, float)) and p99 > FSYNC_P99_LIMIT_MS:
            add("bad", f"{d['node']}: synchronous writes take {_f(d.get('fsync_ms_median'))} ms (median), "
                       f"{_f(p99)} ms at the 99th percentile in {d.get('path')}: too slow for the K3s datastore on "
                       f"this card (etcd wants the 99th percentile under {FSYNC_P99_LIMIT_MS:g} ms; use a faster "
                       "A1/A2 card or an SSD over USB 3)")
    unnamed: dict[str, list[str]] = {}      # machine -> inventory names it cannot resolve
    loopback: dict[tuple[str, str], list[str]] = {}   # (controller name, addresses) -> machines
    for n in results.get("names") or []:
        where = "the controller" if n["on"] == CONTROLLER else n["on"]
        if not n.get("resolved"):
            if "ansible_host" in n.get("what", ""):
                add("warning", f"{where} cannot resolve {n['name']} ({n.get('what')}, the name the lab connects "
                               f"to): {n.get('error') or 'no address'}")
            else:
                unnamed.setdefault(where, []).append(n["name"])
        elif n.get("loopback_only") and n.get("what") == "the controller's host name":
            loopback.setdefault((n["name"], ", ".join(n["addresses"])), []).append(where)
        elif n.get("loopback_only"):
            add("warning", f"{where} resolves {n['name']} ({n.get('what')}) to {', '.join(n['addresses'])}, "
                           f"a loopback address, not {n.get('expected')}")
        if isinstance(n.get("ms"), (int, float)) and n["ms"] > RESOLVE_LIMIT_MS:
            add("warning", f"{where} takes {_f(n['ms'])} ms to resolve {n['name']}: a slow or unreachable "
                           "DNS server asked before /etc/hosts?")
    for (name, addresses), machines in loopback.items():
        add("warning", f"{_join(machines)} {'resolves' if len(machines) == 1 else 'resolve'} the controller's "
                       f"name {name} to {addresses}, a loopback address: there the name reaches the machine "
                       "itself, not the controller (an /etc/hosts line copied from the controller?)")
    for where, names in unnamed.items():
        add("note", f"{where} cannot resolve {_join(names)} (inventory {'name' if len(names) == 1 else 'names'}): "
                    "the lab connects by address, but anything there that uses these names will fail "
                    "(add them to /etc/hosts or DNS)")
    return out


def summary_line(results: Mapping[str, Any]) -> str:
    """One line: the links' throughput range, the slowest synchronous writes, the findings."""
    parts = []
    rates = [e["mbit_s"] for e in results.get("network") or [] if isinstance(e.get("mbit_s"), (int, float))]
    if rates:
        parts.append(f"{len(rates)} links measured, {_f(min(rates))}–{_f(max(rates))} Mbit/s")
    elif results.get("network_note"):
        parts.append("no network (local backend)")
    p99 = [(d["fsync_ms_p99"], d["node"]) for d in results.get("disk") or []
           if isinstance(d.get("fsync_ms_p99"), (int, float))]
    if p99:
        worst = max(p99)
        parts.append(f"synchronous writes p99 at most {_f(worst[0])} ms ({worst[1]})")
    levels = [w["level"] for w in results.get("warnings") or []]
    bad, warn = levels.count("bad"), levels.count("warning")
    if bad or warn:
        parts.append(", ".join(x for x in (f"{bad} problem{'s' * (bad != 1)}" if bad else "",
                                            f"{warn} warning{'s' * (warn != 1)}" if warn else "") if x))
    else:
        parts.append("nothing to warn about")
    return "; ".join(parts)


# --- for the transcode report -------------------------------------------------------------------

def network_ceiling(bytes_to_move: int, compute_s: float, workers: int, links: list[dict]) -> dict:
    """The speed-up the controller's links allow a distributed job that ships its data.

    bytes_to_move: every byte that crosses the controller's links (the chunks sent out plus the
    encoded results fetched back); compute_s: the work's compute time on one worker (the
    one-machine time, which moves nothing); workers: the workers sharing it; links: a preflight's
    ``network`` list.

        R      = Σ over nodes of min(rate controller → node, rate node → controller)   [Mbit/s]
                 (a node measured one way only counts that way)
        T_net  = 8 · bytes_to_move / (R · 10⁶)                                          [s]
        ceiling            = min(workers, compute_s / T_net)
        ceiling_no_overlap = compute_s / (compute_s / workers + T_net)

    The links were measured one at a time, so together they carry at most their sum R: the
    ceiling is an upper bound (a controller port slower than R carries less). ``ceiling``
    assumes transfers overlap the compute entirely (the best a pipeline can do);
    ``ceiling_no_overlap`` that every byte moves before or after the compute. ``limited_by`` is
    ``network`` when T_net exceeds compute_s / workers (more workers would not help), else
    ``workers``. Without a measured link the ceiling is None and ``text`` says why."""
    if bytes_to_move < 0 or compute_s < 0 or workers < 1:
        raise ValueError("bytes_to_move and compute_s must be at least 0 and workers at least 1")
    out_rate: dict[str, float] = {}
    back_rate: dict[str, float] = {}
    for link in links or []:
        rate = link.get("mbit_s")
        if not isinstance(rate, (int, float)) or rate <= 0:
            continue
        if link.get("from") == CONTROLLER and link.get("to") != CONTROLLER:
            out_rate[str(link["to"])] = float(rate)
        elif link.get("to") == CONTROLLER and link.get("from") != CONTROLLER:
            back_rate[str(link["from"])] = float(rate)
    per_node = {n: min(r for r in (out_rate.get(n), back_rate.get(n)) if r is not None)
                for n in set(out_rate) | set(back_rate)}
    result: dict[str, Any] = {"bytes_to_move": bytes_to_move, "compute_s": compute_s, "workers": workers,
                              "rate_mbit_s": None, "nodes": sorted(per_node), "transfer_s": None, "ceiling": None,
                              "ceiling_no_overlap": None, "limited_by": None}
    if not per_node:
        result["text"] = "no network ceiling: the preflight measured no link between the controller and a node"
        return result
    rate = sum(per_node.values())
    transfer = 8 * bytes_to_move / (rate * 1e6)
    result["rate_mbit_s"] = rate
    result["transfer_s"] = transfer
    if transfer <= 0:
        result.update(ceiling=float(workers), ceiling_no_overlap=float(workers), limited_by="workers")
    else:
        result["ceiling"] = min(float(workers), compute_s / transfer)
        result["ceiling_no_overlap"] = compute_s / (compute_s / workers + transfer) if compute_s > 0 else 0.0
        result["limited_by"] = "network" if transfer > compute_s / workers else "workers"
    result["text"] = (f"moving {bytes_to_move / 1e6:.3g} MB over the controller's links ({rate:.3g} Mbit/s "
                      f"together) takes {transfer:.3g} s against {compute_s:.3g} s of compute: a speed-up of at most "
                      f"{result['ceiling']:.3g}× with {workers} workers"
                      + (" (the network, not the workers, sets it)" if result["limited_by"] == "network" else "")
                      + f"; {result['ceiling_no_overlap']:.3g}× if no transfer overlaps the compute")
    return result


def load_latest(reports_dir: str) -> dict | None:
    """The newest preflight's results.json in reports_dir (latest-preflight, else the newest
    preflight-* folder), or None when there is none or it cannot be read."""
    candidates = [os.path.join(reports_dir, f"latest-{WORKLOAD}")]
    try:
        folders = [n for n in os.listdir(reports_dir) if n.startswith(f"{WORKLOAD}-")
                   and os.path.isdir(os.path.join(reports_dir, n))]
    except OSError:
        return None
    from .compare import read_results  # the one reader of a report's results.json
    from .report.paths import folder_order  # the report folders' own order (…-2 after …)
    candidates += [os.path.join(reports_dir, n) for n in sorted(folders, key=folder_order, reverse=True)]
    for folder in candidates:
        try:
            data = read_results(os.path.join(folder, "results.json"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("workload") == WORKLOAD:
            return data
    return None


def transcode_ceiling(backend: str, runs: Sequence[Mapping[str, Any]], context: Mapping[str, Any],
                      preflight: Optional[Mapping[str, Any]]) -> dict[str, Any]:
    """The network's ceiling on a transcode's speed-up (results.json `network_ceiling`), from the
    newest preflight of the same nodes: the chunks shipped (context `chunk_bytes`) and the
    segments fetched back (their `bytes_out`) over the controller's links, against the one-machine
    time (the baseline run's T when there is one, else the segments' compute time summed).
    `ceiling` is None, and `text` says why, on the local backend (nothing crosses a network),
    without a preflight, or when the preflight did not measure every node of the run."""
    block: dict[str, Any] = {"ceiling": None, "preflight": None}
    strong = next((r for r in runs if r.get("mode") == "strong"), None)
    if backend == "local":
        return dict(block, text="local backend: nothing crosses a network")
    if strong is None or not strong.get("results"):
        return dict(block, text="no segments ran in this run")
    if not preflight:
        return dict(block, text="not known: run preflight.yml on this inventory (./lab play preflight.yml -i "
                                "INVENTORY) and the next report states the network's ceiling on the speed-up")
    block["preflight"] = {"generated": preflight.get("generated"), "backend": preflight.get("backend")}
    links = [link for link in preflight.get("network") or [] if isinstance(link, Mapping)]
    measured = {str(link.get(end)) for link in links for end in ("from", "to") if isinstance(link.get("mbit_s"), (int, float))}
    hosts = sorted({str(r.get("host") or r.get("node")) for r in strong["results"] if r.get("host") or r.get("node")})
    missing = [h for h in hosts if h not in measured]
    if missing:
        return dict(block, text=f"not known: the newest preflight ({preflight.get('generated')}) did not measure the "
                                f"link to {_join(missing)}; run preflight.yml on this inventory again")
    shipped = context.get("chunk_bytes")
    fetched = sum(r.get("bytes_out") or 0 for r in strong["results"] if not r.get("resumed"))
    baseline = next((r for r in runs if r.get("mode") == "baseline" and r.get("t_e2e_s")), None)
    compute = (float(baseline["t_e2e_s"]) if baseline else
               sum(float(r.get("compute_s") or 0) for r in strong["results"]))
    own = [link for link in links if (link.get("from") == CONTROLLER and str(link.get("to")) in hosts)
           or (link.get("to") == CONTROLLER and str(link.get("from")) in hosts)]
    result = network_ceiling(int((shipped or 0) + fetched), compute, int(strong.get("workers") or 1), own)
    result.update(preflight=block["preflight"], shipped_bytes=shipped, fetched_bytes=fetched,
                  compute_from="the baseline run" if baseline else "the segments' compute time summed")
    result["text"] = (f"{result['text']} (links measured by the preflight of {preflight.get('generated')}; "
                      f"one-machine time from {result['compute_from']}"
                      + ("; the chunks' size was not recorded, so only the fetched segments count" if shipped is None else "")
                      + ")")
    return result
