"""extends, file references, ${here}, several sources, and where each key came from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trainspec.errors import SpecError
from trainspec.spec import load_spec

from .conftest import ARCH, JOB, Write


def problem_of(*sources: str | Path) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(*sources)
    assert len(info.value.problems) == 1, str(info.value)
    return str(info.value)


def test_extends_merges_base_beneath(write: Write) -> None:
    write("base.yaml", JOB + "seed: 1\nrun: {root: out}\n")
    write("child.yaml", "extends: base.yaml\ntrain: {epochs: 5}\nseed: 2\n")
    loaded = load_spec("child.yaml")
    assert loaded.data["seed"] == 2
    assert loaded.data["train"]["epochs"] == 5
    assert loaded.data["run"] == {"root": "out"}
    assert "extends" not in loaded.data
    assert loaded.files == ("child.yaml", "base.yaml")
    assert loaded.origin("seed") == "child.yaml"
    assert loaded.origin("run.root") == "base.yaml"


def test_lists_are_replaced_not_merged(write: Write) -> None:
    write("base.yaml", JOB + "  metrics: [accuracy, f1]\n")
    write("child.yaml", "extends: base.yaml\ntrain: {metrics: [accuracy]}\n")
    assert load_spec("child.yaml").data["train"]["metrics"] == ["accuracy"]


def test_extends_list_in_order_then_file_on_top(write: Write) -> None:
    write("a.yaml", JOB + "seed: 1\nname: a\n")
    write("b.yaml", "seed: 2\ndescription: from b\n")
    write("c.yaml", "extends: [a.yaml, b.yaml]\nname: c\n")
    data = load_spec("c.yaml").data
    assert (data["seed"], data["name"], data["description"]) == (2, "c", "from b")


def test_multi_level_extends_relative_to_each_file(write: Write) -> None:
    write("conf/base/root.yaml", JOB + "seed: 1\n")
    write("conf/mid.yaml", "extends: base/root.yaml\nseed: 2\nname: mid\n")
    write("exp/run.yaml", "extends: ../conf/mid.yaml\nseed: 3\n")
    loaded = load_spec("exp/run.yaml")
    assert (loaded.data["seed"], loaded.data["name"]) == (3, "mid")
    assert len(loaded.files) == 3


def test_extends_cycle_shows_the_chain(write: Write) -> None:
    write("a.yaml", "extends: b.yaml\nseed: 1\n")
    write("b.yaml", "extends: c.yaml\n")
    write("c.yaml", "extends: a.yaml\n")
    text = problem_of("a.yaml")
    assert "cycle: a.yaml -> b.yaml -> c.yaml -> a.yaml" in text
    assert text.startswith("c.yaml:1:")


def test_self_extends_is_a_cycle(write: Write) -> None:
    write("a.yaml", "extends: a.yaml\n")
    assert "cycle: a.yaml -> a.yaml" in problem_of("a.yaml")


def test_diamond_extends_is_not_a_cycle(write: Write) -> None:
    write("root.yaml", JOB)
    write("l.yaml", "extends: root.yaml\nseed: 1\n")
    write("r.yaml", "extends: root.yaml\nname: r\n")
    write("top.yaml", "extends: [l.yaml, r.yaml]\n")
    data = load_spec("top.yaml").data
    assert (data["seed"], data["name"]) == (1, "r")


def test_missing_base_names_the_declaring_file_and_line(write: Write) -> None:
    write("child.yaml", "seed: 1\nextends: [gone.yaml]\n")
    text = problem_of("child.yaml")
    assert text.startswith("child.yaml:2:")
    assert "'extends' names a file that does not exist: gone.yaml" in text


@pytest.mark.parametrize("value", ["3", "[a.yaml, 3]", "{a: 1}", "''"])
def test_bad_extends_value(write: Write, value: str) -> None:
    write("child.yaml", f"extends: {value}\n")
    assert "'extends' takes a file path or a list of file paths" in problem_of("child.yaml")


def test_model_file_reference(write: Write) -> None:
    write("nets/net.yaml", ARCH)
    write(
        "train.yaml",
        JOB.replace(
            "model:\n  inputs: [4]\n  layers: [{type: Linear, out_features: 2}]\n",
            "model: nets/net.yaml\n",
        ),
    )
    loaded = load_spec("train.yaml")
    assert loaded.data["model"]["layers"][1] == "ReLU"
    assert loaded.kind == "job"
    assert loaded.arch is not None and loaded.job is not None
    assert loaded.arch is loaded.job.model
    location = loaded.location("model.layers[1]")
    assert location is not None
    assert (location.source, location.line) == (os.path.join("nets", "net.yaml"), 4)


def test_referenced_file_may_extend(write: Write) -> None:
    write("base_net.yaml", ARCH)
    write("net.yaml", "extends: base_net.yaml\ninputs: [5]\n")
    write("train.yaml", "model: net.yaml\ndata: {source: {type: sklearn, name: iris}}\n")
    data = load_spec("train.yaml").data
    assert data["model"]["inputs"] == [5]
    assert len(data["model"]["layers"]) == 3


def test_missing_model_file(write: Write) -> None:
    write("train.yaml", "data: {source: {type: sklearn, name: iris}}\nmodel: net.yaml\n")
    text = problem_of("train.yaml")
    assert text.startswith("train.yaml:2:1:")
    assert "'model' names a file that does not exist: net.yaml" in text


def test_params_file_reference(write: Write) -> None:
    write("net_params.json", '{"hidden": 32, "depth": 2}')
    write("net.yaml", "target: my_pkg.Net\nparams: net_params.json\n")
    loaded = load_spec("net.yaml")
    assert loaded.data["params"] == {"hidden": 32, "depth": 2}
    assert loaded.origin("params.hidden") == "net_params.json"


def test_params_reference_inside_a_list_and_in_data(write: Write) -> None:
    write("p/ds.yaml", "root: /data\n")
    write(
        "train.yaml",
        "model: {target: my_pkg.Net, params: p/ds.yaml}\n"
        "data: {source: {type: dataset, target: my_pkg.Ds, params: p/ds.yaml}}\n",
    )
    data = load_spec("train.yaml").data
    assert data["model"]["params"] == {"root": "/data"}
    assert data["data"]["source"]["params"] == {"root": "/data"}


def test_file_reference_cycle(write: Write) -> None:
    write("a.json", '{"params": "b.json"}')
    write("b.json", '{"params": "a.json"}')
    write("net.yaml", "target: x.Net\nparams: a.json\n")
    assert "cycle: a.json -> b.json -> a.json" in problem_of("net.yaml")


def test_here_is_the_folder_of_the_declaring_file(write: Write, tmp_path: Path) -> None:
    write("specs/base.yaml", JOB + "description: ${here}/data.h5\n")
    write("specs/sub/child.yaml", "extends: ../base.yaml\nname: ${here}\n")
    data = load_spec("specs/sub/child.yaml").data
    assert data["description"] == str(tmp_path / "specs" / "data.h5")
    assert data["name"] == str(tmp_path / "specs" / "sub")


def test_here_in_json_and_escaped(write: Write, tmp_path: Path) -> None:
    write("p.json", '{"a": "${here}/x", "b": "$${here}"}')
    write("net.yaml", "target: x.Net\nparams: p.json\n")
    params = load_spec("net.yaml").data["params"]
    assert params == {"a": f"{tmp_path}/x", "b": "${here}"}


def test_several_sources_merge_left_to_right(write: Write) -> None:
    write("a.yaml", JOB)
    write("b.yaml", "train: {epochs: 7}\n")
    loaded = load_spec("a.yaml", "b.yaml", {"seed": 4, "train": {"batch_size": 8}})
    train = loaded.data["train"]
    assert (train["epochs"], train["batch_size"], loaded.data["seed"]) == (7, 8, 4)
    assert loaded.origin("train.epochs") == "b.yaml"
    assert loaded.origin("seed") == "<mapping argument 3>"


def test_mapping_source_alone_with_paths_and_tuples() -> None:
    loaded = load_spec({"inputs": (4,), "layers": [{"type": "Linear", "out_features": 2}]})
    assert loaded.kind == "arch"
    assert loaded.data["inputs"] == [4]
    assert loaded.files == ()


def test_mapping_source_with_non_string_key() -> None:
    with pytest.raises(SpecError, match="keys must be strings"):
        load_spec({"inputs": [4], "layers": ["ReLU"], "x": {1: 2}})


def test_mapping_source_with_unsupported_value() -> None:
    with pytest.raises(SpecError, match="type object cannot be part of a spec"):
        load_spec({"inputs": [4], "layers": ["ReLU"], "x": object()})


def test_no_source() -> None:
    with pytest.raises(SpecError, match="no spec given"):
        load_spec()


def test_mapping_source_may_extend_a_file(write: Write) -> None:
    write("job.yaml", JOB)
    loaded = load_spec({"extends": "job.yaml", "seed": 3})
    assert loaded.data["seed"] == 3
    assert loaded.data["train"] == {"epochs": 2}
    assert loaded.files == ("job.yaml",)
