"""The reproducibility fingerprint: parsers of vcgencmd, config.txt and ffmpeg output, the run's
conditions as the user gives them, and how the report shows them."""
from __future__ import annotations

from pathlib import Path

import pytest

from labkit import fingerprint
from labkit.params import ParameterError
from labkit.report import build_context
from labkit.report import html as report_html

FIRMWARE = """Mar 17 2023 10:50:39
Copyright (c) 2012 Broadcom
version 82f3750a65fadae9a38077e3c2e217ad158c8d54 (clean) (release) (start)
"""
BOOTLOADER = """2023/01/11 17:40:52
version 8ba17717fbcedd4c3b6d4bce7e50c7af4155cba9 (release)
timestamp 1673458852
update-time 1676542726
capabilities 0x0000007f
"""
CONFIG = """# For more options and information see http://rptl.io/configtxt
dtparam=audio=on
arm_freq=2000   # an overclock
over_voltage=6
[pi5]
arm_freq=2800
[all]
arm_boost=1
gpu_mem=128
"""
FFMPEG = """ffmpeg version 5.1.6-0+deb12u1 Copyright (c) 2000-2024 the FFmpeg developers
built with gcc 12 (Debian 12.2.0-14)
configuration: --prefix=/usr --extra-version=0+deb12u1 --enable-libx264
libavutil      57. 28.100 / 57. 28.100
"""


def test_vcgencmd_versions_give_their_date_and_commit() -> None:
    assert fingerprint.parse_firmware_version(FIRMWARE) == "Mar 17 2023 10:50:39, 82f3750a65fa"
    assert fingerprint.parse_bootloader_version(BOOTLOADER) == "2023/01/11 17:40:52, 8ba17717fbce"
    for junk in (None, "", "VCHI initialization failed", "error=1 error_msg=\"Command not registered\""):
        assert fingerprint.parse_firmware_version(junk) is None


def test_config_txt_clock_settings_are_read_with_their_section_and_the_last_one_wins() -> None:
    clocks = fingerprint.parse_config_clocks(CONFIG)
    assert clocks == {"arm_freq": "2000", "over_voltage": "6", "[pi5] arm_freq": "2800", "arm_boost": "1"}
    assert fingerprint.parse_config_clocks("dtparam=audio=on\n") == {}
    assert fingerprint.parse_config_clocks(None) is None
    assert fingerprint.shown(clocks) == "arm_freq=2000, over_voltage=6, [pi5] arm_freq=2800, arm_boost=1"
    assert fingerprint.shown({}) == "none set" and fingerprint.shown(None) == "–"


def test_config_txt_is_found_where_the_firmware_reads_it(tmp_path: Path) -> None:
    assert fingerprint.read_config_clocks(str(tmp_path)) is None  # not a Pi
    (tmp_path / "boot").mkdir()
    (tmp_path / "boot" / "config.txt").write_text("arm_freq=1500\n")
    assert fingerprint.read_config_clocks(str(tmp_path)) == {"arm_freq": "1500"}
    # Bookworm's place wins over the old one.
    (tmp_path / "boot" / "firmware").mkdir()
    (tmp_path / "boot" / "firmware" / "config.txt").write_text("arm_freq=2400\n")
    assert fingerprint.read_config_clocks(str(tmp_path)) == {"arm_freq": "2400"}


def test_ffmpeg_build_is_its_version_and_a_digest_of_its_configuration() -> None:
    version, digest = fingerprint.parse_ffmpeg_build(FFMPEG)
    assert version == "5.1.6-0+deb12u1" and len(digest) == 12
    static = FFMPEG.replace("--enable-libx264", "--enable-libx264 --enable-static")
    assert fingerprint.parse_ffmpeg_build(static)[0] == version
    assert fingerprint.parse_ffmpeg_build(static)[1] != digest  # another build of the same version
    assert fingerprint.parse_ffmpeg_build(None) == (None, None)


def test_numpy_build_names_numpy_and_its_blas() -> None:
    version, blas = fingerprint.numpy_build()
    import numpy
    assert version == numpy.__version__
    assert blas is None or isinstance(blas, str) and blas.strip()


@pytest.mark.parametrize("ambient,message", [("warm", "lab_ambient_c='warm' is not a number"),
                                             (300, "lab_ambient_c=300 must be a number at least -40 and at most 80")])
def test_conditions_are_the_users_words_and_a_bad_temperature_is_named(ambient: object, message: str) -> None:
    assert fingerprint.conditions("", "") == {"cooling": None, "ambient_c": None}
    assert fingerprint.conditions(" fan + heatsink ", "21.5") == {"cooling": "fan + heatsink", "ambient_c": 21.5}
    with pytest.raises(ParameterError, match=message):
        fingerprint.conditions("", ambient)
    assert fingerprint.check_conditions("", ambient) == message
    assert fingerprint.check_conditions("fan", 20) == ""


def test_the_report_shows_every_nodes_fingerprint_and_the_conditions_or_how_to_give_them() -> None:
    reading = {"hostname": "pi-1", "kernel": "6.6.51+rpt-rpi-2712", "page_size": 16384, "governor": "ondemand",
               "fingerprint": {"firmware": "Mar 17 2023, 82f3750a65fa", "config_clocks": {"arm_freq": "2800"},
                               "numpy": "2.2.0", "blas": "openblas 0.3.28"}}
    context = build_context("ssh", {}, nodes_before=[{"node": reading}],
                            conditions=fingerprint.conditions("passive heatsink", 22))
    row = context["fingerprint"]["nodes"]["pi-1"]
    assert list(row) == list(fingerprint.FIELDS)
    assert row["kernel"] == "6.6.51+rpt-rpi-2712" and row["page_size"] == 16384 and row["bootloader"] is None
    page = report_html.fingerprint_part(context["fingerprint"])
    assert "Reproducibility fingerprint" in page and "arm_freq=2800" in page and "openblas 0.3.28" in page
    assert "cooling: passive heatsink, ambient 22 °C" in page
    bare = report_html.fingerprint_part(build_context("local", {}, nodes_before=[{"node": {"hostname": "vm"}}])["fingerprint"])
    assert "not given" in bare and "-e lab_ambient_c=22" in bare


def test_differences_name_the_fields_both_reports_know_and_that_differ() -> None:
    a = {"nodes": {"pi-1": {"firmware": "Mar 17 2023, 82f3750a65fa", "kernel": "6.6.51", "numpy": None,
                            "config_clocks": {"arm_freq": "2400"}}},
         "conditions": {"cooling": "heatsink", "ambient_c": 21.0}}
    b = {"nodes": {"pi-1": {"firmware": "Jan 05 2024, 0123456789ab", "kernel": "6.6.51", "numpy": "2.2.0",
                            "config_clocks": {"arm_freq": "2800"}}},
         "conditions": {"cooling": "heatsink + fan", "ambient_c": None}}
    found = fingerprint.differences(a, b)
    assert [d["what"] for d in found] == ["fingerprint pi-1 firmware", "fingerprint pi-1 config.txt clocks",
                                         "conditions cooling"]
    assert found[1] == {"what": "fingerprint pi-1 config.txt clocks", "a": "arm_freq=2400", "b": "arm_freq=2800"}
    # numpy was not read in A, the ambient not given in B: unknown there, not different.
    assert fingerprint.differences(a, a) == [] and fingerprint.differences(None, b) == []


def test_lab_compare_names_the_fingerprint_fields_that_differ() -> None:
    from labkit import compare

    def report(firmware: str, cooling: str | None) -> compare.Report:
        block = {"nodes": {"pi-1": {"firmware": firmware}}, "conditions": {"cooling": cooling, "ambient_c": None}}
        return compare.Report("/r/pi-x", {"workload": "pi", "runs": [],
                                          "context": {"backend": "ssh", "fingerprint": block}})

    found = compare.differences(report("Mar 17 2023, aaaaaaaaaaaa", "heatsink"),
                                report("Jan 05 2024, bbbbbbbbbbbb", "heatsink"))
    assert found == [{"what": "fingerprint pi-1 firmware", "a": "Mar 17 2023, aaaaaaaaaaaa",
                      "b": "Jan 05 2024, bbbbbbbbbbbb"}]
