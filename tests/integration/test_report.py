"""HTML reports of a classification run, a regression run and a cross-validation: one file,
no external resource, well-formed plots; rendered in headless Chromium where it is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.unit.experiments.sweep_support import digits_job

pytestmark = pytest.mark.integration

BROWSER = next(
    (b for b in ("chromium-headless-shell", "chromium", "chromium-browser") if shutil.which(b)),
    None,
)


def assert_self_contained(html: str) -> list[str]:
    """No file, font, style or script from elsewhere; every plot is well-formed SVG."""
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|img|link|iframe)[^>]*\b(src|href)=", html)
    assert "@import" not in html
    # References only to the page's own ids (SVG clip paths), inline data (a colour bar) or
    # sibling pages.
    assert not re.findall(r"url\((?!#)", html)
    assert not re.findall(r'href="(?!#|data:)[a-z]+:', html)
    plots = re.findall(r'<svg class="plot".*?</svg>', html, flags=re.S)
    for svg in plots:
        ET.fromstring(svg)  # raises on malformed markup
    return plots


def assert_renders(path: Path, *, min_plots: int) -> None:
    """Structure always; in headless Chromium when installed: loads without console errors
    and lays out at least ``min_plots`` plots with a size."""
    plots = assert_self_contained(path.read_text(encoding="utf-8"))
    assert len(plots) >= min_plots
    if BROWSER is None:
        pytest.skip("no headless Chromium here (apt-get install chromium-headless-shell)")
    res = subprocess.run(
        [
            BROWSER,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
            path.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    errors = [line for line in res.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not errors, errors
    laid_out = re.search(r'data-plots="(\d+)"', res.stdout)
    assert laid_out is not None, "the page's check script did not run"
    assert int(laid_out.group(1)) == len(plots) >= min_plots


def _train(job: Path, run_dir: Path) -> Path:
    from trainspec.experiments import run_experiment

    run_experiment(str(job), run_dir=run_dir, progress="none")
    return run_dir


def test_classification_run_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainspec.experiments._report import write_report

    monkeypatch.chdir(tmp_path)
    run = _train(digits_job(tmp_path, epochs=2), tmp_path / "run")
    out = write_report(run, tmp_path / "report.html")
    html = out.read_text()
    assert "confusion matrix (val" in html
    assert "Learning curves" in html and "Environment" in html and "digits-tiny" in html
    assert "predictions could not be computed" not in html
    # Every validation digit counted once in the matrix.
    n_val = len(json.loads((run / "splits.json").read_text())["folds"][0]["val"])
    cells = re.findall(r"<title>true (\d), predicted (\d): (\d+) \(([\d.]+)% of true", html)
    assert sum(int(n) for _, _, n, _ in cells) == n_val
    for true in "0123456789":  # each true class's row shares add up to 100%
        shares = [float(pct) for t, _, _, pct in cells if t == true]
        assert sum(shares) == pytest.approx(100, abs=0.6)
    # Every learning curve says which split it is.
    lines = re.findall(r'<g id="[^"]*-curve-\d+"><title>([^<]*)</title>', html)
    assert lines and set(lines) <= {"train", "val"} and {"train", "val"} <= set(lines)
    assert_renders(out, min_plots=3)


def test_estimator_run_report_has_its_confusion_matrix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trainspec.experiments._report import write_report

    monkeypatch.chdir(tmp_path)
    job_path = digits_job(tmp_path)
    job = yaml.safe_load(job_path.read_text())
    job.pop("sweep", None)
    job["model"] = {
        "target": "sklearn.linear_model.LogisticRegression",
        "params": {"max_iter": 200},
    }
    job_path.write_text(yaml.safe_dump(job))
    run = _train(job_path, tmp_path / "run")
    html = write_report(run, tmp_path / "report.html").read_text()
    assert "predictions could not be computed" not in html
    assert "confusion matrix (val" in html
    n_val = len(json.loads((run / "splits.json").read_text())["folds"][0]["val"])
    cells = re.findall(r"<title>true (\d), predicted (\d): (\d+) \(", html)
    assert sum(int(n) for _, _, n in cells) == n_val
    right = sum(int(n) for t, p, n in cells if t == p)
    assert right / n_val > 0.85  # the estimator's own predictions, not placeholders


def test_regression_run_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainspec.experiments._report import write_report

    monkeypatch.chdir(tmp_path)
    job = yaml.safe_load(digits_job(tmp_path).read_text())
    job.update(task="regression", name="diabetes")
    job["data"]["source"]["name"] = "diabetes"
    job["data"]["split"] = {"method": "holdout", "ratios": {"train": 0.8, "val": 0.2}}
    job["model"] = {"inputs": [10], "layers": [{"type": "Linear", "out_features": 8}, "ReLU",
                                               {"type": "Linear", "out_features": 1}]}  # fmt: skip
    job["train"].update(metrics=["rmse"], monitor={"metric": "val/rmse", "mode": "min"})
    path = tmp_path / "reg.yaml"
    path.write_text(yaml.safe_dump(job))
    out = write_report(_train(path, tmp_path / "run"), tmp_path / "report.html")
    html = out.read_text()
    assert "predicted against true (val)" in html and "residuals (val)" in html
    assert "confusion matrix" not in html
    assert_renders(out, min_plots=4)


def test_cross_validation_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from trainspec.experiments._report import write_report

    monkeypatch.chdir(tmp_path)
    split = {"method": "stratified_kfold", "folds": 2}
    run = _train(digits_job(tmp_path, split=split), tmp_path / "cv")
    html = write_report(run, tmp_path / "report.html").read_text()
    assert "cross-validation (best epoch of each fold)" in html
    # A curve per fold and split, each named (the accuracy plot has the val curves only).
    for name in ("fold 0 train", "fold 0 val", "fold 1 train", "fold 1 val"):
        assert f"<title>{name}</title>" in html
    assert "confusion matrix (val" in html


def test_report_of_something_else_is_a_clear_error(tmp_path: Path) -> None:
    from trainspec.errors import TrainspecError
    from trainspec.experiments._report import write_report

    with pytest.raises(TrainspecError, match="neither a run directory"):
        write_report(tmp_path, tmp_path / "r.html")
