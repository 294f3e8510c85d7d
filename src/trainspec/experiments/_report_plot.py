"""Report plots drawn with matplotlib and written as inline SVG text.

matplotlib is imported on the first plot only (``trainspec validate`` and training never load
it). Every figure is drawn under one style (``_RC``) with text kept as text
(``svg.fonttype: none``: small, selectable, searchable) and a fixed ``svg.hashsalt``, so the same
run gives the same SVG. Artists given a ``gid`` come out as ``<g id="gid">``; ``tips`` maps such
ids to a ``<title>``, which a browser shows on hover.
"""

from __future__ import annotations

import io
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "confusion_figure",
    "contrast",
    "line_chart",
    "load_matplotlib",
    "render_report_plot",
    "scatter",
    "style",
]

Point = tuple[float, float]
RGB = tuple[float, float, float]
Tips = dict[str, str]

_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    # Measured with the DejaVu Sans that matplotlib ships; the browser falls back to its sans.
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.grid": True,
    "grid.color": "#e6e6e6",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8,
    "legend.framealpha": 0.85,
}


def _config_dir() -> None:
    """Point matplotlib at a stable writable folder where its default one is not writable.

    matplotlib caches its font list there; without a writable folder (a CI user without a
    home, a read-only one) it makes a new temporary folder, and rebuilds the cache, on every
    run. ``MPLCONFIGDIR``, when set, is left alone.
    """
    if os.environ.get("MPLCONFIGDIR"):
        return
    try:
        default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "matplotlib"
        default.mkdir(parents=True, exist_ok=True)
        if os.access(default, os.W_OK):
            return
    except (OSError, RuntimeError):  # no home folder, a read-only one
        pass
    uid = os.getuid() if hasattr(os, "getuid") else None
    fallback = Path(tempfile.gettempdir()) / f"trainspec-matplotlib-{uid or 0}"
    try:
        fallback.mkdir(mode=0o700, exist_ok=True)
        info = fallback.lstat()
    except OSError:
        return  # matplotlib then makes its own temporary folder
    # Only a folder of ours that nobody else can write: matplotlib reads its settings there.
    if uid is None or (info.st_uid == uid and not info.st_mode & 0o022 and fallback.is_dir()):
        os.environ["MPLCONFIGDIR"] = str(fallback)


def load_matplotlib() -> Any:
    """matplotlib, on the Agg backend unless pyplot is already in use (a notebook, say)."""
    if "matplotlib" not in sys.modules:
        _config_dir()
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # no display; left as it is where pyplot is already in use
    return matplotlib


@contextmanager
def style(salt: str) -> Iterator[None]:
    """The report's style for figures made inside; ``salt`` keeps SVG ids apart between plots
    on one page (and the same from one run to the next)."""
    mpl = load_matplotlib()
    with mpl.rc_context({**_RC, "svg.hashsalt": f"trainspec:{salt}"}):
        yield


def to_svg(
    fig: Figure, title: str, tips: Mapping[str, str] | None = None, *, tight: bool = False
) -> str:
    """``fig`` as an ``<svg class="plot">`` element to put in a page; ``tight`` grows or
    crops the canvas to what was drawn (for figures laid out elsewhere)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight" if tight else None)
    text = buf.getvalue()
    text = text[text.index("<svg") :]  # no XML prolog or DOCTYPE inside HTML
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, count=1, flags=re.S)
    text = text.replace("<svg ", f'<svg class="plot" role="img" aria-label="{escape(title)}" ', 1)
    if tips:
        text = re.sub(
            r'<g id="([^"]+)">',
            lambda m: (
                m.group(0)
                + (f"<title>{escape(tips[m.group(1)])}</title>" if m.group(1) in tips else "")
            ),
            text,
        )
    return text


def render_report_plot(
    title: str, build: Callable[[], tuple[Figure, Tips]], *, tight: bool = False
) -> str:
    """Run ``build`` in the report's style and return its figure as SVG text."""
    with style(title):
        fig, tips = build()
        try:
            return to_svg(fig, title, tips, tight=tight)
        finally:
            if "matplotlib.pyplot" in sys.modules:
                sys.modules["matplotlib.pyplot"].close(fig)


def _figure(width: float = 6.0, height: float = 3.4, *, fit: bool = False) -> Figure:
    """A figure; ``fit`` lays it out around its labels (constrained layout, about twice the
    drawing time), else fixed margins that hold axis labels of about eight characters."""
    from matplotlib.figure import Figure

    if fit:
        return Figure(figsize=(width, height), layout="constrained")
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.72 / width, right=0.97, bottom=0.5 / height, top=0.9)
    return fig


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "plot"


def line_chart(
    title: str, series: Mapping[str, Sequence[Point]], *, xlabel: str = "epoch", ylabel: str = ""
) -> str:
    """One line per series, each named in the legend (even a single one: train or val)."""

    def build() -> tuple[Figure, Tips]:
        from matplotlib.ticker import MaxNLocator

        fig = _figure()
        ax = fig.subplots()
        tips = {}
        for i, (name, points) in enumerate(series.items()):
            gid = f"{_slug(title)}-curve-{i}"
            xs, ys = zip(*points, strict=True) if points else ((), ())
            ax.plot(xs, ys, marker="o", markersize=3, linewidth=1.6, label=name, gid=gid)
            tips[gid] = name
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if series:
            ax.legend(loc="best")
        return fig, tips

    return render_report_plot(title, build)


def scatter(
    title: str, points: Sequence[Point], *, xlabel: str, ylabel: str, reference: str = ""
) -> str:
    """Points, with the ``y = x`` line (``reference="diagonal"``) or ``y = 0`` (``"zero"``)."""

    def build() -> tuple[Figure, Tips]:
        fig = _figure(5.0, 4.0)
        ax = fig.subplots()
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        ax.scatter(xs, ys, s=10, alpha=0.6, color="#1f77b4", linewidths=0)
        if reference == "diagonal" and points:
            lo, hi = min(*xs, *ys), max(*xs, *ys)
            ax.plot([lo, hi], [lo, hi], linestyle="--", color="#777777", linewidth=1)
        elif reference == "zero":
            ax.axhline(0.0, linestyle="--", color="#777777", linewidth=1)
        ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
        return fig, {}

    return render_report_plot(title, build)


def luminance(color: RGB) -> float:
    """Relative luminance (WCAG 2) of an RGB colour with channels in [0, 1]."""
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in color]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: RGB, b: RGB) -> float:
    """WCAG contrast ratio of two colours: 1 (none) to 21 (black on white)."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


# Black, not a dark grey: whichever of white and black contrasts more with a colour reaches
# at least 4.58:1 (WCAG AA asks 4.5:1) on every colour; a grey would fall short mid-range.
_BLACK, _WHITE = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
# More classes than this: the confusion matrix is one image, without text or titles per cell.
_MAX_CLASSES = 40


def text_on(fill: RGB) -> RGB:
    return _WHITE if contrast(_WHITE, fill) > contrast(_BLACK, fill) else _BLACK


def _share_text(share: float) -> str:
    return "0%" if share == 0 else ("<1%" if share < 0.01 else f"{100 * share:.0f}%")


def confusion_figure(
    title: str, matrix: Sequence[Sequence[int]], labels: Sequence[str]
) -> tuple[Figure, Tips]:
    """A confusion matrix: each cell's count and its share of the row (the true class), shaded
    by that share, so a rare class reads as clearly as a common one; text in black or white,
    whichever contrasts more with the cell. Cells are ``cell-i-j``, counts ``count-i-j`` and
    shares ``share-i-j`` (true class i, predicted j). Past ``_MAX_CLASSES`` classes the matrix
    is one image of the shares (thousands of titled cells would make a slow, large page)."""
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    n = len(matrix)
    cell = min(0.6, max(0.2, 5.5 / max(n, 1)))  # inches
    fig = _figure(cell * n + 2.4, cell * n + 1.6, fit=True)
    ax = fig.subplots()
    cmap = colormaps["Blues"]
    shares = [[v / sum(row) if sum(row) else 0.0 for v in row] for row in matrix]
    if n > _MAX_CLASSES:
        ax.imshow(shares, cmap=cmap, vmin=0, vmax=1, extent=(0, n, n, 0), interpolation="none")
        tips: Tips = {}
    else:
        tips = _cells(ax, matrix, shares, labels, cell * 72)
    step = max(1, n // 30)
    ticks = [k + 0.5 for k in range(0, n, step)]
    ax.set(xlim=(0, n), ylim=(n, 0), title=title, xlabel="predicted", ylabel="true")
    ax.set_xticks(ticks, [x[:8] for x in labels[::step]], rotation=90 if n > 6 else 0)
    ax.set_yticks(ticks, [x[:14] for x in labels[::step]])
    ax.grid(False)
    ax.set_aspect("equal")
    bar = fig.colorbar(ScalarMappable(Normalize(0, 100), cmap), ax=ax, shrink=0.8)
    bar.set_label("% of the true class (row)")
    return fig, tips


def _cells(
    ax: Any,
    matrix: Sequence[Sequence[int]],
    shares: Sequence[Sequence[float]],
    labels: Sequence[str],
    points: float,
) -> Tips:
    """Draw a titled square per cell with its count (and share where two lines fit)."""
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    tips = {}
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            share = shares[i][j]
            fill = colormaps["Blues"](share)[:3]
            gid = f"cell-{i}-{j}"
            ax.add_patch(Rectangle((j, i), 1, 1, facecolor=fill, edgecolor="white", gid=gid))
            tips[gid] = (
                f"true {labels[i]}, predicted {labels[j]}: {value:g} "
                f"({100 * share:.1f}% of true {labels[i]})"
            )
            text: dict[str, Any] = {"ha": "center", "va": "center", "color": text_on(fill)}
            if points >= 30:  # two lines fit: the count and the row share
                ax.text(
                    j + 0.5,
                    i + 0.42,
                    f"{value:g}",
                    fontsize=min(10, points / 3),
                    fontweight="bold",
                    gid=f"count-{i}-{j}",
                    **text,
                )
                ax.text(
                    j + 0.5,
                    i + 0.75,
                    _share_text(share),
                    fontsize=min(8, points / 4),
                    gid=f"share-{i}-{j}",
                    **text,
                )
            elif points >= 18:  # the count alone; smaller cells keep it in their title
                ax.text(
                    j + 0.5,
                    i + 0.5,
                    f"{value:g}",
                    fontsize=points / 2.6,
                    gid=f"count-{i}-{j}",
                    **text,
                )
    return tips
