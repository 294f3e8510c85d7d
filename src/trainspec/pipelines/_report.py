"""``trainspec report`` on a pipeline run: one self-contained HTML page (opens offline) with
the step graph as inline SVG, each step's state, duration and command, the evaluations, and a
link to the report of every run a step wrote (written beside the page)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from trainspec.pipelines._state import PIPELINE_FILE, RunRecord, evaluations

__all__ = ["write_pipeline_report"]

_COLORS = {
    "finished": "#2e7d32",
    "cached": "#1565c0",
    "failed": "#c62828",
    "interrupted": "#ef6c00",
    "blocked": "#757575",
    "running": "#6a1b9a",
    "pending": "#9e9e9e",
}
_W, _H, _GAP_X, _GAP_Y = 170, 40, 40, 50


def _depths(names: list[str], edges: list[list[str]]) -> dict[str, int]:
    depth = dict.fromkeys(names, 0)
    for _ in names:  # longest path from a source; steps are few
        for up, down in edges:
            depth[down] = max(depth[down], depth[up] + 1)
    return depth


def _svg(names: list[str], edges: list[list[str]], steps: dict[str, Any]) -> str:
    depth = _depths(names, edges)
    rows: dict[int, list[str]] = {}
    for name in names:
        rows.setdefault(depth[name], []).append(name)
    at = {n: (i * (_W + _GAP_X) + 10, d * (_H + _GAP_Y) + 10)
          for d, row in rows.items() for i, n in enumerate(row)}  # fmt: skip
    width = max(x for x, _ in at.values()) + _W + 20
    height = max(y for _, y in at.values()) + _H + 20
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">']
    for up, down in edges:
        (x1, y1), (x2, y2) = at[up], at[down]
        parts.append(
            f'<line x1="{x1 + _W / 2}" y1="{y1 + _H}" x2="{x2 + _W / 2}" y2="{y2}" '
            'stroke="#555" marker-end="url(#arrow)"/>'
        )
    parts.insert(
        1,
        '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" '
        'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>',
    )
    for name, (x, y) in at.items():
        state = steps.get(name, {}).get("state", "pending")
        parts.append(
            f'<rect x="{x}" y="{y}" width="{_W}" height="{_H}" rx="6" fill="white" '
            f'stroke="{_COLORS.get(state, "#000")}" stroke-width="2"/>'
            f'<text x="{x + _W / 2}" y="{y + 17}" text-anchor="middle" font-size="13">'
            f"{html.escape(name)}</text>"
            f'<text x="{x + _W / 2}" y="{y + 32}" text-anchor="middle" font-size="11" '
            f'fill="{_COLORS.get(state, "#000")}">{state}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _run_reports(steps: dict[str, Any], out: Path) -> dict[str, str]:
    """Write the report of every train step's run beside the page; step -> file name."""
    from trainspec.experiments import write_report

    links = {}
    for name, step in steps.items():
        folder = step.get("dir")
        if step.get("state") not in ("finished", "cached") or not folder:
            continue
        if not (Path(folder) / "config.yaml").is_file():
            continue
        target = out.with_name(f"{out.stem}-{name}.html")
        write_report(folder, target)
        links[name] = target.name
    return links


def _table(steps: dict[str, Any], links: dict[str, str]) -> str:
    rows = ["<tr><th>step</th><th>state</th><th>seconds</th><th>folder</th><th>command</th></tr>"]
    for name, s in steps.items():
        link = f' (<a href="{links[name]}">report</a>)' if name in links else ""
        rows.append(
            f"<tr><td>{html.escape(name)}{link}</td><td>{s.get('state')}</td>"
            f"<td>{s.get('seconds') if s.get('seconds') is not None else ''}</td>"
            f"<td>{html.escape(str(s.get('dir') or ''))}</td>"
            f"<td><code>{html.escape(str(s.get('command') or ''))}</code></td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>"


def _evaluations(record: dict[str, Any]) -> str:
    found = evaluations(record)
    if not found:
        return ""
    names = list(dict.fromkeys(m for e in found for m in e["metrics"]))
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = [f"<tr><th>step</th><th>split</th><th>n</th>{head}<th>command</th></tr>"]
    for e in found:
        values = "".join(f"<td>{e['metrics'].get(n, float('nan')):.4f}</td>" for n in names)
        rows.append(
            f"<tr><td>{html.escape(e['step'])}</td><td>{e['split']}</td><td>{e['n']}</td>"
            f"{values}<td><code>{html.escape(e['command'])}</code></td></tr>"
        )
    return "<h2>Evaluations</h2><table>" + "".join(rows) + "</table>"


def write_pipeline_report(run_dir: str | Path, out: str | Path) -> Path:
    """Write the HTML report of the pipeline run in ``run_dir`` to ``out``."""
    record = RunRecord.open(Path(run_dir)).data
    out = Path(out)
    steps: dict[str, Any] = record.get("steps") or {}
    links = _run_reports(steps, out)
    title = f"trainspec pipeline report: {record.get('name')}"
    body = (
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{html.escape(str(Path(run_dir) / PIPELINE_FILE))} · state {record.get('state')} · "
        f"started {record.get('started')} · ended {record.get('ended')}</p>"
        + _svg(list(steps), record.get("edges") or [], steps)
        + "<h2>Steps</h2>"
        + _table(steps, links)
        + _evaluations(record)
    )
    style = (
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}"
    )
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{body}</body></html>\n"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
