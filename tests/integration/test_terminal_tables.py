"""Tables as a user sees them: in an 80-column terminal (a real pseudo-terminal) whole columns
are hidden, least important first, and no name is ever cut; piped, every column prints whole.
``data inspect`` prints tables, ``--json`` the report."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.unit.experiments.test_runs import fake_run

pytestmark = pytest.mark.integration

NARROW = {"COLUMNS": "80"}
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def tty_cli(*args: str, cwd: Path, columns: int = 80) -> tuple[int, str, str]:
    """``trainspec ARGS`` with stdout on a pseudo-terminal ``columns`` wide (stderr piped):
    the exit status, what the terminal showed (escapes removed) and stderr."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": str(columns), "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "trainspec", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    _, err = proc.communicate(timeout=300)
    shown = _ESCAPES.sub("", b"".join(chunks).decode()).replace("\r\n", "\n")
    return proc.returncode, shown, err.decode()


def _widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


def test_data_inspect_prints_tables_at_80_columns_and_piped(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = str(EXAMPLES / "regression" / "train.yaml")
    code, shown, err = tty_cli("data", "inspect", spec, cwd=tmp_path)
    assert code == 0, err
    piped = cli("data", "inspect", spec, env=NARROW)
    assert piped.returncode == 0, piped.stderr
    for text in (shown, piped.stdout):
        assert _widest(text) <= 80, text
        assert "{" not in text and "…" not in text  # tables, not JSON; nothing cut
        rows = {line.split("│")[1].strip(): line for line in text.splitlines() if "│" in line}
        # per column: its type, missing values and (categories) unique values, names whole
        assert re.search(r"│ area +│ numeric +│ +30 │", rows["area"])
        assert re.search(r"│ heating +│ categorical +│ +59 │ +3 │", rows["heating"])
        assert re.search(r"│ district +│ categorical +│ +0 │ +5 │", rows["district"])
        assert "distance_km" in rows
        assert re.search(r"│ train +│ +420 │ +70% │", rows["train"])
        assert re.search(r"│ test +│ +90 │ +15% │", rows["test"])
        assert re.search(r"│ price +│ 4810 ", rows["price"])  # the target's statistics
        assert "fingerprint: " in text
    report = json.loads(cli("data", "inspect", spec, "--json").stdout)
    assert report["n_samples"] == 600 and report["splits"]["folds"][0]["train"]["samples"] == 420
    heating = next(c for c in report["inputs"]["x"]["columns"] if c["name"] == "heating")
    assert heating == {"name": "heating", "categories": 3, "nan": 59}


def test_data_inspect_class_balance_folds_groups_and_warnings(cli) -> None:  # type: ignore[no-untyped-def]
    digits = cli("data", "inspect", str(EXAMPLES / "digits" / "train.yaml"), env=NARROW)
    assert digits.returncode == 0, digits.stderr
    lines = digits.stdout.splitlines()
    balance = lines[next(i for i, line in enumerate(lines) if line.startswith("class balance")) :]
    assert re.search(r"┃ class +┃ samples +┃ share +┃ train +┃ val +┃", balance[2])
    assert re.search(r"│ 0 +│ +178 +│ +9\.9% +│ +142 +│ +36 +│", balance[4])
    # a warning is a message: on stderr, beside the tables, not in them
    assert "constant column" in digits.stderr and "constant column" not in digits.stdout
    assert "│ pixel_6_1 " in digits.stdout  # the 50th column, then a count of the rest
    assert "... and 14 more column(s), not listed" in digits.stdout

    grouped = cli("data", "inspect", str(EXAMPLES / "grouped" / "train.yaml"), env=NARROW)
    assert grouped.returncode == 0, grouped.stderr
    assert re.search(r"│ fold 3 val +│ +75 +│ +25% +│ +3 +│", grouped.stdout)
    assert re.search(r"│ groups +│ 12 \(25 to 25 samples each, median 25\)", grouped.stdout)


ARCH = """
inputs: {measurements_per_recording: [12]}
blocks:
  encoder_with_a_long_descriptive_name:
    {type: dense_stack, in: measurements_per_recording, units: [16, 16]}
  classification_head_for_sleep_stages: {type: Linear, out_features: 5}
"""


def test_model_summary_keeps_block_names_whole(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "net.yaml").write_text(ARCH)
    code, shown, err = tty_cli("model", "summary", "net.yaml", cwd=tmp_path)
    assert code == 0, err
    assert _widest(shown) <= 80, shown
    assert "classification_head_for_sleep_stages" in shown and "dense_stack" in shown
    assert "…" not in shown
    # the least important columns went first, and stderr says which
    assert "trainable" not in shown.splitlines()[2] and "output shape" in shown
    assert re.search(r"column\(s\) hidden to fit 80 columns: trainable", err)

    piped = cli("model", "summary", "net.yaml", env=NARROW)
    assert piped.returncode == 0, piped.stderr
    header = next(line for line in piped.stdout.splitlines() if "block" in line)
    for column in ("type", "output shape", "params", "trainable", "state"):
        assert column in header
    assert "encoder_with_a_long_descriptive_name" in piped.stdout and "…" not in piped.stdout
    assert re.search(r"│ dense_stack +│ \(B, 16\) +│ +480 │", piped.stdout)  # batch axis first
    assert "hidden" not in piped.stderr


def test_runs_ls_in_an_80_column_terminal(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    name = "sweeps/digits-mlp-with-a-long-sweep-name/trials/0001"
    fake_run(runs / name, lr=0.01, acc=0.9, created="2026-01-01T00:00:00+00:00")
    code, shown, err = tty_cli("runs", "ls", cwd=tmp_path)
    assert code == 0, err
    assert name in shown and "…" not in shown and _widest(shown) <= 80
    row = next(line for line in shown.splitlines() if name in line)
    assert re.search(r"│ +2 │ +0\.9 │$", row)  # the epochs and the best value stay
    # what was hidden (in the command's order: spec, created, monitor, status), and how to see it
    assert "hidden to fit 80 columns: status, created, monitor, spec (--wide" in err


def test_a_value_that_looks_like_markup_prints_as_written(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = "[bold]x[/bold]:thumbs_up:"
    fake_run(tmp_path / "runs" / name, lr=0.01, acc=0.9, created="2026-01-01T00:00:00+00:00")
    res = cli("runs", "ls", env=NARROW)
    assert res.returncode == 0, res.stderr
    assert name in res.stdout


def test_a_cross_validation_run_lists_its_epochs(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = str(EXAMPLES / "digits" / "cv.yaml")
    overrides = ["train.epochs=2", "data.split.folds=2", "tracking.backend=none"]
    res = cli("train", spec, *overrides, "--run-dir", "runs/cv", env=NARROW)
    assert res.returncode == 0, res.stderr
    rows = [line.split("│")[1].strip() for line in res.stdout.splitlines() if "│" in line]
    assert "val/accuracy" in rows and "lr" not in rows  # the CV table: no lr row
    listed = cli("runs", "ls", env=NARROW)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if "│ cv " in line)
    assert re.search(r"│ +2 │ val/accuracy", line), line


def test_runs_compare_numbers_runs_whose_names_do_not_fit(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    names = [f"digits-mlp-learning-rate-trial-{i}" for i in range(3)]
    for i, name in enumerate(names):
        fake_run(tmp_path / "runs" / name, lr=0.01 * (i + 1), acc=0.9, created=f"2026-01-0{i + 1}")
    code, shown, err = tty_cli("runs", "compare", *names, cwd=tmp_path)
    assert code == 0, err
    assert _widest(shown) <= 80 and "…" not in shown and "hidden" not in err
    for i, name in enumerate(names, 1):
        assert re.search(rf"│ #{i} +│ {name} +│", shown)  # each run's number, its name whole
    assert re.search(r"│ train\.optimizer\.lr +│ +0\.01 +│ +0\.02 +│ +0\.03 +│", shown)
    piped = cli("runs", "compare", *names, env=NARROW)
    assert piped.returncode == 0, piped.stderr
    header = next(line for line in piped.stdout.splitlines() if "┃ key" in line)
    assert all(n in header for n in names) and "…" not in piped.stdout
    assert re.search(r"│ train\.optimizer\.lr +│ +0\.01 +│ +0\.02 +│ +0\.03 +│", piped.stdout)
