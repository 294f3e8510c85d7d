"""The flagship example as a pipeline: its graph, its checked job specs, its commands."""

from __future__ import annotations

from tests.conftest import EXAMPLES
from trainspec.pipelines import check_job_specs, describe
from trainspec.spec import load_pipeline, load_spec

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


def test_the_flagship_reads_edf_recordings_and_keeps_an_hdf5_variant() -> None:
    pipeline = load_pipeline(PIPELINE)
    commands = {s["name"]: s["command"] for s in describe(pipeline)}
    assert "--format edf" in commands["generate"]
    outputs = pipeline.data["steps"]["generate"]["outputs"]
    assert [o.rsplit("/", 1)[-1] for o in outputs.values()] == ["cohort_A", "cohort_B"]
    jobs = check_job_specs(pipeline)
    sources = {name: job["data"]["source"] for name, job in jobs.items()}
    assert {s["type"] for s in sources.values()} == {"edf"}
    assert sources["pretrain"]["path"].endswith("data/cohort_A")
    assert sources["finetune"]["path"].endswith("data/cohort_B")
    assert sources["finetune"]["covariates"] == sources["pretrain"]["covariates"]
    folder = EXAMPLES / "sleep_staging"
    for name, cohort in (("pretrain_hdf5", "cohort_A.h5"), ("finetune_hdf5", "cohort_B.h5")):
        job = load_spec(folder / f"{name}.yaml").job
        assert job is not None and job.data.source.type == "hdf5"
        assert job.data.source.path.endswith(cohort)  # type: ignore[union-attr]
