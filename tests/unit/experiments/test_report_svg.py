"""The report's inline SVG plots: well-formed, scaled into the frame, titled marks."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import pytest

from trainspec.experiments._report_svg import (
    bar_chart,
    heatmap,
    line_chart,
    nice_ticks,
    parallel_coordinates,
    scatter,
)

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg" and root.get("class") == "plot"
    return root


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 1.0), (0.93, 0.97), (-3.0, 250.0), (1e-5, 3e-4)])
def test_nice_ticks_cover_the_range_with_round_steps(lo: float, hi: float) -> None:
    ticks = nice_ticks(lo, hi)
    assert 2 <= len(ticks) <= 11 and ticks == sorted(ticks)
    assert all(lo - 1e-12 <= t <= hi + 1e-12 for t in ticks)
    steps = {round(b - a, 12) for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1


def test_line_chart_points_stay_inside_the_frame() -> None:
    svg = line_chart(
        "loss", {"train": [(1, 2.0), (2, 1.0), (3, math.nan)], "val": [(1, 2.5), (2, 1.5)]}
    )
    root = parse(svg)
    circles = root.findall(f"{NS}circle")
    assert len(circles) == 4  # the NaN is left out
    for c in circles:
        assert 0 <= float(c.get("cx", -1)) <= 560 and 0 <= float(c.get("cy", -1)) <= 320
    assert any("train 1: 2" in (c.findtext(f"{NS}title") or "") for c in circles)


def test_text_is_escaped() -> None:
    root = parse(scatter("a <b> & c", [(0.0, 1.0)], xlabel="x<", ylabel="y&"))
    assert root.findtext(f"{NS}text") == "a <b> & c"


def test_heatmap_cells() -> None:
    root = parse(heatmap("cm", [[5, 1], [0, 4]], ["cat", "dog"], xlabel="p", ylabel="t"))
    titles = [r.findtext(f"{NS}title") for r in root.findall(f"{NS}rect")]
    assert "true cat, predicted dog: 1" in titles and len(titles) == 4


def test_bars_and_parallel_coordinates() -> None:
    bars = parse(bar_chart("importance", {"lr": 0.7, "width": 0.3}))
    assert len(bars.findall(f"{NS}rect")) == 2
    pc = parse(
        parallel_coordinates(
            "pc", ["lr", "act", "acc"], [[0.01, "relu", 0.9], [0.1, "gelu", 0.8]],
            color_by=[0.9, 0.8], labels=["t0", "t1"],
        )
    )  # fmt: skip
    lines = pc.findall(f"{NS}polyline")
    assert [line.findtext(f"{NS}title") for line in lines] == ["t0", "t1"]
    assert all(len(line.get("points", "").split()) == 3 for line in lines)
