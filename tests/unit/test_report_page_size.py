"""The page size (getconf PAGESIZE) is shown with the kernel in the report's environment table."""
from __future__ import annotations

from labkit.report import html


def test_the_kernel_cell_carries_the_page_size_when_read() -> None:
    assert html._kernel({"kernel": "6.6.31+rpt-rpi-2712", "page_size": 16384}) == "6.6.31+rpt-rpi-2712, 16 KiB pages"
    assert html._kernel({"kernel": "6.1.0-18-amd64", "page_size": 4096}) == "6.1.0-18-amd64, 4 KiB pages"
    # Nothing invented where nothing was read (the API's nodes, an old report).
    assert html._kernel({"kernel": "6.1.0-18-amd64"}) == "6.1.0-18-amd64"


def test_the_environment_table_shows_it() -> None:
    page = html.environment_section({"nodes": [{"hostname": "pi-1", "kernel": "6.6.31", "page_size": 16384}]})
    assert "6.6.31, 16 KiB pages" in page and "kernel, page size" in page
