"""Malformed command lines and failures inside users' code and inside trainspec: every
command exits 2 with one message and no traceback on a user error; a user's own code that
raises is named by its file and line; an internal error exits 1 with the traceback in a log
file; nothing is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainspec.experiments import _preflight

from .conftest import JOB, Run

BROKEN_YAML = JOB.replace("  epochs: 1", " epochs: 1")
BAD_NAME = JOB.replace("AdamW", "Adamw2")

COMMANDS = [
    ("predict-missing-run", ["predict", "nope", "--data", "data.csv", "--out", "o.csv"], "nope"),
    ("export-missing-run", ["export", "nope", "--format", "onnx"], "nope"),
    ("export-bad-format", ["export", "nope", "--format", "pdf"], "format"),
    ("serve-missing-run", ["serve", "nope"], "nope"),
    ("monitor-missing-run", ["monitor", "nope", "--data", "data.csv"], "nope"),
    ("runs-show-missing", ["runs", "show", "nope"], "nope"),
    ("runs-ls-missing-root", ["runs", "ls", "--root", "nope"], "nope"),
    ("runs-compare-missing", ["runs", "compare", "a", "b"], "'a'"),
    ("report-missing-run", ["report", "nope"], "nope"),
    ("model-summary-bad-spec", ["model", "summary", "bad.yaml"], "bad.yaml:13"),
    ("data-inspect-bad-spec", ["data", "inspect", "bad.yaml"], "bad.yaml:13"),
    ("show-broken-yaml", ["show", "broken.yaml"], "broken.yaml:12"),
    ("sweep-without-block", ["sweep", "job.yaml"], "sweep"),
    ("sweep-bad-spec", ["sweep", "bad.yaml"], "bad.yaml"),
    ("train-resume-without-dir", ["train", "--resume", "job.yaml"], "--run-dir"),
    ("train-missing-spec", ["train", "nope.yaml"], "nope.yaml"),
    ("validate-no-spec", ["validate"], "Missing argument"),
    ("train-unknown-option", ["train", "--epochs", "3", "job.yaml"], "--epochs"),
    ("unknown-command", ["trian", "job.yaml"], "trian"),
    ("pipeline-missing-spec", ["pipeline", "run", "nope.yaml"], "nope.yaml"),
    ("override-bad-path", ["validate", "job.yaml", "train..epochs=3"], "train..epochs"),
]


@pytest.mark.parametrize(("argv", "says"), [c[1:] for c in COMMANDS], ids=[c[0] for c in COMMANDS])
def test_user_errors_exit_2_without_traceback(
    project: Path, run: Run, argv: list[str], says: str
) -> None:
    (project / "job.yaml").write_text(JOB)
    (project / "bad.yaml").write_text(BAD_NAME)
    (project / "broken.yaml").write_text(BROKEN_YAML)
    result = run(*argv)
    assert result.code == 2, (result.code, result.err, result.out)
    assert "Traceback" not in result.err + result.out
    assert says in result.err, result.err
    assert not (project / "runs").exists()


def test_an_internal_error_exits_1_with_the_traceback_in_a_log(
    project: Path, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "job.yaml").write_text(JOB)
    # A bug inside trainspec itself: a function it calls is gone.
    monkeypatch.setattr(_preflight, "component_problems", None)
    result = run("validate", "job.yaml")
    assert result.code == 1
    assert "internal error: TypeError" in result.err and "bug in trainspec" in result.err
    assert "Traceback" not in result.err
    log = Path(result.err.split("the traceback is in ")[1].split()[0])
    text = log.read_text()
    assert "Traceback" in text and "_preflight.py" in text
    log.unlink()

    debug = run("validate", "job.yaml", "--debug")
    assert debug.code == 1 and "Traceback" in debug.err


NET = """\
import torch


class Net(torch.nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)
        if width % 2:
            raise ValueError("width must be even")
        self.table = {}["missing"] if width > 100 else None

    def forward(self, x):
        return self.lin(x[:, :2])
"""

USER_JOB = """\
allow_imports: [user_nets_battery]
model:
  target: user_nets_battery.Net
  params: {width: WIDTH}
data:
  source: {type: csv, path: data.csv}
  target: label
  features: [a, b, c]
run: {root: runs}
"""


@pytest.mark.parametrize(
    ("width", "line", "says"),
    [(3, 9, "width must be even"), (200, 10, "missing"), (4, 13, "forward")],
    ids=["init-value-error", "init-key-error", "forward-shape"],
)
@pytest.mark.parametrize("command", [["validate", "--deep"], ["train"]])
def test_an_exception_in_users_code_names_their_file_and_line(
    project: Path, run: Run, command: list[str], width: int, line: int, says: str
) -> None:
    (project / "user_nets_battery.py").write_text(NET)
    (project / "job.yaml").write_text(USER_JOB.replace("WIDTH", str(width)))
    result = run(*command, "job.yaml")
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    assert f"user_nets_battery.py:{line}" in result.err, result.err
    assert says in result.err
    assert not (project / "runs").exists()
