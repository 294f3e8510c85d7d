"""The flagship example as a pipeline: its graph, its checked job specs, its commands."""

from __future__ import annotations

from tests.conftest import EXAMPLES
from trainspec.pipelines import check_job_specs, describe
from trainspec.spec import load_pipeline

PIPELINE = EXAMPLES / "sleep_staging" / "pipeline.yaml"


def test_sleep_staging_pipeline_graph_and_commands() -> None:
    pipeline = load_pipeline(PIPELINE)
    assert pipeline.order == (
        "generate",
        "pretrain",
        "finetune",
        "pretrained_on_a",
        "pretrained_on_b",
        "finetuned_on_b",
        "report",
    )
    needs = {name: set(ups) for name, ups in pipeline.needs.items()}
    assert needs["finetune"] == {"generate", "pretrain"}
    assert needs["pretrained_on_b"] == {"generate", "pretrain", "finetune"}
    assert needs["report"] == {"finetune"}
    jobs = check_job_specs(pipeline)  # the static checks every run starts with
    assert set(jobs) == {"pretrain", "finetune"}
    commands = {s["name"]: s["command"] for s in describe(pipeline)}
    assert commands["pretrained_on_b"].startswith("trainspec evaluate '${steps.pretrain.run_dir}'")
    assert "--split test --splits-from '${steps.finetune.run_dir}'" in commands["pretrained_on_b"]
    assert "'finetune.init.from=${steps.pretrain.run_dir}'" in commands["finetune"]
