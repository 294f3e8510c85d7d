"""The report's inline SVG plots: well-formed, scaled into the frame, titled marks."""

from __future__ import annotations

import itertools
import math
import xml.etree.ElementTree as ET

import pytest

from trainspec.experiments._report_run import curves
from trainspec.experiments._report_svg import (
    bar_chart,
    contrast,
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
    assert "true cat, predicted dog: 1 (16.7% of true cat)" in titles and len(titles) == 4


def _rgb(color: str) -> tuple[int, int, int]:
    assert color.startswith("#") and len(color) == 7, color
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


@pytest.mark.parametrize("n", [2, 10])
def test_confusion_counts_contrast_with_their_cells_and_rows_show_percentages(n: int) -> None:
    """Counts from 0 to the largest, on cells from the palest to the darkest: each count
    is legible (WCAG AA contrast, 4.5:1) and its row share is written below it."""
    matrix = [[(i * 7 + j * 3) % 11 + (40 if i == j else 0) for j in range(n)] for i in range(n)]
    root = parse(heatmap("cm", matrix, [str(k) for k in range(n)], xlabel="p", ylabel="t"))
    cells = root.findall(f"{NS}rect")
    counts = root.findall(f"{NS}text[@class='count']")
    shares = root.findall(f"{NS}text[@class='share']")
    assert len(cells) == len(counts) == len(shares) == n * n
    fills = {(float(c.get("x", 0)), float(c.get("y", 0))): _rgb(c.get("fill", "")) for c in cells}
    cell = float(cells[0].get("width", 0))
    for text in counts:
        x, y = float(text.get("x", 0)), float(text.get("y", 0))
        left, top = (
            x - cell / 2,
            next(t for (cx, t) in fills if cx == x - cell / 2 and t <= y < t + cell),
        )
        assert contrast(_rgb(text.get("fill", "")), fills[(left, top)]) >= 4.5
    values = [[int(float(t.text or 0)) for t in counts[i * n : (i + 1) * n]] for i in range(n)]
    assert values == matrix
    for i, row in enumerate(matrix):
        written = [t.text for t in shares[i * n : (i + 1) * n]]
        expected = [f"{100 * v / sum(row):.0f}%" if v / sum(row) >= 0.01 or v == 0 else "<1%"
                    for v in row]  # fmt: skip
        assert written == expected
    # Shaded by the row's share: in every row, the diagonal (its largest count) is darkest.
    grid = [[_rgb(c.get("fill", "")) for c in cells[i * n : (i + 1) * n]] for i in range(n)]
    assert all(min(row, key=sum) == row[i] for i, row in enumerate(grid))


def test_every_learning_curve_is_labelled_train_or_val() -> None:
    history = [
        {"epoch": e, "train/loss": 1 / e, "val/loss": 1.2 / e, "val/accuracy": 0.5 + e / 10}
        for e in (1, 2, 3)
    ]
    plots = [parse(svg) for svg in curves({"": history})]
    assert [p.findtext(f"{NS}text") for p in plots] == ["loss", "accuracy"]
    for plot in plots:
        lines = [line.findtext(f"{NS}title") for line in plot.findall(f"{NS}polyline")]
        legend = [t.text for t in plot.findall(f"{NS}g[@class='legend']/{NS}text")]
        assert lines == legend and set(lines) <= {"train", "val"}
    assert [t.text for t in plots[1].findall(f"{NS}g/{NS}text")] == ["val"]  # even one line
    folds = parse(curves({"fold 0": history, "fold 1": history})[0])
    labels = {line.findtext(f"{NS}title") for line in folds.findall(f"{NS}polyline")}
    assert labels == {"fold 0 train", "fold 0 val", "fold 1 train", "fold 1 val"}


def test_log_sampled_parameters_get_log_axes() -> None:
    rows = [[1e-4, 8, 0.5], [1e-3, 16, 0.7], [1e-2, 64, 0.9]]
    svg = parallel_coordinates(
        "pc", ["lr", "width", "acc"], rows, color_by=[0.5, 0.7, 0.9], labels=["a", "b", "c"],
        log_axes=[True, False],
    )  # fmt: skip
    root = parse(svg)
    axis_names = [t.text for t in root.findall(f"{NS}text") if t.text in ("lr (log)", "width")]
    assert axis_names == ["lr (log)", "width"]
    lines = [
        [tuple(map(float, pt.split(","))) for pt in line.get("points", "").split()]
        for line in root.findall(f"{NS}polyline")
    ]
    lr_y = [line[0][1] for line in lines]
    width_y = [line[1][1] for line in lines]
    # 1e-4, 1e-3, 1e-2 are evenly spaced on the log axis; 8, 16, 64 are not on the linear one.
    assert lr_y[0] - lr_y[1] == pytest.approx(lr_y[1] - lr_y[2], abs=0.2)
    assert width_y[0] - width_y[1] < (width_y[1] - width_y[2]) / 3
    ticks = {t.text for t in root.findall(f"{NS}text")}
    assert {"1.00e-04", "0.001", "0.01"} <= ticks


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
