"""The sweep tests need ``sweep:`` in the job schema (``ensure_sweep_field``)."""

from __future__ import annotations

from tests.unit.experiments.sweep_support import ensure_sweep_field

ensure_sweep_field()
