"""The report of a pipeline run: the evaluations with the command behind each number, and a
link to the report of every run a step wrote, written beside the page."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_report import assert_self_contained
from trainspec.pipelines import write_pipeline_report


def _record(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "fit"
    run.mkdir(parents=True)
    (run / "config.yaml").write_text("name: fit\n")
    rows = [{"epoch": e, "train/loss": 1 / e, "val/loss": 1.5 / e} for e in (1, 2)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    scores = [(tmp_path / f"{s}.evaluation.json", s) for s in ("val", "test")]
    for path, split in scores:
        metrics = {"accuracy": 0.91234} if split == "val" else {"accuracy": 0.5, "kappa": 0.25}
        path.write_text(json.dumps({"split": split, "n": 40, "metrics": metrics}))
    steps = {
        "fit": {"state": "finished", "dir": str(run), "seconds": 1.5, "command": "trainspec train"},
        **{
            f"eval_{split}": {
                "state": "cached",
                "outputs": {"out": str(path)},
                "command": f"trainspec evaluate <{split}>",
            }
            for path, split in scores
        },
    }
    folder = tmp_path / "pipe"
    folder.mkdir()
    record = {"name": "p", "state": "finished", "started": "t0", "ended": "t1", "steps": steps,
              "edges": [["fit", "eval_val"], ["fit", "eval_test"]]}  # fmt: skip
    (folder / "pipeline.json").write_text(json.dumps(record))
    return folder


def test_evaluations_and_links_to_each_run_report(tmp_path: Path) -> None:
    page_path = write_pipeline_report(_record(tmp_path), tmp_path / "out" / "p.html")
    page = page_path.read_text()
    assert_self_contained(page)
    assert '<a href="p-fit.html">report</a>' in page
    run_page = (tmp_path / "out" / "p-fit.html").read_text()
    assert len(assert_self_contained(run_page)) == 1  # the loss curves (train and val)
    assert "<title>train</title>" in run_page and "<title>val</title>" in run_page
    # One row per evaluate step, its command escaped; a metric it lacks shows as nan.
    evaluations = page[page.index('id="evaluations"') :]
    assert "<td>0.9123</td><td>nan</td>" in evaluations
    assert "<td>0.5000</td><td>0.2500</td>" in evaluations
    assert "trainspec evaluate &lt;test&gt;" in evaluations
    assert page.count('<g id="edge-') == 2 and page.count('<g id="step-') == 3
