"""labkit.preflight: parsing iperf3's JSON, the probe's output and `ip route get`, the verdicts,
the network ceiling and load_latest; and the report folder (labkit.report.preflight).

The iperf3 and probe samples are real: captured on a sandbox of `./lab sandbox up 3 --net 100mbit`
(iperf3 3.12, controller -> sbx-1 and back with -R; the probe on sbx-1)."""
from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from labkit import preflight
from labkit.report import preflight as page
from labtest import REPO

PROBE = REPO / "plugins" / "workers" / "preflight_probe.py"

# iperf3 -c 10.213.223.2 -t 3 --json (controller -> sbx-1, link shaped to 100mbit)
IPERF_FORWARD = '''{
	"start":	{
		"connected":	[{
				"socket":	5,
				"local_host":	"10.213.223.1",
				"local_port":	38286,
				"remote_host":	"10.213.223.2",
				"remote_port":	5201
			}],
		"version":	"iperf 3.12",
		"system_info":	"Linux vm 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0 x86_64",
		"timestamp":	{
			"time":	"Fri, 27 Nov 2026 00:29:32 GMT",
			"timesecs":	1795739372
		},
		"connecting_to":	{
			"host":	"10.213.223.2",
			"port":	5201
		},
		"cookie":	"memrylvp5chpbe3gzmtizihr7gegpn54xmal",
		"tcp_mss_default":	1448,
		"target_bitrate":	0,
		"sock_bufsize":	0,
		"sndbuf_actual":	16384,
		"rcvbuf_actual":	131072,
		"test_start":	{
			"protocol":	"TCP",
			"num_streams":	1,
			"blksize":	131072,
			"omit":	0,
			"duration":	3,
			"bytes":	0,
			"blocks":	0,
			"reverse":	0,
			"tos":	0,
			"target_bitrate":	0
		}
	},
	"intervals":	[{
			"streams":	[{
					"socket":	5,
					"start":	0,
					"end":	1.000109,
					"seconds":	1.0001089572906494,
					"bytes":	13176640,
					"bits_per_second":	105401635.72334157,
					"retransmits":	0,
					"snd_cwnd":	101360,
					"snd_wnd":	7447552,
					"rtt":	4558,
					"rttvar":	113,
					"pmtu":	1500,
					"omitted":	false,
					"sender":	true
				}],
			"sum":	{
				"start":	0,
				"end":	1.000109,
				"seconds":	1.0001089572906494,
				"bytes":	13176640,
				"bits_per_second":	105401635.72334157,
				"retransmits":	0,
				"omitted":	false,
				"sender":	true
			}
		}, {
			"streams":	[{
					"socket":	5,
					"start":	1.000109,
					"end":	2.0001,
					"seconds":	0.999990999698639,
					"bytes":	11793960,
					"bits_per_second":	94352529.201197,
					"retransmits":	0,
					"snd_cwnd":	81088,
					"snd_wnd":	7447552,
					"rtt":	4545,
					"rttvar":	170,
					"pmtu":	1500,
					"omitted":	false,
					"sender":	true
				}],
			"sum":	{
				"start":	1.000109,
				"end":	2.0001,
				"seconds":	0.999990999698639,
				"bytes":	11793960,
				"bits_per_second":	94352529.201197,
				"retransmits":	0,
				"omitted":	false,
				"sender":	true
			}
		}, {
			"streams":	[{
					"socket":	5,
					"start":	2.0001,
					"end":	3.000104,
					"seconds":	1.0000040531158447,
					"bytes":	12380400,
					"bits_per_second":	99042798.5680638,
					"retransmits":	0,
					"snd_cwnd":	86880,
					"snd_wnd":	7447552,
					"rtt":	5421,
					"rttvar":	169,
					"pmtu":	1500,
					"omitted":	false,
					"sender":	true
				}],
			"sum":	{
				"start":	2.0001,
				"end":	3.000104,
				"seconds":	1.0000040531158447,
				"bytes":	12380400,
				"bits_per_second":	99042798.5680638,
				"retransmits":	0,
				"omitted":	false,
				"sender":	true
			}
		}],
	"end":	{
		"streams":	[{
				"sender":	{
					"socket":	5,
					"start":	0,
					"end":	3.000104,
					"seconds":	3.000104,
					"bytes":	37351000,
					"bits_per_second":	99599213.89391835,
					"retransmits":	0,
					"max_snd_cwnd":	101360,
					"max_snd_wnd":	7447552,
					"max_rtt":	5421,
					"min_rtt":	4545,
					"mean_rtt":	4841,
					"sender":	true
				},
				"receiver":	{
					"socket":	5,
					"start":	0,
					"end":	3.002348,
					"seconds":	3.000104,
					"bytes":	35968160,
					"bits_per_second":	95840082.495433569,
					"sender":	true
				}
			}],
		"sum_sent":	{
			"start":	0,
			"end":	3.000104,
			"seconds":	3.000104,
			"bytes":	37351000,
			"bits_per_second":	99599213.89391835,
			"retransmits":	0,
			"sender":	true
		},
		"sum_received":	{
			"start":	0,
			"end":	3.002348,
			"seconds":	3.002348,
			"bytes":	35968160,
			"bits_per_second":	95840082.495433569,
			"sender":	true
		},
		"cpu_utilization_percent":	{
			"host_total":	0.41902939659035077,
			"host_user":	0,
			"host_system":	0.41902939659035077,
			"remote_total":	0.94168438035615676,
			"remote_user":	0.2372113379159109,
			"remote_system":	0.70443973559695527
		},
		"sender_tcp_congestion":	"bbr",
		"receiver_tcp_congestion":	"bbr"
	}
}
'''

# iperf3 -c 10.213.223.2 -t 3 --json -R (sbx-1 -> controller)
IPERF_REVERSE = '''{
	"start":	{
		"connected":	[{
				"socket":	5,
				"local_host":	"10.213.223.1",
				"local_port":	38292,
				"remote_host":	"10.213.223.2",
				"remote_port":	5201
			}],
		"version":	"iperf 3.12",
		"system_info":	"Linux vm 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0 x86_64",
		"timestamp":	{
			"time":	"Fri, 27 Nov 2026 00:29:36 GMT",
			"timesecs":	1795739376
		},
		"connecting_to":	{
			"host":	"10.213.223.2",
			"port":	5201
		},
		"cookie":	"m72xjh7oqauunbryd6vgsyf5koyinn3xreya",
		"tcp_mss_default":	1448,
		"target_bitrate":	0,
		"sock_bufsize":	0,
		"sndbuf_actual":	16384,
		"rcvbuf_actual":	131072,
		"test_start":	{
			"protocol":	"TCP",
			"num_streams":	1,
			"blksize":	131072,
			"omit":	0,
			"duration":	3,
			"bytes":	0,
			"blocks":	0,
			"reverse":	1,
			"tos":	0,
			"target_bitrate":	0
		}
	},
	"intervals":	[{
			"streams":	[{
					"socket":	5,
					"start":	0,
					"end":	1.000075,
					"seconds":	1.0000749826431274,
					"bytes":	12053240,
					"bits_per_second":	96418690.271756545,
					"omitted":	false,
					"sender":	false
				}],
			"sum":	{
				"start":	0,
				"end":	1.000075,
				"seconds":	1.0000749826431274,
				"bytes":	12053240,
				"bits_per_second":	96418690.271756545,
				"omitted":	false,
				"sender":	false
			}
		}, {
			"streams":	[{
					"socket":	5,
					"start":	1.000075,
					"end":	2.000073,
					"seconds":	0.99999797344207764,
					"bytes":	11977856,
					"bits_per_second":	95823042.1909453,
					"omitted":	false,
					"sender":	false
				}],
			"sum":	{
				"start":	1.000075,
				"end":	2.000073,
				"seconds":	0.99999797344207764,
				"bytes":	11977856,
				"bits_per_second":	95823042.1909453,
				"omitted":	false,
				"sender":	false
			}
		}, {
			"streams":	[{
					"socket":	5,
					"start":	2.000073,
					"end":	3.000086,
					"seconds":	1.000012993812561,
					"bytes":	11928624,
					"bits_per_second":	95427752.029677,
					"omitted":	false,
					"sender":	false
				}],
			"sum":	{
				"start":	2.000073,
				"end":	3.000086,
				"seconds":	1.000012993812561,
				"bytes":	11928624,
				"bits_per_second":	95427752.029677,
				"omitted":	false,
				"sender":	false
			}
		}],
	"end":	{
		"streams":	[{
				"sender":	{
					"socket":	5,
					"start":	0,
					"end":	3.000817,
					"seconds":	3.000817,
					"bytes":	37189072,
					"bits_per_second":	99143858.489204764,
					"retransmits":	0,
					"max_snd_cwnd":	0,
					"max_snd_wnd":	0,
					"max_rtt":	0,
					"min_rtt":	0,
					"mean_rtt":	0,
					"sender":	false
				},
				"receiver":	{
					"socket":	5,
					"start":	0,
					"end":	3.000086,
					"seconds":	3.000086,
					"bytes":	35959720,
					"bits_per_second":	95889837.824649,
					"sender":	false
				}
			}],
		"sum_sent":	{
			"start":	0,
			"end":	3.000817,
			"seconds":	3.000817,
			"bytes":	37189072,
			"bits_per_second":	99143858.489204764,
			"retransmits":	0,
			"sender":	false
		},
		"sum_received":	{
			"start":	0,
			"end":	3.000086,
			"seconds":	3.000086,
			"bytes":	35959720,
			"bits_per_second":	95889837.824649,
			"sender":	false
		},
		"cpu_utilization_percent":	{
			"host_total":	0.825900484048749,
			"host_user":	0.0746916929862005,
			"host_system":	0.75120879106254834,
			"remote_total":	0.43937799937550676,
			"remote_user":	0,
			"remote_system":	0.43934467529515975
		},
		"sender_tcp_congestion":	"bbr",
		"receiver_tcp_congestion":	"bbr"
	}
}
'''

# iperf3 --json with no server listening: exit status 0, the error in the JSON
IPERF_REFUSED = '''{
	"start":	{
		"connected":	[],
		"version":	"iperf 3.12",
		"system_info":	"Linux vm 6.18.44-fc-v669 #1 SMP PREEMPT_DYNAMIC @0 x86_64"
	},
	"intervals":	[],
	"end":	{
	},
	"error":	"unable to connect to server: Connection refused"
}
'''

# preflight_probe.py on sbx-1 (--count 10 --rtt-count 3 --route-ssh-client --rtt 10.213.223.6:22 ...)
PROBE_SBX1 = r'''{"schema": 1, "node": "sbx-1", "fqdn": "sbx-1", "ssh_client": "10.213.223.1", "routes": [{"to": "10.213.223.6", "route": "10.213.223.6 via 10.213.223.1 dev eth0 src 10.213.223.2 uid 0 \\    cache \n", "link": "4649: eth0@if4650: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc tbf state UP mode DEFAULT group default qlen 1000\\    link/ether 72:d5:06:10:4f:94 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n", "error": null}, {"to": "10.213.223.1", "route": "10.213.223.1 dev eth0 src 10.213.223.2 uid 0 \\    cache \n", "link": "4649: eth0@if4650: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc tbf state UP mode DEFAULT group default qlen 1000\\    link/ether 72:d5:06:10:4f:94 brd ff:ff:ff:ff:ff:ff link-netnsid 0\n", "error": null}], "rtt": [{"target": "10.213.223.6:22", "host": "10.213.223.6", "port": 22, "samples_ms": [0.13656200462719426, 0.02789100108202547, 0.023305001377593726], "error": null}], "names": [{"name": "sbx-2", "addresses": [], "ms": 0.08020799577934667, "error": "[Errno -3] Temporary failure in name resolution"}, {"name": "vm", "addresses": ["127.0.0.1"], "ms": 0.02151199441868812, "error": null}], "disk": {"path": "/var/tmp/pi-cluster-lab", "count": 10, "block_bytes": 4096, "latencies_ms": [4.4845979937235825, 0.3921609968529083, 0.1670380006544292, 0.25592900055926293, 0.5174670004635118, 1.0974859978887253, 1.1119489936390892, 0.48912499914877117, 0.6235139953787439, 1.0517289993003942], "sync": "fdatasync", "error": null, "seconds": 0.010213360001216643}}'''


# --- parsing ----------------------------------------------------------------------------------

def test_iperf3_forward_reports_what_arrived_with_the_senders_round_trip() -> None:
    got = preflight.parse_iperf3(IPERF_FORWARD)
    assert got["error"] is None
    assert got["mbit_s"] == pytest.approx(95.84, abs=0.01)       # end.sum_received, what arrived
    assert got["sent_mbit_s"] == pytest.approx(99.60, abs=0.01)  # end.sum_sent
    assert got["retransmits"] == 0
    assert got["rtt_loaded_ms"] == pytest.approx(4.841)          # streams[0].sender.mean_rtt, µs
    assert got["mss"] == 1448 and got["seconds"] == pytest.approx(3.0, abs=0.1) and got["bytes"] > 30e6


def test_iperf3_reverse_has_no_round_trip_on_the_receiving_side() -> None:
    got = preflight.parse_iperf3(IPERF_REVERSE)
    assert got["mbit_s"] == pytest.approx(95.89, abs=0.01) and got["rtt_loaded_ms"] is None


@pytest.mark.parametrize(("text", "says"), [
    (IPERF_REFUSED, "unable to connect to server: Connection refused"),
    ("", "iperf3 printed no JSON"),
    ("iperf3: error - unable to connect", "iperf3 printed no JSON: iperf3: error - unable to connect"),
    ('{"start": {}, "end": {}}', "no end.sum_received"),
])
def test_iperf3_failures_are_named_and_carry_no_number(text: str, says: str) -> None:
    got = preflight.parse_iperf3(text)
    assert says in got["error"] and got["mbit_s"] is None


def test_the_probe_document_is_read_from_its_last_json_line() -> None:
    doc = preflight.parse_probe("a warning on stderr merged\n" + PROBE_SBX1 + "\n")
    assert doc["node"] == "sbx-1" and doc["ssh_client"] == "10.213.223.1"
    with pytest.raises(ValueError, match="printed nothing"):
        preflight.parse_probe("Traceback ...")
    with pytest.raises(ValueError, match="schema 1"):
        preflight.parse_probe('{"schema": 2}')


def test_route_mtu_comes_from_the_device_unless_the_route_sets_one() -> None:
    doc = json.loads(PROBE_SBX1)
    via = preflight.parse_route(doc["routes"][0]["route"], doc["routes"][0]["link"])
    assert via == {"device": "eth0", "via": "10.213.223.1", "src": "10.213.223.2", "mtu": 1500, "mtu_from": "device"}
    flannel = preflight.parse_route("10.42.1.0 via 10.42.1.0 dev flannel.1 src 10.42.0.0 uid 0 \\    cache mtu 1450",
                                    "5: flannel.1: <BROADCAST> mtu 1500 qdisc noqueue")
    assert flannel["mtu"] == 1450 and flannel["mtu_from"] == "route"
    assert preflight.parse_route("", "")["mtu"] is None


def test_fsync_summary_from_the_real_probe() -> None:
    disk = json.loads(PROBE_SBX1)["disk"]
    got = preflight.fsync_summary(disk)
    values = sorted(disk["latencies_ms"])
    assert got["fsync_ms_median"] == pytest.approx((values[4] + values[5]) / 2)
    assert values[-2] < got["fsync_ms_p99"] <= values[-1] == got["fsync_ms_max"]
    assert got["ops_per_s"] == pytest.approx(10 / disk["seconds"])
    assert got["count"] == 10 and got["block_bytes"] == 4096 and got["error"] is None


def test_fsync_summary_of_nothing_says_so() -> None:
    assert preflight.fsync_summary({"latencies_ms": [], "error": "PermissionError: denied"})["error"] == \
        "PermissionError: denied"
    assert preflight.fsync_summary({})["error"] == "no synchronous write was timed"


# --- the probe program itself (standard library only) -------------------------------------------

def test_the_probe_times_synchronous_writes_and_removes_its_file(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(PROBE), "--disk", str(tmp_path / "work"), "--count", "5",
                           "--resolve", "localhost"], capture_output=True, text=True, timeout=60, check=True)
    doc = preflight.parse_probe(done.stdout)
    assert len(doc["disk"]["latencies_ms"]) == 5 and all(v > 0 for v in doc["disk"]["latencies_ms"])
    assert os.listdir(tmp_path / "work") == []  # the test file is gone
    assert doc["names"][0]["addresses"] and doc["names"][0]["error"] is None


def test_the_probe_refuses_no_argument_as_a_shell_would_read_it(tmp_path: Path) -> None:
    hostile = tmp_path / "a b'$(touch pwned);"
    done = subprocess.run([sys.executable, str(PROBE), "--disk", str(hostile), "--count", "2"],
                          capture_output=True, text=True, timeout=60, check=True, cwd=tmp_path)
    assert preflight.parse_probe(done.stdout)["disk"]["error"] is None
    assert hostile.is_dir() and not (tmp_path / "pwned").exists()


# --- plan ------------------------------------------------------------------------------------

NODES = [{"name": "pi1", "address": "10.0.0.11", "port": 22}, {"name": "pi2", "address": "pi2.lan"},
         {"name": "pi3", "address": "10.0.0.13", "port": 2222}]


def test_plan_measures_each_link_alone_controller_first_then_each_pair_once() -> None:
    got = preflight.plan(NODES, "ctl", disk_dir="/var/tmp/lab", count=50, block=4096, rtt_count=3)
    arrows = [(link["from"], link["to"]) for link in got["links"]]
    assert arrows == [("controller", "pi1"), ("pi1", "controller"), ("controller", "pi2"), ("pi2", "controller"),
                      ("controller", "pi3"), ("pi3", "controller"), ("pi1", "pi2"), ("pi1", "pi3"), ("pi2", "pi3")]
    back = got["links"][1]
    assert back["server"] == "pi1" and back["client"] == "controller" and back["reverse"] is True
    pair = got["links"][-1]
    assert pair["server"] == "pi3" and pair["client"] == "pi2" and pair["server_address"] == "10.0.0.13"


def test_plan_asks_each_probe_about_its_peers_and_their_names() -> None:
    got = preflight.plan(NODES, "ctl", disk_dir="/var/tmp/lab", count=50, block=4096, rtt_count=3)
    pi1 = got["nodes"][0]["args"]
    assert pi1[:8] == ["--disk", "/var/tmp/lab", "--count", "50", "--block", "4096", "--rtt-count", "3"]
    assert "--route-ssh-client" in pi1
    assert ["--rtt", "pi2.lan:22"] == pi1[pi1.index("pi2.lan:22") - 1:pi1.index("pi2.lan:22") + 1]
    assert "10.0.0.13:2222" in pi1 and "10.0.0.11:22" not in pi1     # its peers, not itself
    resolved = [pi1[i + 1] for i, a in enumerate(pi1) if a == "--resolve"]
    assert resolved == ["pi2", "pi2.lan", "pi3", "ctl"]  # names, never an address
    ctl = got["controller_args"]
    assert [ctl[i + 1] for i, a in enumerate(ctl) if a == "--resolve"] == ["pi1", "pi2", "pi2.lan", "pi3"]


# --- results and verdicts ------------------------------------------------------------------------

def probe(node: str, ssh_client: str = "10.0.0.1", p99: float = 1.0, names: list | None = None,
          rtts: dict | None = None, mtu: int = 1500) -> dict:
    lat = [0.5] * 95 + [p99] * 5  # the 99th percentile is p99
    routes = [{"to": a, "route": f"{a} dev eth0 src 10.0.0.9 uid 0 \\    cache ", "link": f"2: eth0: <UP> mtu {mtu}",
               "error": None} for a in [ssh_client, "10.0.0.11", "10.0.0.12", "10.0.0.13"]]
    return {"stdout": json.dumps({
        "schema": 1, "node": node, "ssh_client": ssh_client, "routes": routes,
        "rtt": [{"host": h, "samples_ms": [v, v, v], "error": None} for h, v in (rtts or {}).items()],
        "names": names or [], "disk": {"path": "/var/tmp/lab", "count": 100, "block_bytes": 4096,
                                       "latencies_ms": lat, "seconds": sum(lat) / 1000, "error": None}}), "rc": 0}


def iperf(mbit: float) -> str:
    return json.dumps({"start": {"tcp_mss_default": 1448}, "end": {
        "sum_sent": {"bits_per_second": mbit * 1e6, "retransmits": 0, "seconds": 3, "bytes": int(mbit * 1e6 * 3 / 8)},
        "sum_received": {"bits_per_second": mbit * 1e6, "seconds": 3, "bytes": int(mbit * 1e6 * 3 / 8)},
        "streams": []}})


THREE = [{"name": "pi1", "address": "10.0.0.11"}, {"name": "pi2", "address": "10.0.0.12"},
         {"name": "pi3", "address": "10.0.0.13"}]


def three_results(rates: dict, **kwargs: object) -> dict:
    planned = preflight.plan(THREE, "ctl", disk_dir="/d", count=100, block=4096, rtt_count=3)["links"]
    links = [{**link, "stdout": iperf(rates.get((link["from"], link["to"]), 94.0))} for link in planned]
    routes = [{"to": n["address"], "route": f"{n['address']} dev eth0 src 10.0.0.1 uid 0", "link": "2: eth0: mtu 1500"}
              for n in THREE]
    controller = {"stdout": json.dumps({"schema": 1, "node": "ctl", "routes": routes, "names": [],
                                        "rtt": [{"host": n["address"], "samples_ms": [0.3, 0.2, 0.25]}
                                                for n in THREE]}), "rc": 0}
    probes = kwargs.pop("probes", None) or {n["name"]: probe(n["name"]) for n in THREE}
    return preflight.build_results("ssh", THREE, controller, probes, links,
                                   now=_dt.datetime(2026, 11, 27, 10, 0, tzinfo=_dt.timezone.utc), **kwargs)


def test_a_healthy_cluster_has_nothing_to_warn_about() -> None:
    got = three_results({})
    assert got["warnings"] == [] and got["summary"] == ("9 links measured, 94–94 Mbit/s; synchronous writes p99 at "
                                                        "most 1 ms (pi3); nothing to warn about")
    first = got["network"][0]
    assert (first["from"], first["to"], first["mbit_s"], first["rtt_ms"], first["mtu"]) == \
        ("controller", "pi1", 94.0, 0.25, 1500)
    assert got["generated"] == "2026-11-27 10:00:00 UTC" and got["workload"] == "preflight"
    assert [d["node"] for d in got["disk"]] == ["pi1", "pi2", "pi3"]
    assert got["disk"][0]["fsync_ms_median"] == 0.5 and got["disk"][0]["fsync_ms_p99"] == 1.0


def test_a_link_far_below_the_others_is_named_with_both_figures() -> None:
    got = three_results({("pi2", "pi3"): 9.4})
    assert [w["level"] for w in got["warnings"]] == ["warning"]
    assert got["warnings"][0]["text"].startswith("pi2 → pi3: 9.4 Mbit/s, far below the other links (median 94 Mbit/s)")


def test_slow_synchronous_writes_are_too_slow_for_the_k3s_datastore() -> None:
    probes = {n["name"]: probe(n["name"], p99=40.0 if n["name"] == "pi3" else 2.0) for n in THREE}
    got = three_results({}, probes=probes)
    bad = [w for w in got["warnings"] if w["level"] == "bad"]
    assert len(bad) == 1 and bad[0]["text"].startswith("pi3: synchronous writes take 0.5 ms (median)")
    assert "too slow for the K3s datastore on this card" in bad[0]["text"]


def test_an_mtu_mismatch_names_the_paths_of_each_mtu() -> None:
    probes = {n["name"]: probe(n["name"], mtu=9000 if n["name"] == "pi2" else 1500) for n in THREE}
    got = three_results({}, probes=probes)
    texts = [w["text"] for w in got["warnings"]]
    assert len(texts) == 1 and texts[0].startswith("the MTU differs between paths (MTU 1500 on controller → pi1, pi1 → controller")
    assert "MTU 9000 on pi2 → controller, pi2 → pi3)" in texts[0]


def test_names_unresolved_loopback_and_slow() -> None:
    names = {"pi1": [{"name": "pi2", "addresses": [], "ms": 0.1, "error": "[Errno -3] Temporary failure"},
                     {"name": "pi3", "addresses": [], "ms": 0.1, "error": "[Errno -3] Temporary failure"},
                     {"name": "ctl", "addresses": ["127.0.1.1"], "ms": 0.1, "error": None}],
             "pi2": [{"name": "pi1", "addresses": ["10.0.0.11"], "ms": 5000.0, "error": None}]}
    probes = {n["name"]: probe(n["name"], names=names.get(n["name"])) for n in THREE}
    got = three_results({}, probes=probes)
    texts = {w["level"] + ": " + w["text"] for w in got["warnings"]}
    assert "note: pi1 cannot resolve pi2 and pi3 (inventory names): the lab connects by address, but anything " \
           "there that uses these names will fail (add them to /etc/hosts or DNS)" in texts
    assert any(t.startswith("warning: pi1 resolves the controller's name ctl to 127.0.1.1, a loopback address")
               for t in texts)
    assert any(t.startswith("warning: pi2 takes 5000 ms to resolve pi1") for t in texts)
    row = next(n for n in got["names"] if n["on"] == "pi2")
    assert row == {"on": "pi2", "name": "pi1", "what": "pi1's inventory name", "resolved": True,
                   "addresses": ["10.0.0.11"], "ms": 5000.0, "error": None, "expected": "10.0.0.11",
                   "loopback_only": False}


def test_failures_are_problems_that_name_the_host_and_the_cause() -> None:
    probes = {"pi1": probe("pi1"), "pi2": {"unreachable": True, "msg": "ssh: connect to host 10.0.0.12 port 22"},
              "pi3": probe("pi3")}
    planned = preflight.plan(THREE, "ctl", disk_dir="/d", count=100, block=4096, rtt_count=3)["links"]
    links = [{**link, "stdout": iperf(94)} for link in planned]
    links[-1] = {**planned[-1], "stdout": IPERF_REFUSED}
    links[-2] = {**planned[-2], "stdout": "", "server_error": "port 5201 is already in use"}
    got = preflight.build_results("ssh", THREE, None, probes, links, unusable={"pi4": ["pi4 has no iperf3"]})
    bad = [w["text"] for w in got["warnings"] if w["level"] == "bad"]
    assert bad[0] == "pi4 was left out: pi4 has no iperf3"
    assert bad[1] == "pi2: the probe did not run (unreachable: ssh: connect to host 10.0.0.12 port 22)"
    assert "pi1 → pi3: no throughput measured: the iperf3 server on pi3 did not start: port 5201 is already in use" \
        in bad
    assert "pi2 → pi3: no throughput measured: unable to connect to server: Connection refused" in bad
    assert any(t.startswith("pi2: no synchronous-write latency measured: the probe did not run") for t in bad)


def test_the_local_backend_has_no_network_and_says_so() -> None:
    local = probe("laptop")
    got = preflight.build_results("local", [], None, {}, [], controller_disk=local)
    assert got["network"] == [] and got["names"] == []
    assert got["network_note"].startswith("local backend: the controller alone, so there is no network to measure")
    assert got["disk"][0]["node"] == "controller" and got["controller"]["name"] == "laptop"
    assert got["summary"].startswith("no network (local backend); synchronous writes p99 at most")


# --- network_ceiling ---------------------------------------------------------------------------

LINKS = [{"from": "controller", "to": "pi1", "mbit_s": 100.0}, {"from": "pi1", "to": "controller", "mbit_s": 80.0},
         {"from": "controller", "to": "pi2", "mbit_s": 100.0}, {"from": "pi1", "to": "pi2", "mbit_s": 5.0},
         {"from": "controller", "to": "pi3", "mbit_s": None, "error": "refused"}]


def test_network_ceiling_formula() -> None:
    # R = min(100, 80) + 100 = 180 Mbit/s; 450 MB -> 3600 Mbit -> T_net = 20 s.
    got = preflight.network_ceiling(450_000_000, 100.0, 8, LINKS)
    assert got["rate_mbit_s"] == 180.0 and got["transfer_s"] == pytest.approx(20.0)
    assert got["ceiling"] == pytest.approx(5.0)                     # min(8, 100 / 20)
    assert got["ceiling_no_overlap"] == pytest.approx(100 / (100 / 8 + 20))
    assert got["limited_by"] == "network" and got["nodes"] == ["pi1", "pi2"]
    assert "a speed-up of at most 5× with 8 workers (the network, not the workers, sets it)" in got["text"]


def test_network_ceiling_when_the_workers_are_the_limit() -> None:
    got = preflight.network_ceiling(45_000_000, 100.0, 4, LINKS)    # T_net = 2 s < 100 / 4
    assert got["ceiling"] == 4.0 and got["limited_by"] == "workers"
    assert got["ceiling_no_overlap"] == pytest.approx(100 / 27)


def test_network_ceiling_without_links_or_with_nothing_to_move() -> None:
    none = preflight.network_ceiling(1000, 10.0, 2, [{"from": "pi1", "to": "pi2", "mbit_s": 90.0}])
    assert none["ceiling"] is None and none["text"].startswith("no network ceiling")
    assert preflight.network_ceiling(0, 10.0, 3, LINKS)["ceiling"] == 3.0
    with pytest.raises(ValueError):
        preflight.network_ceiling(10, 1.0, 0, LINKS)


# --- the report folder and load_latest -------------------------------------------------------------

def test_the_report_folder_page_and_latest(tmp_path: Path) -> None:
    assert preflight.load_latest(str(tmp_path / "none")) is None
    results = three_results({("pi2", "pi3"): 9.4})
    results["nodes"][0]["name"] = "pi1"
    first = page.write_preflight_report(str(tmp_path), results,
                                        now=_dt.datetime(2026, 11, 27, 10, 0, tzinfo=_dt.timezone.utc))
    assert os.path.basename(first["path"]) == "preflight-20261127-100000"
    assert sorted(os.listdir(first["path"])) == ["index.html", "results.json", "summary.md"]
    assert os.readlink(tmp_path / "latest-preflight") == "preflight-20261127-100000"
    html = (Path(first["path"]) / "index.html").read_text()
    assert "pi2 → pi3: 9.4 Mbit/s, far below the other links" in html
    svgs = html.count("<svg")
    assert svgs == 2
    for chunk in html.split("<svg")[1:]:
        ET.fromstring("<svg" + chunk.split("</svg>")[0] + "</svg>")  # well-formed
    md = (Path(first["path"]) / "summary.md").read_text()
    assert "| pi2 | pi3 | 9.4 |" in md and "**warning**: pi2 → pi3" in md
    # A second report in the same second gets its own folder; load_latest reads the newest.
    results2 = dict(results, summary="second")
    page.write_preflight_report(str(tmp_path), results2, now=_dt.datetime(2026, 11, 27, 10, 0, tzinfo=_dt.timezone.utc))
    assert preflight.load_latest(str(tmp_path))["summary"] == "second"
    os.unlink(tmp_path / "latest-preflight")   # without the link: the newest folder by name
    assert preflight.load_latest(str(tmp_path))["summary"] == "second"


def test_user_strings_are_escaped_in_the_page() -> None:
    nodes = [{"name": "<b>pi1", "address": "10.0.0.11"}]
    got = preflight.build_results("ssh", nodes, None, {"<b>pi1": probe("<b>pi1")}, [])
    html = page.render_html(got)
    assert "<b>pi1" not in html and "&lt;b&gt;pi1" in html


def test_the_transcode_ceiling_uses_the_runs_nodes_links_and_says_why_when_it_cannot() -> None:
    from labkit.preflight import transcode_ceiling

    strong = {"mode": "strong", "workers": 2, "results": [
        {"host": "pi-1", "bytes_out": 1_000_000, "compute_s": 4.0}, {"host": "pi-2", "bytes_out": 1_000_000,
                                                                     "compute_s": 4.0}]}
    baseline = {"mode": "baseline", "workers": 1, "t_e2e_s": 10.0, "results": []}
    links = [{"from": "controller", "to": "pi-1", "mbit_s": 100.0}, {"from": "pi-1", "to": "controller", "mbit_s": 90.0},
             {"from": "controller", "to": "pi-2", "mbit_s": 100.0}, {"from": "pi-2", "to": "controller", "mbit_s": 110.0},
             {"from": "controller", "to": "pi-9", "mbit_s": 1000.0}, {"from": "pi-1", "to": "pi-2", "mbit_s": 5.0}]
    preflight = {"generated": "2026-11-27 00:50:08 UTC", "backend": "ssh", "network": links}
    block = transcode_ceiling("ssh", [strong, baseline], {"chunk_bytes": 23_000_000}, preflight)
    # R = min(100, 90) + min(100, 110) = 190 Mbit/s over the run's nodes only; 25 MB take 8·25/190 s.
    assert block["rate_mbit_s"] == 190.0 and block["nodes"] == ["pi-1", "pi-2"]
    assert block["bytes_to_move"] == 25_000_000 and block["compute_s"] == 10.0
    assert block["transfer_s"] == pytest.approx(200 / 190)
    assert block["ceiling"] == 2.0 and block["limited_by"] == "workers"
    assert block["preflight"]["generated"] == "2026-11-27 00:50:08 UTC"
    assert "one-machine time from the baseline run" in block["text"]
    # Without a baseline, the segments' compute summed; a slow network sets the ceiling.
    slow = [dict(link, mbit_s=1.0) for link in links]
    block = transcode_ceiling("k3s", [strong], {"chunk_bytes": 23_000_000}, dict(preflight, network=slow))
    assert block["compute_s"] == 8.0 and block["limited_by"] == "network"
    assert block["ceiling"] == pytest.approx(8.0 / (8 * 25 / 2))
    assert transcode_ceiling("local", [strong], {}, preflight)["text"] == "local backend: nothing crosses a network"
    assert transcode_ceiling("ssh", [strong], {}, None)["text"].startswith("not known: run preflight.yml")
    other = dict(preflight, network=[link for link in links if "pi-2" not in (link["from"], link["to"])])
    assert "did not measure the link to pi-2" in transcode_ceiling("ssh", [strong], {}, other)["text"]
