"""HTML pages of reports from the jinja2 templates shipped in ``trainspec/templates``.

Autoescaping is on: every value is escaped unless it is ``Markup`` (the SVG plots, which
matplotlib escapes itself). jinja2 is imported on the first page only.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2

__all__ = ["fmt", "render_report_page"]


def fmt(value: Any) -> str:
    """A table cell: floats to 5 significant digits, lists and mappings as JSON."""
    if isinstance(value, float):
        return f"{value:.5g}" if math.isfinite(value) else str(value)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return "" if value is None else str(value)


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("trainspec", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = fmt
    return env


def render_report_page(template: str, *, plots: Any = (), **context: Any) -> str:
    """Render ``template`` (a file in ``trainspec/templates``) with ``context``; ``plots`` are
    SVG texts, marked safe, in ``context["plots"]`` as given (a list or a mapping of lists)."""
    from markupsafe import Markup

    def safe(item: Any) -> Any:
        if isinstance(item, str):
            return Markup(item)  # SVG that this package drew; matplotlib escapes its text
        if isinstance(item, dict):
            return {k: safe(v) for k, v in item.items()}
        return [safe(v) for v in item]

    made = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = _environment().get_template(template).render(made=made, plots=safe(plots), **context)
    return page.rstrip("\n") + "\n"
