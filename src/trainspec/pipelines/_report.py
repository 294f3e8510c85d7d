"""``trainspec report`` on a pipeline run: one self-contained HTML page (opens offline) with
the step graph (drawn with matplotlib, inline SVG, coloured by state), each step's state,
duration and command, the evaluations, and a link to the report of every run a step wrote
(written beside the page)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainspec.experiments import render_report_page, render_report_plot
from trainspec.files import RunDir
from trainspec.pipelines._state import PIPELINE_FILE, RunRecord, evaluations

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["write_pipeline_report"]

# Each at least 4.5:1 against white (WCAG AA for text): the state is written in its colour.
_COLORS = {
    "finished": "#2e7d32",
    "cached": "#1565c0",
    "failed": "#c62828",
    "interrupted": "#b45309",
    "blocked": "#616161",
    "running": "#6a1b9a",
    "pending": "#616161",
}
_W, _H = 2.0, 0.6  # a step's box, in inches (one data unit is one inch)


def _depths(names: list[str], edges: list[list[str]]) -> dict[str, int]:
    depth = dict.fromkeys(names, 0)
    for _ in names:  # longest path from a source; steps are few
        for up, down in edges:
            depth[down] = max(depth[down], depth[up] + 1)
    return depth


def _graph(names: list[str], edges: list[list[str]], steps: dict[str, Any]) -> str:
    """Steps top to bottom by depth, an arrow per edge. Boxes are ``step-NAME`` and arrows
    ``edge-UP-DOWN`` in the SVG, each with a title."""

    def build() -> tuple[Figure, dict[str, str]]:
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

        depth = _depths(names, edges)
        rows: dict[int, list[str]] = {}
        for name in names:
            rows.setdefault(depth[name], []).append(name)
        at = {
            n: (i * (_W + 0.4), -d * (_H + 0.6))
            for d, row in rows.items()
            for i, n in enumerate(row)
        }
        cols, height = max(len(r) for r in rows.values()), len(rows)
        fig = Figure(figsize=(cols * (_W + 0.4) + 0.2, (height - 1) * (_H + 0.6) + _H + 0.2))
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set(xlim=(-0.1, cols * (_W + 0.4) + 0.1), ylim=(-(height - 1) * 1.2 - _H - 0.1, 0.1))
        ax.axis("off")
        tips = {}
        for up, down in edges:
            (x1, y1), (x2, y2) = at[up], at[down]
            gid = f"edge-{up}-{down}"
            arrow = FancyArrowPatch(
                (x1 + _W / 2, y1 - _H),
                (x2 + _W / 2, y2),
                arrowstyle="-|>",
                mutation_scale=12,
                color="#555555",
            )
            ax.add_patch(arrow).set_gid(gid)
            tips[gid] = f"{up} → {down}"
        for name, (x, y) in at.items():
            step = steps.get(name, {})
            state = step.get("state", "pending")
            color = _COLORS.get(state, "#000000")
            box = FancyBboxPatch(
                (x, y - _H),
                _W,
                _H,
                boxstyle="round,pad=0,rounding_size=0.08",
                facecolor="white",
                edgecolor=color,
                linewidth=2,
            )
            ax.add_patch(box).set_gid(f"step-{name}")
            ax.text(x + _W / 2, y - 0.2, name, ha="center", va="center", fontsize=10)
            ax.text(x + _W / 2, y - 0.44, state, ha="center", va="center", fontsize=8, color=color)
            seconds = step.get("seconds")
            tips[f"step-{name}"] = f"{name}: {state}" + (f", {seconds} s" if seconds else "")
        return fig, tips

    return render_report_plot("pipeline steps", build)


def _run_reports(steps: dict[str, Any], out: Path) -> dict[str, str]:
    """Write the report of every train step's run beside the page; step -> file name."""
    from trainspec.experiments import write_report

    links = {}
    for name, step in steps.items():
        folder = step.get("dir")
        if step.get("state") not in ("finished", "cached") or not folder:
            continue
        if not RunDir(Path(folder)).config.is_file():
            continue
        target = out.with_name(f"{out.stem}-{name}.html")
        write_report(folder, target)
        links[name] = target.name
    return links


def write_pipeline_report(run_dir: str | Path, out: str | Path) -> Path:
    """Write the HTML report of the pipeline run in ``run_dir`` to ``out``."""
    record = RunRecord.open(Path(run_dir)).data
    out = Path(out)
    steps: dict[str, Any] = record.get("steps") or {}
    found = evaluations(record)
    page = render_report_page(
        "pipeline.html.j2",
        title=f"trainspec pipeline report: {record.get('name')}",
        subtitle=f"{Path(run_dir) / PIPELINE_FILE} · state {record.get('state')} · "
        f"started {record.get('started')} · ended {record.get('ended')}",
        plots=[_graph(list(steps), record.get("edges") or [], steps)] if steps else [],
        steps=steps,
        links=_run_reports(steps, out),
        evaluations=found,
        metrics=list(dict.fromkeys(m for e in found for m in e["metrics"])),
        nan=float("nan"),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
