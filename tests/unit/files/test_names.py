"""One rule for every name that becomes a path: traversal, absolute paths, separators, NUL and
very long names are cleaned to a safe slug inside the folder they belong in."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from trainspec.errors import TrainspecError
from trainspec.files import MAX_NAME_LENGTH, path_under, safe_name, safe_relpath

HOSTILE = [
    "..",
    ".",
    "../../../../escape",
    "/etc/passwd",
    "/tmp/abs/name",
    "a/b/c",
    "a\\b\\..\\c",
    "nul\x00byte",
    "~/home",
    ".hidden",
    "x" * 400,
    "é名前 with spaces",
    "",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_every_hostile_name_becomes_one_safe_child(tmp_path: Path, name: str) -> None:
    cleaned = safe_name(name, what="job name", fallback="run")
    assert cleaned and len(cleaned) <= MAX_NAME_LENGTH
    assert "/" not in cleaned and "\\" not in cleaned and "\x00" not in cleaned
    assert ".." not in cleaned and not cleaned.startswith(".")
    target = path_under(tmp_path, cleaned)
    assert target.parent == tmp_path
    target.mkdir()  # a real folder name on this file system
    assert target.resolve().parent == tmp_path.resolve()


def test_safe_names_pass_unchanged_and_silently(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="trainspec"):
        assert safe_name("digits-mlp_v1.2", what="job name", fallback="run") == "digits-mlp_v1.2"
    assert caplog.text == ""


def test_a_cleaned_name_is_reported_with_the_name_used(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="trainspec"):
        assert safe_name("../../escape", what="sweep.name", fallback="sweep") == "escape"
    assert "sweep.name '../../escape'" in caplog.text and "'escape'" in caplog.text


def test_long_names_stay_apart() -> None:
    a = safe_name("n" * 300 + "a", what="job name", fallback="run")
    b = safe_name("n" * 300 + "b", what="job name", fallback="run")
    assert a != b and len(a) == len(b) <= MAX_NAME_LENGTH


def test_empty_results_fall_back() -> None:
    assert safe_name("../..", what="job name", fallback="run") == "run"
    assert safe_name("/", what="job name", fallback="../sweep") == "sweep"


def test_relative_artifact_paths_keep_their_folders_only() -> None:
    assert safe_relpath("checkpoints/best", what="artifact path") == "checkpoints/best"
    assert safe_relpath("../../x/./y", what="artifact path") == "x/y"
    assert safe_relpath("/abs/..hidden", what="artifact path") == "abs/hidden"


def test_path_under_refuses_an_escape(tmp_path: Path) -> None:
    with pytest.raises(TrainspecError, match="outside"):
        path_under(tmp_path / "root", "..", "elsewhere")
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link").symlink_to(tmp_path)
    with pytest.raises(TrainspecError, match="outside"):
        path_under(tmp_path / "root", "link", "x")
