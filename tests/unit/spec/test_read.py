"""Reading spec files: every kind of bad input gives one clear SpecError with its place."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from trainspec.errors import Problem, SpecError
from trainspec.spec import load_spec
from trainspec.spec._limits import MAX_DEPTH, MAX_FILE_BYTES
from trainspec.spec._read import read_spec_file

from .conftest import ARCH, Write


def one_problem(source: str | Path) -> Problem:
    with pytest.raises(SpecError) as info:
        load_spec(source)
    assert len(info.value.problems) == 1, str(info.value)
    return info.value.problems[0]


def test_reads_yaml_with_key_positions(write: Write) -> None:
    path = write("net.yaml", ARCH)
    doc = read_spec_file(path)
    assert doc.data["layers"][1] == "ReLU"
    origin = doc.origins[("layers",)]
    assert (origin.source, origin.line, origin.column) == ("net.yaml", 2, 1)
    assert doc.origins[("layers", 1)].line == 4


def test_reads_json_with_key_positions(write: Write) -> None:
    path = write("p.json", '{\n  "a": 1,\n  "b": {"c": [1, 2]}\n}\n')
    doc = read_spec_file(path)
    assert doc.data == {"a": 1, "b": {"c": [1, 2]}}
    assert (doc.origins[("b", "c")].line, doc.origins[("b", "c")].column) == (3, 9)


def test_missing_file_is_named(write: Write) -> None:
    problem = one_problem("nope.yaml")
    assert "spec file not found: nope.yaml" in problem.message


@pytest.mark.parametrize("text", ["", "   \n\n", "# only a comment\n", "---\n"])
def test_empty_file(write: Write, text: str) -> None:
    problem = one_problem(write("empty.yaml", text))
    assert problem.file == "empty.yaml"
    assert "empty" in problem.message or "no content" in problem.message


def test_empty_json(write: Write) -> None:
    assert "empty" in one_problem(write("e.json", "\n")).message


def test_yaml_syntax_error_has_line_and_column(write: Write) -> None:
    problem = one_problem(write("bad.yaml", "a: 1\nb: [1, 2\nc: 3\n"))
    assert problem.message.startswith("YAML syntax error")
    assert problem.file == "bad.yaml"
    assert problem.line == 3
    assert problem.column is not None


def test_tab_indentation_gets_a_hint(write: Write) -> None:
    problem = one_problem(write("tab.yaml", "a:\n\tb: 1\n"))
    # One plain sentence, then the line and a caret under the column.
    assert "a tab is used for indentation, and YAML allows spaces only" in problem.message
    assert problem.message.endswith("\n     b: 1\n    ^")
    assert problem.line == 2


def test_json_syntax_error_has_line_and_column(write: Write) -> None:
    problem = one_problem(write("bad.json", '{\n  "a": 1,\n  "b": }\n'))
    assert "JSON syntax error" in problem.message
    assert (problem.line, problem.column) == (3, 8)


def test_json_trailing_comma(write: Write) -> None:
    problem = one_problem(write("bad.json", '{"a": 1,}'))
    assert "property name" in problem.message


@pytest.mark.parametrize(
    ("text", "found"),
    [("- a\n- b\n", "a list"), ("42\n", "42 (int)"), ("just text\n", "'just text' (str)")],
)
def test_top_level_must_be_a_mapping(write: Write, text: str, found: str) -> None:
    problem = one_problem(write("list.yaml", text))
    assert "top level must be a mapping" in problem.message
    assert found in problem.message


def test_json_top_level_list(write: Write) -> None:
    assert "found a list" in one_problem(write("l.json", "[1, 2]")).message


def test_duplicate_yaml_key_names_both_lines(write: Write) -> None:
    problem = one_problem(write("dup.yaml", "a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n"))
    assert "duplicate key 'c' (first at line 3, again at line 5)" in problem.message
    assert (problem.file, problem.line) == ("dup.yaml", 5)


def test_duplicate_json_key_names_both_lines(write: Write) -> None:
    problem = one_problem(write("dup.json", '{\n "a": {"x": 1,\n  "x": 2}\n}'))
    assert "duplicate key 'x' (first at line 2, again at line 3)" in problem.message
    assert problem.line == 3


def test_non_utf8_bytes_give_byte_offset(write: Write) -> None:
    path = Path("latin.yaml")
    write("latin.yaml", "")
    path.write_bytes(b"name: caf\xe9\n")
    problem = one_problem(path)
    assert "not UTF-8" in problem.message
    assert "byte offset 9" in problem.message
    assert "0xe9" in problem.message


def test_utf8_bom_is_accepted(write: Write) -> None:
    path = Path("bom.yaml")
    write("bom.yaml", "")
    path.write_bytes(b"\xef\xbb\xbf" + ARCH.encode())
    assert load_spec(path).kind == "arch"


def test_file_over_size_limit(write: Write) -> None:
    path = write("big.yaml", "a: 1\n")
    with path.open("a") as f:
        f.write("#" * MAX_FILE_BYTES)
    problem = one_problem(path)
    assert "over the limit" in problem.message
    assert f"{MAX_FILE_BYTES:,}" in problem.message


def test_deep_yaml_nesting(write: Write) -> None:
    text = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    problem = one_problem(write("deep.yaml", text))
    assert f"deeper than the limit of {MAX_DEPTH}" in problem.message
    assert problem.line == 1


def test_very_deep_yaml_nesting_is_no_recursion_error(write: Write) -> None:
    text = "a: " + "[" * 3000 + "]" * 3000 + "\n"
    assert "deeper than" in one_problem(write("deep.yaml", text)).message


def test_deep_block_mapping_nesting(write: Write) -> None:
    lines = [" " * i + f"k{i}:" for i in range(MAX_DEPTH + 2)]
    text = "\n".join(lines) + " 1\n"
    assert "deeper than" in one_problem(write("deep.yaml", text)).message


def test_deep_json_nesting(write: Write) -> None:
    text = '{"a": ' + "[" * 5000 + "]" * 5000 + "}"
    assert "deeper than" in one_problem(write("deep.json", text)).message


def test_nesting_within_limit_is_fine(write: Write) -> None:
    depth = MAX_DEPTH - 2
    text = "a: " + "[" * depth + "1" + "]" * depth + "\n"
    path = write("ok.yaml", text)
    assert read_spec_file(path).data["a"] is not None


def test_alias_bomb_is_refused(write: Write) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    problem = one_problem(write("bomb.yaml", "\n".join(lines) + "\n"))
    assert "aliases expand this file to more than" in problem.message


def test_recursive_alias_is_refused(write: Write) -> None:
    problem = one_problem(write("loop.yaml", "a: &x [1, *x]\n"))
    assert "contains it" in problem.message


def test_small_aliases_and_merge_keys_work(write: Write) -> None:
    text = "base: &b {x: 1, y: 2}\nother:\n  <<: *b\n  y: 3\nlist: [*b, *b]\n"
    data = read_spec_file(write("ok.yaml", text)).data
    assert data["other"] == {"x": 1, "y": 3}
    assert data["list"] == [{"x": 1, "y": 2}, {"x": 1, "y": 2}]
    data["list"][0]["x"] = 9  # aliases are copies, never shared objects
    assert data["list"][1]["x"] == 1


def test_scalars_read_as_in_safe_load_except_exponents_and_dates(write: Write) -> None:
    text = "a: 1e-4\nb: 2.5E3\nc: '1e-4'\nd: 2024-01-31\ne: yes\nf: 0x10\ng: .inf\nh: ~\n"
    data = read_spec_file(write("s.yaml", text)).data
    assert data["a"] == pytest.approx(1e-4) and isinstance(data["a"], float)
    assert data["b"] == 2500.0
    assert data["c"] == "1e-4"
    assert data["d"] == "2024-01-31"
    assert data["e"] is True
    assert data["f"] == 16
    assert data["g"] == float("inf")
    assert data["h"] is None


def test_non_string_key_is_refused(write: Write) -> None:
    problem = one_problem(write("k.yaml", "a: 1\non: 2\n"))
    assert "keys must be strings; found True" in problem.message
    assert problem.line == 2


@pytest.mark.parametrize(
    "text", ["a: !!python/object:os.system ls\n", "a: !!binary aGVsbG8=\n", "a: !!set {x}\n"]
)
def test_unsafe_or_non_json_tags_are_refused(write: Write, text: str) -> None:
    problem = one_problem(write("t.yaml", text))
    assert problem.line == 1
    assert "not supported" in problem.message or "cannot read" in problem.message


def test_control_characters_are_refused(write: Write) -> None:
    problem = one_problem(write("c.yaml", "a: 1\nb: x\x00y\n"))
    assert "not allowed" in problem.message
    assert problem.line == 2


def test_several_documents_are_refused(write: Write) -> None:
    problem = one_problem(write("m.yaml", "a: 1\n---\nb: 2\n"))
    assert "YAML syntax error" in problem.message


def test_unsupported_suffix(write: Write) -> None:
    assert "unsupported spec file type '.toml'" in one_problem(write("x.toml", "a = 1")).message


def test_folder_is_refused(write: Write) -> None:
    Path("adir.yaml").mkdir()
    assert "is a folder" in one_problem("adir.yaml").message


def test_message_renders_file_line_column(write: Write) -> None:
    with pytest.raises(SpecError) as info:
        load_spec(write("dup.yaml", "a: 1\na: 2\n"))
    assert str(info.value).startswith("dup.yaml:2:1: duplicate key 'a'")


def test_safe_load_compatibility_of_plain_specs(write: Write) -> None:
    path = write("net.yaml", ARCH)
    assert read_spec_file(path).data == yaml.safe_load(ARCH)
