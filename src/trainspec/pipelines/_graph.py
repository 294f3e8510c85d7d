"""A pipeline as text: one row per step with its command, and a Mermaid flowchart."""

from __future__ import annotations

from typing import Any

from trainspec.pipelines._steps import build_step, step_folder_name
from trainspec.spec import LoadedPipeline

__all__ = ["describe", "mermaid", "symbolic_command"]


def _symbolic(step: str, output: str) -> str:
    return f"${{steps.{step}.{output}}}"


def symbolic_command(pipeline: LoadedPipeline, name: str) -> str:
    """The step's command line, with folders shown as ``RUN/<step>`` and references kept."""
    folder = f"RUN/{step_folder_name(name)}"
    return build_step(pipeline, name, folder, _symbolic).line


def describe(pipeline: LoadedPipeline) -> list[dict[str, Any]]:
    """Steps in run order: name, kind, the steps it needs, its command line."""
    return [
        {
            "name": name,
            "kind": pipeline.spec.steps[name].kind,
            "needs": list(pipeline.needs[name]),
            "command": symbolic_command(pipeline, name),
        }
        for name in pipeline.order
    ]


def mermaid(pipeline: LoadedPipeline) -> str:
    """A Mermaid ``flowchart`` of the steps (paste into Markdown that renders Mermaid)."""
    lines = ["flowchart TD"]
    ids = {name: f"s{i}" for i, name in enumerate(pipeline.order)}
    for name in pipeline.order:
        lines.append(f'    {ids[name]}["{name} ({pipeline.spec.steps[name].kind})"]')
    for up, down in pipeline.edges():
        lines.append(f"    {ids[up]} --> {ids[down]}")
    return "\n".join(lines)
