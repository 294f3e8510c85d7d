"""The local runner: steps in dependency order, each as its CLI command in a subprocess, with
a content-addressed cache, resume after failure, and a consistent ``pipeline.json`` on Ctrl-C.

A step's cache key hashes its resolved spec (references kept symbolic, so the key does not
depend on where upstream folders are), trainspec's version, the user code it imports, and
the content fingerprints of its declared inputs and of the upstream outputs it reads.
"""

from __future__ import annotations

import datetime as _dt
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainspec.errors import TrainspecError, closest
from trainspec.files import RunDir
from trainspec.pipelines._fingerprint import code_files, digest, fingerprint, module_files
from trainspec.pipelines._state import DONE, Cache, RunRecord, now, outputs_intact
from trainspec.pipelines._steps import (
    StepCommand,
    build_step,
    check_job_specs,
    find_strings,
    shown,
    step_folder_name,
)
from trainspec.spec import LoadedPipeline, TrainStep

__all__ = ["PipelineInterrupted", "PlanRow", "RunOptions", "run_pipeline"]

log = logging.getLogger(__name__)

Echo = Callable[[str], None]


class PipelineInterrupted(TrainspecError):
    """Ctrl-C or SIGTERM stopped the pipeline; its ``pipeline.json`` says where."""

    exit_code = 130


@dataclass
class RunOptions:
    run_dir: Path | None = None
    cache: Path | None = None
    runs_root: Path = Path("runs")
    only: str | None = None
    from_step: str | None = None
    force: Sequence[str] = ()
    dry_run: bool = False


@dataclass
class PlanRow:
    """One step as run (or, in a dry run, as it would run)."""

    name: str
    kind: str
    state: str
    command: str
    folder: str
    seconds: float | None = None
    note: str = ""
    reused: bool = False  # finished earlier (in this run folder, or in the cache)


@dataclass
class _Context:
    pipeline: LoadedPipeline
    options: RunOptions
    run_dir: Path
    cache: Cache
    record: RunRecord
    jobs: dict[str, dict[str, Any]]
    echo: Echo
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # absolute paths
    prints: dict[str, dict[str, str | None]] = field(default_factory=dict)
    stop: int | None = None
    child: subprocess.Popen[bytes] | None = None
    rows: list[PlanRow] = field(default_factory=list)

    def resolve(self, step: str, output: str) -> str:
        return shown(self.outputs[step][output])


def _version() -> str:
    from trainspec import __version__

    return __version__


def _check_names(pipeline: LoadedPipeline, options: RunOptions) -> None:
    names = list(pipeline.spec.steps)
    asked = [("--only", options.only), ("--from", options.from_step)]
    asked += [("--force", f) for f in options.force]
    for flag, name in asked:
        if name is not None and name not in pipeline.spec.steps:
            near = closest(name, names)
            hint = f"did you mean {near!r}?" if near else f"its steps: {', '.join(names)}"
            raise TrainspecError(f"{flag} {name!r}: {pipeline.file} has no such step ({hint})")


def _default_run_dir(pipeline: LoadedPipeline, root: Path) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    from trainspec.files import safe_name

    name = safe_name(pipeline.spec.name, what="pipeline name", fallback="pipeline")
    return root / "pipelines" / name / stamp


def _absolute(outputs: dict[str, str]) -> dict[str, str]:
    return {k: str(Path(v).resolve()) for k, v in outputs.items()}


def _inputs(ctx: _Context, name: str, command: StepCommand) -> dict[str, str | None]:
    """Declared inputs, the data a step reads when it names a file, and the job's source."""
    step = ctx.pipeline.spec.steps[name]
    paths = list(step.inputs)  # those naming ${steps...} are upstream outputs, hashed there
    data = getattr(step, "data", None)
    if isinstance(data, str) and "${" not in data:
        paths.append(data)
    job = ctx.jobs.get(name) or {}
    source = ((job.get("data") or {}).get("source") or {}).get("path")
    if isinstance(source, str) and not source.startswith("/pipeline/"):
        paths.append(source)
    return {str(Path(p).resolve()): fingerprint(p) for p in paths if "${" not in p}


def _code(ctx: _Context, name: str, command: StepCommand) -> dict[str, str | None]:
    job = ctx.jobs.get(name)
    folders = [Path.cwd()]
    if job is not None:
        folders = [*(Path(s).resolve().parent for s in command.spec_files), Path.cwd()]
        files = code_files(find_strings(job), folders)
    else:
        args = [a for argv in command.argvs for a in argv]
        files = code_files(args, folders)
        for i, arg in enumerate(args[:-1]):
            if arg == "-m":
                files += module_files(args[i + 1].split(".")[0], folders)
    return {str(p): fingerprint(p) for p in files}


def _key(ctx: _Context, name: str, command: StepCommand) -> str:
    step = ctx.pipeline.data["steps"][name]
    upstream = {up: ctx.prints[up] for up in ctx.pipeline.needs[name]}
    material = {
        "kind": command.kind,
        "step": {k: v for k, v in step.items() if k not in ("description", "after")},
        "job": ctx.jobs.get(name),
        "trainspec": _version(),
        "code": _code(ctx, name, command),
        "inputs": _inputs(ctx, name, command),
        "upstream": upstream,
    }
    return digest(material)


def _folder(ctx: _Context, name: str, key: str) -> tuple[Path, bool]:
    """The step's folder and whether to resume in it: a train step interrupted or failed with
    the same key continues from its last checkpoint; a folder holding other work (an earlier
    attempt, a finished result the cache points to) is kept and the step writes beside it
    (``NAME-2``)."""
    rec = ctx.record.step(name)
    base = ctx.run_dir / step_folder_name(name)
    folder = Path(rec["dir"]) if rec.get("dir") else base
    resumable = rec.get("key") == key and rec.get("state") not in DONE
    step = ctx.pipeline.spec.steps[name]
    if resumable and isinstance(step, TrainStep) and RunDir(folder).checkpoint("last").is_dir():
        return folder, True
    if not folder.exists() or not any(folder.iterdir()):
        return folder, False
    n = 2
    while (candidate := base.with_name(f"{base.name}-{n}")).exists():
        n += 1
    return candidate, False


def _full_argv(argv: list[str]) -> list[str]:
    if argv[0] == "trainspec":
        return [sys.executable, "-m", "trainspec", *argv[1:]]
    if argv[0] in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    return argv


def _call(ctx: _Context, argv: list[str]) -> int:
    try:
        ctx.child = subprocess.Popen(_full_argv(argv), start_new_session=True)
    except OSError as exc:
        ctx.echo(f"  cannot start {argv[0]!r}: {exc}")
        return 127
    try:
        return ctx.child.wait()
    finally:
        ctx.child = None


@contextmanager
def _signals(ctx: _Context) -> Iterator[None]:
    """SIGINT / SIGTERM: pass it to the running step (in its own session, so it gets it
    once), then stop after it; the step saves its checkpoint as on a direct Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: Any) -> None:
        ctx.stop = signum
        if ctx.child is not None and ctx.child.poll() is None:
            ctx.child.send_signal(signum)

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def _reuse(ctx: _Context, name: str, rec: dict[str, Any]) -> None:
    ctx.outputs[name] = dict(rec.get("outputs") or {})
    ctx.prints[name] = dict(rec.get("fingerprints") or {})


def _intact(rec: dict[str, Any]) -> bool:
    return rec.get("state") in DONE and outputs_intact(
        rec.get("outputs") or {}, rec.get("fingerprints") or {}
    )


def _execute(ctx: _Context, name: str, command: StepCommand, key: str, folder: Path) -> str:
    started = time.perf_counter()
    outputs = _absolute(command.outputs)
    if not isinstance(ctx.pipeline.spec.steps[name], TrainStep):
        folder.mkdir(parents=True, exist_ok=True)
    ctx.record.update(
        name,
        state="running",
        started=now(),
        ended=None,
        seconds=None,
        dir=str(folder.resolve()),
        key=key,
        command=command.line,
        argv=command.argvs,
        outputs=outputs,
        cached_from=None,
        returncode=None,
    )
    code = 0
    for argv in command.argvs:
        ctx.echo(f"$ {' '.join(argv)}")
        code = _call(ctx, argv)
        if code != 0 or ctx.stop is not None:
            break
    seconds = round(time.perf_counter() - started, 2)
    if ctx.stop is not None:
        ctx.record.update(name, state="interrupted", ended=now(), seconds=seconds, returncode=code)
        return "interrupted"
    # Checkpoint folders are optional: a scikit-learn run has none, only model/.
    needed = {k: v for k, v in outputs.items() if not k.startswith("checkpoint.")}
    missing = [k for k, v in needed.items() if not Path(v).exists()]
    if code != 0 or missing:
        note = f"exit status {code}" if code else f"did not write {', '.join(missing)}"
        ctx.record.update(name, state="failed", ended=now(), seconds=seconds, returncode=code)
        ctx.echo(f"step {name!r} failed ({note}); the steps that need it will not run")
        return "failed"
    prints = {k: fingerprint(v) for k, v in needed.items()}
    ctx.record.update(
        name, state="finished", ended=now(), seconds=seconds, returncode=0, fingerprints=prints
    )
    ctx.outputs[name], ctx.prints[name] = outputs, prints
    entry: dict[str, Any] = {"step": name, "kind": command.kind, "pipeline": ctx.pipeline.spec.name}
    entry |= {"dir": str(folder.resolve()), "outputs": outputs, "fingerprints": prints}
    ctx.cache.put(key, {**entry, "command": command.line, "finished": now()})
    return "finished"


def _step(ctx: _Context, name: str, i: int, forced: set[str]) -> PlanRow:
    kind = ctx.pipeline.spec.steps[name].kind
    tag = f"[{i}/{len(ctx.pipeline.order)}] {name}"
    ups = ctx.pipeline.needs[name]
    if any(up not in ctx.outputs for up in ups):
        blocked = [up for up in ups if up not in ctx.outputs]
        if not ctx.options.dry_run:
            ctx.record.update(name, state="blocked")
        ctx.echo(f"{tag}: blocked (waits for {', '.join(blocked)})")
        return PlanRow(name, kind, "blocked", "", "", note=f"waits for {', '.join(blocked)}")
    rec = ctx.record.step(name)
    provisional = build_step(ctx.pipeline, name, "<folder>", ctx.resolve, ctx.jobs.get(name))
    key = _key(ctx, name, provisional)
    if name not in forced:
        if rec.get("key") == key and _intact(rec):
            _reuse(ctx, name, rec)
            ctx.echo(f"{tag}: done (in this run)")
            row = PlanRow(name, kind, rec["state"], rec.get("command", ""), rec.get("dir", ""))
            row.reused = True
            return row
        entry = ctx.cache.get(key)
        if entry is not None:
            return _from_cache(ctx, name, tag, key, entry)
    folder, resume = _folder(ctx, name, key)
    command = build_step(ctx.pipeline, name, shown(folder), ctx.resolve, ctx.jobs.get(name))
    if resume:
        command.argvs[0].append("--resume")
    if ctx.options.dry_run:
        ctx.echo(f"{tag}: would run{' (resuming)' if resume else ''}: {command.line}")
        ctx.outputs[name] = _absolute(command.outputs)
        ctx.prints[name] = {"planned": key}
        return PlanRow(name, kind, "would run", command.line, shown(folder))
    ctx.echo(f"{tag}: {'resuming' if resume else 'running'} ({kind})")
    state = _execute(ctx, name, command, key, folder)
    seconds = ctx.record.step(name).get("seconds")
    return PlanRow(name, kind, state, command.line, shown(folder), seconds)


def _from_cache(ctx: _Context, name: str, tag: str, key: str, entry: dict[str, Any]) -> PlanRow:
    kind = entry.get("kind", "")
    ctx.outputs[name] = dict(entry["outputs"])
    ctx.prints[name] = dict(entry["fingerprints"])
    ctx.echo(f"{tag}: cached (reusing {shown(entry['dir'])}, finished {entry.get('finished')})")
    if not ctx.options.dry_run:
        ctx.record.update(
            name,
            state="cached",
            started=now(),
            ended=now(),
            seconds=0.0,
            dir=entry["dir"],
            key=key,
            command=entry.get("command"),
            outputs=entry["outputs"],
            fingerprints=entry["fingerprints"],
            cached_from=entry["dir"],
            returncode=None,
        )
    return PlanRow(name, kind, "cached", entry.get("command", ""), shown(entry["dir"]), reused=True)


def _selected(pipeline: LoadedPipeline, options: RunOptions) -> tuple[set[str], set[str]]:
    """(steps to consider, steps to rerun whatever the cache holds)."""
    forced = set(options.force)
    if options.only is not None:
        return {options.only}, forced
    if options.from_step is not None:
        forced |= set(pipeline.downstream(options.from_step))
    return set(pipeline.order), forced


def _outside(ctx: _Context, name: str) -> None:
    """A step --only leaves out: its finished outputs (this run, or the cache) still count."""
    rec = ctx.record.step(name)
    if _intact(rec):
        _reuse(ctx, name, rec)
        return
    if all(up in ctx.outputs for up in ctx.pipeline.needs[name]):
        provisional = build_step(ctx.pipeline, name, "<folder>", ctx.resolve, ctx.jobs.get(name))
        entry = ctx.cache.get(_key(ctx, name, provisional))
        if entry is not None:
            ctx.outputs[name] = dict(entry["outputs"])
            ctx.prints[name] = dict(entry["fingerprints"])


def run_pipeline(
    pipeline: LoadedPipeline, options: RunOptions | None = None, *, echo: Echo = log.info
) -> tuple[Path, list[PlanRow]]:
    """Run (or with ``dry_run`` plan) the pipeline; returns its run folder and one row per step.

    Raises ``PipelineInterrupted`` on Ctrl-C / SIGTERM after recording the interrupted step.
    """
    options = options or RunOptions()
    _check_names(pipeline, options)
    jobs = check_job_specs(pipeline)
    run_dir = options.run_dir or _default_run_dir(pipeline, options.runs_root)
    cache = Cache(options.cache or options.runs_root / "pipelines" / ".cache")
    record = RunRecord.open(run_dir)
    if record.data and record.data.get("name") != pipeline.spec.name:
        raise TrainspecError(
            f"{run_dir} holds a run of pipeline {record.data.get('name')!r}, not "
            f"{pipeline.spec.name!r}; choose another --run-dir"
        )
    ctx = _Context(pipeline, options, run_dir, cache, record, jobs, echo)
    selected, forced = _selected(pipeline, options)
    if options.only is not None:
        for name in pipeline.upstream(options.only):
            _outside(ctx, name)
        missing = [u for u in pipeline.needs[options.only] if u not in ctx.outputs]
        if missing:
            raise TrainspecError(
                f"--only {options.only!r} needs the outputs of {', '.join(missing)}, which have "
                f"not run (in {run_dir} or the cache); run them first, or drop --only"
            )
    if not options.dry_run:
        record.start(_header(ctx), list(pipeline.order))
        echo(f"pipeline {pipeline.spec.name!r}: {shown(run_dir)}")
    with _signals(ctx):
        for i, name in enumerate(pipeline.order, start=1):
            if name not in selected:
                continue
            row = _step(ctx, name, i, forced)
            ctx.rows.append(row)
            if row.state == "interrupted" or ctx.stop is not None:
                if not options.dry_run:
                    record.finish("interrupted")
                raise PipelineInterrupted(
                    f"interrupted in step {name!r}; {shown(run_dir / 'pipeline.json')} records "
                    f"where it stopped: run again with --run-dir {shown(run_dir)} to continue"
                )
    if not options.dry_run:
        bad = any(r.state in ("failed", "blocked") for r in ctx.rows)
        record.finish("failed" if bad else "finished")
    return run_dir, ctx.rows


def _header(ctx: _Context) -> dict[str, Any]:
    p = ctx.pipeline
    return {
        "name": p.spec.name,
        "file": p.file,
        "params": p.spec.params,
        "hash": p.hash,
        "trainspec": _version(),
        "cache": str(ctx.cache.folder.resolve()),
        "edges": [list(e) for e in p.edges()],
    }
