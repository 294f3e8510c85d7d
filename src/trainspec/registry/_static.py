"""Static checks of a validated spec against the describe table: every component name and
its parameters, block references and cycles, import paths, the monitored metric and the
split. Nothing is imported or built (no torch); every problem is returned, not the first.

Each check mirrors what the builder of that kind does at run time (same names, same case
rules, same parameters filled in by the engine), so a spec that passes here is not refused
later for one of these reasons.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from trainspec.errors import Problem, RegistryError, closest
from trainspec.registry._describe import Described, check_component_params, describe
from trainspec.registry._imports import allowed_prefixes
from trainspec.registry._instantiate import (
    describe_entry,
    import_problem,
    name_problems,
    unknown_name,
)
from trainspec.spec import BLOCK_OPTIONS, GraphArch, ImportedModel, JobSpec, SequentialArch

__all__ = ["component_problems"]

Path = tuple[str | int, ...]
_KFOLD = ("kfold", "stratified_kfold", "group_kfold")


def component_problems(job: JobSpec | None, arch: Any) -> list[Problem]:
    """Every problem the describe table can find in a job spec (or a lone architecture)."""
    allow = list(job.allow_imports) if job is not None else []
    problems = _allow_list_problems(allow)
    allow = [a for a in allow if not _allow_list_problems([a])]  # the others are problems
    prefix: Path = ("model",) if job is not None else ()
    problems += _arch_problems(arch, prefix, job, allow)
    if job is not None:
        problems += _train_problems(job, allow)
        problems += _data_component_problems(job, allow)
        problems += _split_problems(job)
    return _unique(problems)


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def _allow_list_problems(allow: Sequence[str]) -> list[Problem]:
    problems = []
    for i, prefix in enumerate(allow):
        try:
            allowed_prefixes([prefix])
        except RegistryError as exc:
            problems.append(Problem(str(exc), ("allow_imports", i)))
    return problems


def _blocks(arch: Any, prefix: Path) -> Iterator[tuple[Path, Any]]:
    if isinstance(arch, SequentialArch):
        for i, raw in enumerate(arch.layers):
            yield (*prefix, "layers", i), raw
    elif isinstance(arch, GraphArch):
        for name, raw in arch.blocks.items():
            yield (*prefix, "blocks", name), raw


def _arch_problems(
    arch: Any, prefix: Path, job: JobSpec | None, allow: Sequence[str]
) -> list[Problem]:
    if isinstance(arch, ImportedModel):
        return describe_entry("model", {"target": arch.target}, prefix, allow=allow)[1]
    problems: list[Problem] = []
    defined = getattr(arch, "define", None) or {}
    for path, raw in _blocks(arch, prefix):
        problems += _block_problems(
            raw, path, allow, sequential=isinstance(arch, SequentialArch), defined=defined
        )
    if isinstance(arch, GraphArch):
        problems += _graph_problems(arch, prefix, _input_names(arch, job))
    return problems


def _block_problems(
    raw: Any, path: Path, allow: Sequence[str], *, sequential: bool, defined: Mapping[str, Any]
) -> list[Problem]:
    spec = {"type": raw} if isinstance(raw, str) else raw
    if not isinstance(spec, dict) or "type" not in spec:
        return [Problem("a block needs 'type' (e.g. {type: Linear, out_features: 10})", path)]
    type_name = spec["type"]
    type_path = (*path, "type") if isinstance(raw, dict) else path
    if not isinstance(type_name, str) or not type_name:
        return [
            Problem(f"'type' must be a block name such as 'Linear'; found {type_name!r}", type_path)
        ]
    if sequential and "in" in spec:
        return [
            Problem(
                "'in' has no place in a sequential list of layers (each takes the previous one)",
                (*path, "in"),
                hint="use blocks: for a graph",
            )
        ]
    if type_name in defined:  # a sub-graph of this spec: its parameters are its own
        sub = defined[type_name]
        block: Described | None = Described(
            "sub-graph",
            type_name,
            (*sub.required, *sub.params),
            frozenset(sub.required),
            any_keyword=False,
        )
    else:
        block, found = name_problems("block", type_name, type_path, allow=allow, extra=defined)
    if block is None:
        return found  # an unknown name; an import path is described when built
    params = {
        k: v
        for k, v in spec.items()
        if k != "type" and (k not in BLOCK_OPTIONS or k in block.params)
    }
    # Expressions over i and n (a repeated block) are numbers only once each copy is made.
    return check_component_params(block, params, path, typed="repeat" not in spec)


def _input_names(arch: GraphArch, job: JobSpec | None) -> list[str] | None:
    """The graph's input names, or None when only the data can tell (renaming transforms)."""
    if arch.inputs is not None:
        return list(arch.inputs)
    if job is None:
        return None
    if any(
        describe("transform", t.type) is None or t.type == "tokenize" for t in job.data.transforms
    ):
        return None
    return list(job.data.inputs) if job.data.inputs else ["x"]


def _graph_problems(arch: GraphArch, prefix: Path, inputs: list[str] | None) -> list[Problem]:
    blocks = list(arch.blocks)
    known = [*(inputs or []), *blocks]
    edges: dict[str, list[str]] = {}
    problems: list[Problem] = []
    previous = inputs[0] if inputs is not None and len(inputs) == 1 else None
    for name, raw in arch.blocks.items():
        refs = raw.get("in", previous) if isinstance(raw, dict) else previous
        previous = name
        listed = [refs] if isinstance(refs, str) else refs if isinstance(refs, list) else []
        edges[name] = [r for r in listed if isinstance(r, str)]
        for i, ref in enumerate(edges[name]):
            if ref in known or (inputs is None and ref not in blocks and ref != name):
                continue
            at = (*prefix, "blocks", name, "in") + ((i,) if isinstance(refs, list) else ())
            problems.append(unknown_name("input or block", ref, known, at, " in 'in'"))
    problems += _output_problems(arch, prefix, known, inputs is None)
    cycle = _cycle(edges)
    if cycle:
        problems.append(
            Problem(
                f"the blocks form a cycle: {' -> '.join(cycle)} (each takes 'in' from the next)",
                (*prefix, "blocks", cycle[0], "in"),
                hint="a graph must be acyclic; make one of these take its input elsewhere",
            )
        )
    return problems


def _output_problems(
    arch: GraphArch, prefix: Path, known: list[str], open_inputs: bool
) -> list[Problem]:
    outputs = arch.outputs
    if isinstance(outputs, str):
        items: list[tuple[Path, str]] = [((*prefix, "outputs"), outputs)]
    else:
        items = [((*prefix, "outputs", key), value) for key, value in (outputs or {}).items()]
    return [
        unknown_name("block", ref, known, path, " in 'outputs'")
        for path, ref in items
        if ref not in known and not open_inputs
    ]


def _cycle(edges: Mapping[str, list[str]]) -> list[str] | None:
    """One cycle among the blocks (as a closed path), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, ()):
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _train_problems(job: JobSpec, allow: Sequence[str]) -> list[Problem]:
    train = job.train
    optimizer = {"name": train.optimizer.name, "lr": train.optimizer.lr}
    problems = describe_entry(
        "optimizer",
        {**optimizer, **(train.optimizer.model_extra or {})},
        ("train", "optimizer"),
        allow=allow,
    )[1]
    if train.scheduler is not None:
        scheduler = {"name": train.scheduler.name, **(train.scheduler.model_extra or {})}
        problems += describe_entry("scheduler", scheduler, ("train", "scheduler"), allow=allow)[1]
    if train.loss.name != "auto":
        loss = {"name": train.loss.name, **(train.loss.model_extra or {})}
        problems += describe_entry("loss", loss, ("train", "loss"), allow=allow)[1]
    for i, metric in enumerate(train.metrics):
        problems += describe_entry("metric", metric, ("train", "metrics", i), allow=allow)[1]
    problems += _monitor_problems(job, list(train.metrics))
    return problems


def _has_validation(job: JobSpec) -> bool | None:
    split = job.data.split
    if split.method in _KFOLD:
        return True
    if split.method == "predefined":
        return None  # the split names are in the data or a file
    return "val" in split.ratios


def _monitor_problems(job: JobSpec, metrics: list[str]) -> list[Problem]:
    """The monitored key against what the engine logs (``train/loss``, ``val/<metric>``)."""
    arch = job.model
    if isinstance(arch, ImportedModel) and arch.target.startswith("sklearn."):
        return []
    has_val = _has_validation(job)
    monitor = job.train.monitor
    key = monitor.metric
    if has_val is None or (not has_val and "metric" not in monitor.model_fields_set):
        return []
    if not metrics:
        metrics = {
            "classification": ["accuracy"],
            "regression": ["rmse"],
            "auto": ["accuracy", "rmse"],
        }[job.task]
    computed = ["train/loss"]
    if has_val:
        computed += ["val/loss", *(f"val/{m}" for m in metrics)]
    if key in computed:
        return []
    near = closest(key, computed)
    why = " (there is no validation split)" if key.startswith("val/") and not has_val else ""
    return [
        Problem(
            f"monitored metric {key!r} is never computed{why}",
            ("train", "monitor", "metric"),
            hint=(f"did you mean {near!r}? " if near else "") + f"Computed: {', '.join(computed)}",
        )
    ]


def _data_component_problems(job: JobSpec, allow: Sequence[str]) -> list[Problem]:
    problems = _dataset_problems(job.data.source, allow)
    order = {"signal": 0, "fit": 1, "augment": 2}
    last: tuple[int, str] | None = None
    for i, spec in enumerate(job.data.transforms):
        path: Path = ("data", "transforms", i)
        entry = {"type": spec.type, **(spec.model_extra or {})}
        transform, found = describe_entry("transform", entry, path, allow=allow)
        problems += found
        if transform is None:
            continue
        stage = str(transform.info.get("stage", "fit"))
        if last is not None and order[stage] < order[last[1]]:
            problems.append(
                Problem(
                    f"{spec.type} is a {stage} transform but comes after data.transforms"
                    f"[{last[0]}], a {last[1]} transform",
                    path,
                    hint="list signal transforms first, then fitted ones, then augmentations",
                )
            )
        last = (i, stage)
    return problems


def _dataset_problems(source: Any, allow: Sequence[str]) -> list[Problem]:
    if source.type != "dataset":
        return []
    path: Path = ("data", "source")
    problems = describe_entry("dataset", {"target": source.target}, path, allow=allow)[1]
    if source.collate_fn is not None:
        found = import_problem(source.collate_fn, (*path, "collate_fn"), allow)
        problems += [found] if found else []
    return problems


def _split_problems(job: JobSpec) -> list[Problem]:
    split, data = job.data.split, job.data
    path: Path = ("data", "split")
    problems: list[Problem] = []
    if split.method in ("group", "group_kfold") and data.group is None:
        problems.append(
            Problem(
                f"split method {split.method!r} needs data.group to name the group key",
                (*path, "method"),
                hint="set data.group (e.g. the subject id), or use another method",
            )
        )
    if split.folds is not None and split.method not in _KFOLD:
        problems.append(
            Problem(
                f"'folds' is set but method {split.method!r} does not use folds",
                (*path, "folds"),
                hint="use method kfold, stratified_kfold or group_kfold, or remove folds",
            )
        )
    if split.fold is not None and split.method not in _KFOLD:
        problems.append(
            Problem(
                f"'fold' is set but method {split.method!r} has no folds",
                (*path, "fold"),
                hint="use a k-fold method, or remove fold",
            )
        )
    if job.train.refit and (split.method not in _KFOLD or split.fold is not None):
        why = (
            f"data.split.method is {split.method!r}"
            if split.method not in _KFOLD
            else f"data.split.fold {split.fold} runs one fold only"
        )
        problems.append(
            Problem(
                f"train.refit needs k-fold cross-validation over every fold; {why}",
                ("train", "refit"),
                hint="use method kfold, stratified_kfold or group_kfold with folds: K (and no "
                "fold), or remove train.refit",
            )
        )
    if split.method in _KFOLD and set(split.ratios) - {"train", "val", "test"}:
        extra = sorted(set(split.ratios) - {"train", "val", "test"})
        problems.append(
            Problem(
                f"k-fold splits are train/val folds and an optional 'test'; found {extra}",
                (*path, "ratios"),
            )
        )
    return problems
