"""The one rule for format versions: this one and earlier ones open, newer ones are refused
with the fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainspec.errors import FormatError
from trainspec.files import FORMAT_KEY, RUN_FORMAT_VERSION, RunDir, check_format


def test_current_and_earlier_versions_open() -> None:
    assert check_format({FORMAT_KEY: 2}, 2, what="x", where="f.json") == 2
    assert check_format({FORMAT_KEY: 1}, 2, what="x", where="f.json") == 1
    assert check_format({"format": 1}, 2, what="x", where="f.json") == 1  # the old key
    assert check_format({}, 2, what="x", where="f.json") == 0  # before versions were kept


def test_a_newer_version_is_refused_with_the_fix() -> None:
    with pytest.raises(FormatError) as info:
        check_format({FORMAT_KEY: 3}, 2, what="saved model", where="m/model.json")
    message = str(info.value)
    assert message.startswith("m/model.json: the saved model has format version 3")
    assert "up to 2" in message and "pip install --upgrade trainspec" in message


@pytest.mark.parametrize("bad", ["1", 1.5, True, -1, None])
def test_a_version_that_is_not_a_whole_number_is_refused(bad: object) -> None:
    with pytest.raises(FormatError, match="is not a format version"):
        check_format({FORMAT_KEY: bad}, 2, what="x", where="f.json")


def test_run_directories(tmp_path: Path) -> None:
    assert RunDir(tmp_path).format_version() == 0  # no environment.json yet
    (tmp_path / "environment.json").write_text(json.dumps({"seed": 0}))
    assert RunDir(tmp_path).format_version() == 0
    (tmp_path / "environment.json").write_text(json.dumps({FORMAT_KEY: RUN_FORMAT_VERSION}))
    assert RunDir(tmp_path).format_version() == RUN_FORMAT_VERSION
    (tmp_path / "environment.json").write_text(json.dumps({FORMAT_KEY: RUN_FORMAT_VERSION + 1}))
    with pytest.raises(FormatError, match="environment.json: the run directory has format"):
        RunDir(tmp_path).format_version()
