"""``load_spec``: files and mappings in, one validated, hashed spec out.

The steps, in order:

1. Read each source: a ``.yaml``/``.yml``/``.json`` file (strictly: see ``_yaml``/``_json``)
   or a mapping from Python. ``${here}`` becomes the file's folder.
2. Compose each: ``extends`` and file references (``model: net.yaml``, ``params: p.json``),
   relative to the declaring file (see ``_compose``).
3. Merge the sources left to right (mappings merge, anything else is replaced).
4. Apply the overrides (``key.path=value``, ``~key.path``); file names they set are read
   relative to the working directory.
5. Interpolate ``${a.b}`` and ``${env:NAME}`` (see ``_interp``).
6. Validate: a mapping with ``data``, ``train`` or ``model`` is a job spec, anything else an
   architecture spec. Every problem is reported at once, with file, line and key path.
7. Hash the resolved data (``spec_hash``).

Relative paths inside a spec that are not spec files (data files, a split file) are left as
written and resolve against the working directory when opened; use ``${here}/...`` for a path
beside the spec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from trainspec.errors import Problem, SpecError
from trainspec.spec._compose import Composer, document_from_mapping, merge_documents
from trainspec.spec._hash import spec_hash
from trainspec.spec._interp import interpolate
from trainspec.spec._override import Override, apply_overrides, parse_overrides
from trainspec.spec._paths import KeyPath, Origin, lookup_origin, parse_path
from trainspec.spec._read import Document
from trainspec.spec._schema import JobSpec
from trainspec.spec._validate import validate_spec

__all__ = ["LoadedSpec", "load_spec", "spec_hash"]


@dataclass(frozen=True)
class LoadedSpec:
    """A resolved, validated spec.

    ``data`` is the plain resolved data (what ``trainspec show`` prints and the run stores),
    ``job`` the validated job spec (None for an architecture spec), ``arch`` the validated
    architecture (``job.model`` for a job spec), ``files`` every file read (as shown in
    messages: relative to the working directory when inside it), ``hash`` the spec hash.
    """

    data: dict[str, Any]
    job: JobSpec | None
    arch: BaseModel
    files: tuple[str, ...]
    hash: str
    origins: Mapping[KeyPath, Origin] = field(default_factory=dict, repr=False, compare=False)

    @property
    def kind(self) -> Literal["job", "arch"]:
        return "job" if self.job is not None else "arch"

    def location(self, path: str | Sequence[str | int]) -> Origin | None:
        """Where the key at ``path`` (``"train.epochs"`` or a tuple) was written: file, line
        and column, or an override label. Falls back to the nearest enclosing key."""
        key = parse_path(path) if isinstance(path, str) else tuple(path)
        return lookup_origin(self.origins, key)

    def origin(self, path: str | Sequence[str | int]) -> str | None:
        """The file (or ``override 'a.b=1'``) the key at ``path`` came from."""
        found = self.location(path)
        return found.source if found else None


def load_spec(
    *sources: str | Path | Mapping[str, Any],
    overrides: Sequence[str | Override] = (),
) -> LoadedSpec:
    """Load, compose, override, interpolate and validate a spec; see the module docstring.

    Raises ``SpecError`` (exit status 2 in the CLI) listing every problem found.
    """
    if not sources:
        raise SpecError.single("no spec given", hint="name at least one spec file")
    composer = Composer()
    doc = Document()
    for number, source in enumerate(sources, start=1):
        if isinstance(source, Mapping):
            part = document_from_mapping(source, f"<mapping argument {number}>")
            part = composer.compose(part, Path.cwd())
        else:
            part = composer.load_file(Path(source))
        doc = merge_documents(doc, part)
    if overrides:
        parsed = parse_overrides([o for o in overrides if isinstance(o, str)])
        ordered = iter(parsed)
        items = [o if isinstance(o, Override) else next(ordered) for o in overrides]
        doc.data = apply_overrides(doc.data, items, origins=doc.origins)
        composer.resolve_refs(doc, Path.cwd())
    data = interpolate(doc.data, doc.origins)
    try:
        job, arch = validate_spec(data, doc.origins)
    except SpecError as exc:
        raise SpecError(_in_file_order(exc.problems, composer.files)) from None
    return LoadedSpec(data, job, arch, tuple(composer.files), spec_hash(data), doc.origins)


def _in_file_order(problems: list[Problem], files: Sequence[str]) -> list[Problem]:
    """Problems file by file (in the order the files were read, overrides last), then by line."""
    rank = {name: i for i, name in enumerate(files)}

    def key(problem: Problem) -> tuple[int, int, int]:
        return (rank.get(problem.file or "", len(files)), problem.line or 0, problem.column or 0)

    return sorted(problems, key=key)
