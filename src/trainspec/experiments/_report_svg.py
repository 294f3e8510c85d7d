"""Plots as inline SVG text: line charts, scatter plots, bars, heatmaps, parallel coordinates.

No plotting library and no script: a report opens offline in any browser. Every plot is an
``<svg class="plot">``; hovering a mark shows its ``<title>``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

__all__ = [
    "bar_chart",
    "contrast",
    "heatmap",
    "line_chart",
    "nice_ticks",
    "parallel_coordinates",
    "scatter",
]

W, H = 560, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 28, 44
PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
)

Point = tuple[float, float]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-3:
        return f"{v:.2e}"
    return f"{v:.4g}"


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks, t = [], start
    while t <= hi + step * 1e-9:
        if t >= lo - step * 1e-9:
            ticks.append(round(t, 12))
        t += step
    return ticks


class _Frame:
    """Maps data to pixels inside the axes box."""

    def __init__(self, xs: Sequence[float], ys: Sequence[float]) -> None:
        self.x0, self.x1 = _span(xs)
        self.y0, self.y1 = _span(ys)

    def px(self, x: float) -> float:
        return LEFT + (x - self.x0) / (self.x1 - self.x0) * (W - LEFT - RIGHT)

    def py(self, y: float) -> float:
        return H - BOTTOM - (y - self.y0) / (self.y1 - self.y0) * (H - TOP - BOTTOM)

    def axes(self, xlabel: str, ylabel: str) -> list[str]:
        out = [
            f'<line class="axis" x1="{LEFT}" y1="{H - BOTTOM}" x2="{W - RIGHT}" '
            f'y2="{H - BOTTOM}"/>',
            f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{H - BOTTOM}"/>',
        ]
        for t in nice_ticks(self.x0, self.x1):
            x = self.px(t)
            out.append(
                f'<text class="tick" x="{x:.1f}" y="{H - BOTTOM + 16}" '
                f'text-anchor="middle">{_fmt(t)}</text>'
            )
        for t in nice_ticks(self.y0, self.y1):
            y = self.py(t)
            out.append(
                f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{W - RIGHT}" y2="{y:.1f}"/>'
            )
            out.append(
                f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" '
                f'text-anchor="end">{_fmt(t)}</text>'
            )
        out.append(
            f'<text class="label" x="{(LEFT + W - RIGHT) / 2}" y="{H - 8}" '
            f'text-anchor="middle">{escape(xlabel)}</text>'
        )
        out.append(
            f'<text class="label" transform="translate(14 {(TOP + H - BOTTOM) / 2}) '
            f'rotate(-90)" text-anchor="middle">{escape(ylabel)}</text>'
        )
        return out


def _span(values: Sequence[float]) -> tuple[float, float]:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    lo, hi = min(finite), max(finite)
    if hi == lo:
        pad = abs(lo) * 0.05 or 0.5
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.04
    return lo - pad, hi + pad


def _svg(title: str, body: Sequence[str], width: int = W, height: int = H) -> str:
    return (
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
        f'<text class="title" x="{width / 2}" y="18" text-anchor="middle">{escape(title)}</text>'
        + "".join(body)
        + "</svg>"
    )


def _legend(names: Sequence[str], colors: Sequence[str]) -> list[str]:
    out = ['<g class="legend">']
    for i, (name, color) in enumerate(zip(names, colors, strict=True)):
        y = TOP + 8 + i * 15
        out.append(
            f'<rect x="{W - RIGHT - 150}" y="{y - 8}" width="10" height="10" fill="{color}"/>'
            f'<text class="tick" x="{W - RIGHT - 136}" y="{y + 1}">{escape(name)}</text>'
        )
    return [*out, "</g>"]


def line_chart(
    title: str,
    series: Mapping[str, Sequence[Point]],
    *,
    xlabel: str = "epoch",
    ylabel: str = "",
    markers: bool = True,
) -> str:
    """One line per series; points are (x, y)."""
    points = [p for s in series.values() for p in s if math.isfinite(p[1])]
    frame = _Frame([p[0] for p in points], [p[1] for p in points])
    body = frame.axes(xlabel, ylabel)
    colors = [PALETTE[i % len(PALETTE)] for i in range(len(series))]
    for (name, pts), color in zip(series.items(), colors, strict=True):
        finite = [p for p in pts if math.isfinite(p[1])]
        if not finite:
            continue
        path = " ".join(f"{frame.px(x):.1f},{frame.py(y):.1f}" for x, y in finite)
        body.append(
            f'<polyline class="line" points="{path}" stroke="{color}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        if markers:
            for x, y in finite:
                body.append(
                    f'<circle cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="2.5" '
                    f'fill="{color}"><title>{escape(name)} {_fmt(x)}: {_fmt(y)}</title></circle>'
                )
    if series:  # even one line says what it is (train or val)
        body += _legend(list(series), colors)
    return _svg(title, body)


def scatter(
    title: str,
    points: Sequence[Point],
    *,
    xlabel: str,
    ylabel: str,
    labels: Sequence[str] | None = None,
    highlight: Sequence[bool] | None = None,
    diagonal: bool = False,
    step_line: Sequence[Point] | None = None,
) -> str:
    """Points, optionally with the y = x line or a best-so-far step line."""
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    if diagonal:
        lo, hi = min([*xs, *ys], default=0.0), max([*xs, *ys], default=1.0)
        xs, ys = [*xs, lo, hi], [*ys, lo, hi]
    frame = _Frame(xs, ys)
    body = frame.axes(xlabel, ylabel)
    if diagonal and points:
        lo, hi = frame.x0, frame.x1
        body.append(
            f'<line class="ref" x1="{frame.px(lo):.1f}" y1="{frame.py(lo):.1f}" '
            f'x2="{frame.px(hi):.1f}" y2="{frame.py(hi):.1f}"/>'
        )
    if step_line:
        path = []
        for i, (x, y) in enumerate(step_line):
            if i:
                path.append(f"{frame.px(x):.1f},{frame.py(step_line[i - 1][1]):.1f}")
            path.append(f"{frame.px(x):.1f},{frame.py(y):.1f}")
        body.append(f'<polyline class="line" points="{" ".join(path)}" stroke="{PALETTE[3]}"/>')
    for i, (x, y) in enumerate(points):
        if not (math.isfinite(x) and math.isfinite(y)):
            continue
        hot = bool(highlight and highlight[i])
        color = PALETTE[3] if hot else PALETTE[0]
        text = labels[i] if labels else f"{_fmt(x)}, {_fmt(y)}"
        body.append(
            f'<circle cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="{4 if hot else 3}" '
            f'fill="{color}" fill-opacity="0.75"><title>{escape(text)}</title></circle>'
        )
    return _svg(title, body)


def bar_chart(title: str, bars: Mapping[str, float], *, xlabel: str = "") -> str:
    """Horizontal bars, largest first."""
    items = sorted(bars.items(), key=lambda kv: -kv[1])
    row, left = 22, 200
    height = TOP + 20 + row * max(len(items), 1) + 24
    top = max((v for _, v in items), default=1.0) or 1.0
    body = []
    for i, (name, value) in enumerate(items):
        y = TOP + 10 + i * row
        width = max(0.0, value / top) * (W - left - 70)
        body.append(
            f'<text class="tick" x="{left - 6}" y="{y + 13}" text-anchor="end">'
            f"{escape(name[-34:])}</text>"
            f'<rect class="bar" x="{left}" y="{y}" width="{width:.1f}" height="{row - 6}">'
            f"<title>{escape(name)}: {_fmt(value)}</title></rect>"
            f'<text class="tick" x="{left + width + 4:.1f}" y="{y + 13}">{_fmt(value)}</text>'
        )
    if xlabel:
        body.append(
            f'<text class="label" x="{(left + W) / 2}" y="{height - 6}" '
            f'text-anchor="middle">{escape(xlabel)}</text>'
        )
    return _svg(title, body, height=height)


def heatmap(
    title: str,
    matrix: Sequence[Sequence[float]],
    labels: Sequence[str],
    *,
    xlabel: str,
    ylabel: str,
) -> str:
    """A confusion matrix: each cell's count and its share of the row (the true class), shaded
    by that share, so a rare class reads as clearly as a common one. The text is white or
    black, whichever contrasts more with the cell's colour."""
    n = len(matrix)
    cell = max(14, min(56, 480 // max(n, 1)))
    left, top = 96, 40
    size = left + cell * n + 20
    height = top + cell * n + 66
    body = []
    for i, row in enumerate(matrix):
        total = sum(row)
        for j, value in enumerate(row):
            share = value / total if total else 0.0
            fill = _blend(_BLUE, 0.06 + 0.94 * share)
            x, y = left + j * cell, top + i * cell
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{_hex(fill)}" '
                f'class="cell"><title>true {escape(labels[i])}, predicted '
                f"{escape(labels[j])}: {value:g} ({100 * share:.1f}% of true "
                f"{escape(labels[i])})</title></rect>"
            )
            body += _cell_text(x, y, cell, value, share, _text_on(fill))
    for k, name in enumerate(labels):
        body.append(
            f'<text class="tick" x="{left - 6}" y="{top + k * cell + cell / 2 + 4}" '
            f'text-anchor="end">{escape(name[:14])}</text>'
            f'<text class="tick" x="{left + k * cell + cell / 2}" y="{top + n * cell + 14}" '
            f'text-anchor="middle">{escape(name[:6])}</text>'
        )
    body.append(
        f'<text class="label" x="{left + n * cell / 2}" y="{top + n * cell + 32}" '
        f'text-anchor="middle">{escape(xlabel)}</text>'
        f'<text class="label" transform="translate(14 {top + n * cell / 2}) rotate(-90)" '
        f'text-anchor="middle">{escape(ylabel)}</text>'
        f'<text class="tick" x="{left}" y="{height - 10}">cells: count and % of the true '
        "class (row); shade by that %</text>"
    )
    return _svg(title, body, width=max(size, 320), height=height)


_BLUE = (31, 119, 180)
# Black, not a dark grey: whichever of white and black contrasts more with a colour reaches
# at least 4.58:1 (WCAG AA asks 4.5:1) on every colour; a grey would fall short mid-range.
_DARK = (0, 0, 0)
_WHITE = (255, 255, 255)
RGB = tuple[int, int, int]


def _blend(color: RGB, alpha: float) -> RGB:
    """``color`` at ``alpha`` over white, as an opaque colour (its contrast is then known)."""
    r, g, b = (round(255 + (c - 255) * alpha) for c in color)
    return r, g, b


def _hex(color: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def luminance(color: RGB) -> float:
    """Relative luminance (WCAG 2)."""
    lin = [(c / 255) / 12.92 if c <= 10 else (((c / 255) + 0.055) / 1.055) ** 2.4 for c in color]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio of two colours: 1 (none) to 21 (black on white)."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _text_on(fill: RGB) -> RGB:
    return _WHITE if contrast(_WHITE, fill) > contrast(_DARK, fill) else _DARK


def _cell_text(x: int, y: int, cell: int, value: float, share: float, color: RGB) -> list[str]:
    """The count, and below it the row share where the cell has room for two lines."""
    if cell < 20:
        return []  # the cell's title still has both
    pct = "0%" if share == 0 else ("<1%" if share < 0.01 else f"{100 * share:.0f}%")
    mid = x + cell / 2
    if cell < 32:
        return [
            f'<text class="count" x="{mid}" y="{y + cell / 2 + 4}" text-anchor="middle" '
            f'font-size="10" fill="{_hex(color)}">{value:g}</text>'
        ]
    return [
        f'<text class="count" x="{mid}" y="{y + cell / 2 - 1}" text-anchor="middle" '
        f'font-size="12" font-weight="600" fill="{_hex(color)}">{value:g}</text>',
        f'<text class="share" x="{mid}" y="{y + cell / 2 + 12}" text-anchor="middle" '
        f'font-size="10" fill="{_hex(color)}">{pct}</text>',
    ]


def parallel_coordinates(
    title: str,
    axes: Sequence[str],
    rows: Sequence[Sequence[float | str]],
    *,
    color_by: Sequence[float],
    labels: Sequence[str],
    log_axes: Sequence[bool] = (),
) -> str:
    """One vertical axis per parameter (and the objective last), one line per trial.

    Numeric axes span their values, on a log scale where ``log_axes`` says so (parameters
    sampled on one); text values (categories) are spread evenly. Lines are coloured by
    ``color_by`` (the objective): the better, the darker.
    """
    width = max(W, 140 * len(axes))
    top, bottom = TOP + 18, H - 36
    xs = [LEFT + i * (width - LEFT - 60) / max(len(axes) - 1, 1) for i in range(len(axes))]
    logs = [i < len(log_axes) and log_axes[i] for i in range(len(axes))]
    scales = [_axis_scale([r[i] for r in rows], log=logs[i]) for i in range(len(axes))]
    lo, hi = _span(list(color_by))
    body = []
    for i, name in enumerate(axes):
        body.append(
            f'<line class="axis" x1="{xs[i]:.1f}" y1="{top}" x2="{xs[i]:.1f}" y2="{bottom}"/>'
            f'<text class="tick" x="{xs[i]:.1f}" y="{bottom + 16}" text-anchor="middle">'
            f"{escape(name[-22:])}{' (log)' if scales[i][0].log else ''}</text>"
        )
        for text, frac in scales[i][1]:
            y = bottom - frac * (bottom - top)
            body.append(
                f'<text class="tick" x="{xs[i] + 4:.1f}" y="{y + 3:.1f}">{escape(text)}</text>'
            )
    for row, value, label in zip(rows, color_by, labels, strict=True):
        pts = []
        for i, v in enumerate(row):
            frac = scales[i][0](v)
            pts.append(f"{xs[i]:.1f},{bottom - frac * (bottom - top):.1f}")
        shade = (value - lo) / (hi - lo) if hi > lo else 0.5
        body.append(
            f'<polyline class="pc" points="{" ".join(pts)}" '
            f'stroke="rgba(31,119,180,{0.15 + 0.8 * shade:.3f})"><title>{escape(label)}</title>'
            "</polyline>"
        )
    return _svg(title, body, width=int(width))


def _axis_scale(
    values: Sequence[float | str], *, log: bool = False
) -> tuple[_Scale, list[tuple[str, float]]]:
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        nums = [float(v) for v in values]
        if log and all(v > 0 for v in nums):
            lo, hi = _span([math.log10(v) for v in nums])
            ticks = [(_fmt(10**t), (t - lo) / (hi - lo)) for t in _log_ticks(lo, hi)]
            return _Scale(lo=lo, hi=hi, log=True), ticks
        lo, hi = _span(nums)
        ticks = [(_fmt(t), (t - lo) / (hi - lo)) for t in nice_ticks(lo, hi, 4)]
        return _Scale(lo=lo, hi=hi), ticks
    cats = sorted({str(v) for v in values})
    spread = {c: (k + 0.5) / len(cats) for k, c in enumerate(cats)}
    return _Scale(cats=spread), [(c[:12], f) for c, f in spread.items()]


def _log_ticks(lo: float, hi: float) -> list[float]:
    """log10 of round values in [10**lo, 10**hi]: powers of ten, or 1-2-5 steps within a
    decade or two."""
    decades = range(math.floor(lo), math.ceil(hi) + 1)
    for mantissas in ((1.0,), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0, 7.0)):
        ticks = [d + math.log10(m) for d in decades for m in mantissas]
        ticks = [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]
        if len(ticks) >= 3:
            return ticks
    return ticks


class _Scale:
    def __init__(
        self,
        *,
        lo: float = 0.0,
        hi: float = 1.0,
        cats: Mapping[str, float] | None = None,
        log: bool = False,
    ) -> None:
        self.lo, self.hi, self.cats, self.log = lo, hi, cats, log

    def __call__(self, value: float | str) -> float:
        if self.cats is not None:
            return self.cats.get(str(value), 0.5)
        v = math.log10(float(value)) if self.log else float(value)
        return (v - self.lo) / (self.hi - self.lo)
