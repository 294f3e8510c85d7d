"""The base of every spec section: unknown keys are errors."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["OpenSection", "Section"]


class Section(BaseModel):
    """A spec section. Unknown keys are rejected, so a misspelling never passes silently."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)


class OpenSection(Section):
    """A section whose extra keys are parameters of a class named in it (an optimiser, a loss).

    Those parameters are checked against the class's signature when the class is built, since
    the spec layer never imports torch.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_default=True)
