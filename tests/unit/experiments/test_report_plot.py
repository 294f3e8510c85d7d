"""The report's plots (matplotlib, inline SVG) and pages (jinja2): well-formed, every curve
named, counts legible, log-sampled parameters on log axes, text escaped, matplotlib loaded
only when a report is drawn."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from trainspec.experiments._report_page import render_report_page
from trainspec.experiments._report_plot import (
    confusion_figure,
    contrast,
    line_chart,
    render_report_plot,
    scatter,
    style,
)
from trainspec.experiments._report_run import curves

NS = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg" and root.get("class") == "plot"
    return root


def groups(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("id", ""): g for g in root.iter(f"{NS}g")}


def texts(element: ET.Element) -> list[str]:
    return [t.text or "" for t in element.iter(f"{NS}text")]


def tips(root: ET.Element, kind: str) -> list[str]:
    """Hover titles of the marks whose id holds ``kind``, in drawing order."""
    return [g.findtext(f"{NS}title") or "" for i, g in groups(root).items() if kind in i]


def legend(root: ET.Element) -> list[str]:
    return texts(next(g for i, g in groups(root).items() if i.startswith("legend")))


def test_every_learning_curve_is_labelled_train_or_val() -> None:
    history = [
        {"epoch": e, "train/loss": 1 / e, "val/loss": 1.2 / e, "val/accuracy": 0.5 + e / 10}
        for e in (1, 2, 3)
    ]
    plots = [parse(svg) for svg in curves({"": history})]
    assert [p.get("aria-label") for p in plots] == ["loss", "accuracy"]
    assert tips(plots[0], "curve") == legend(plots[0]) == ["train", "val"]
    assert tips(plots[1], "curve") == legend(plots[1]) == ["val"]  # even one line is named
    folds = parse(curves({"fold 0": history, "fold 1": history})[0])
    assert set(legend(folds)) == {"fold 0 train", "fold 0 val", "fold 1 train", "fold 1 val"}


def test_a_nan_leaves_a_gap_and_the_svg_is_the_same_every_time() -> None:
    series = {"train": [(1.0, 2.0), (2.0, math.nan), (3.0, 1.0)], "val": [(1.0, 2.5)]}
    svg = line_chart("loss", series, ylabel="loss")
    parse(svg)
    assert "nan" not in svg.lower()
    assert line_chart("loss", series, ylabel="loss") == svg  # fixed hash salt, no date


def test_text_is_escaped_and_nothing_outside_the_svg_is_referenced() -> None:
    svg = scatter("a <b> & c", [(0.0, 1.0), (1.0, 2.0)], xlabel="x<", ylabel="y&")
    root = parse(svg)
    assert root.get("aria-label") == "a <b> & c"
    assert {"a <b> & c", "x<", "y&"} <= set(texts(root))
    assert not re.search(r"(href|url)\(?=?\"?(?!#)[a-z]+:", svg)  # only local #fragments
    assert "<?xml" not in svg and "DOCTYPE" not in svg and "<metadata" not in svg


def _confusion(matrix: list[list[int]], labels: list[str]) -> ET.Element:
    return parse(render_report_plot("cm", lambda: confusion_figure("cm", matrix, labels)))


def test_confusion_cells_say_count_and_share_of_the_true_class() -> None:
    root = _confusion([[5, 1], [0, 4]], ["cat", "dog"])
    assert tips(root, "cell-") == [
        "true cat, predicted cat: 5 (83.3% of true cat)",
        "true cat, predicted dog: 1 (16.7% of true cat)",
        "true dog, predicted cat: 0 (0.0% of true dog)",
        "true dog, predicted dog: 4 (100.0% of true dog)",
    ]


def _rgb(style_text: str) -> tuple[float, float, float]:
    found = re.search(r"fill: #([0-9a-f]{6})", style_text)
    code = found.group(1) if found else "000000"  # matplotlib leaves black text unstyled
    return tuple(int(code[k : k + 2], 16) / 255 for k in (0, 2, 4))  # type: ignore[return-value]


@pytest.mark.parametrize("n", [2, 10])
def test_confusion_counts_contrast_with_their_cells_and_rows_show_percentages(n: int) -> None:
    """Counts from 0 to the largest, on cells from the palest to the darkest: each count is
    legible (WCAG AA contrast, 4.5:1) and its row share is written below it."""
    matrix = [[(i * 7 + j * 3) % 11 + (40 if i == j else 0) for j in range(n)] for i in range(n)]
    found = groups(_confusion(matrix, [str(k) for k in range(n)]))
    for i, row in enumerate(matrix):
        fills = []
        for j, value in enumerate(row):
            cell = _rgb(found[f"cell-{i}-{j}"].find(f"{NS}path").get("style", ""))  # type: ignore[union-attr]
            fills.append(cell)
            for kind in ("count", "share"):
                text = found[f"{kind}-{i}-{j}"].find(f"{NS}text")
                assert text is not None
                assert contrast(_rgb(text.get("style", "")), cell) >= 4.5
            share = value / sum(row)
            written = found[f"share-{i}-{j}"].findtext(f"{NS}text")
            assert found[f"count-{i}-{j}"].findtext(f"{NS}text") == str(value)
            assert written == ("<1%" if 0 < share < 0.01 else f"{100 * share:.0f}%")
        # Shaded by the row's share: the diagonal (the row's largest count) is darkest.
        assert min(fills, key=sum) == fills[i]


def test_many_classes_keep_legible_counts_or_say_them_on_hover() -> None:
    """14 classes: each cell holds its count alone (legible); 23: cells are too small for
    text, and every cell's title still has its count and share."""
    for n, written in ((14, True), (23, False)):
        matrix = [[5 if i == j else 1 for j in range(n)] for i in range(n)]
        root = _confusion(matrix, [f"class {k}" for k in range(n)])
        found = groups(root)
        assert not any(i.startswith("share-") for i in found)
        assert sum(i.startswith("count-") for i in found) == (n * n if written else 0)
        if written:
            cell = _rgb(found["cell-3-3"].find(f"{NS}path").get("style", ""))  # type: ignore[union-attr]
            text = found["count-3-3"].find(f"{NS}text")
            assert text is not None and text.text == "5"
            assert contrast(_rgb(text.get("style", "")), cell) >= 4.5
        share = 100 / (5 + n - 1)
        assert (
            tips(root, "cell-")[1]
            == f"true class 0, predicted class 1: 1 ({share:.1f}% of true class 0)"
        )


def test_a_hundred_classes_make_one_shaded_image() -> None:
    n = 100
    svg = render_report_plot(
        "cm",
        lambda: confusion_figure("cm", [[1] * n for _ in range(n)], [str(k) for k in range(n)]),
    )
    root = parse(svg)
    assert not any(i.startswith("cell-") for i in groups(root))
    assert len(root.findall(f".//{NS}image")) == 2  # the matrix and its colour bar
    assert len(svg) < 200_000


def _study(n: int, *, objectives: int = 1) -> Any:
    """A study of ``n`` finished trials over a log-sampled ``lr`` and a linear ``width``."""
    import optuna
    from optuna.distributions import FloatDistribution, IntDistribution

    study = optuna.create_study(directions=["maximize"] * objectives)
    space = {"lr": FloatDistribution(1e-4, 1e-1, log=True), "width": IntDistribution(8, 64)}
    rows = [(1e-4, 8, 0.5), (1e-3, 16, 0.7), (1e-2, 64, 0.9), (3e-3, 32, 0.8)][:n]
    for lr, width, acc in rows:
        trial = optuna.trial.create_trial(
            params={"lr": lr, "width": width},
            distributions=space,
            values=[acc, 1 - acc][:objectives],
        )
        study.add_trial(trial)
    return study


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_log_sampled_parameters_get_log_axes() -> None:
    from trainspec.experiments._report_sweep import parallel_axes, sweep_plots

    study = _study(4)
    with style("pc"):
        ax = parallel_axes(study, [("acc", "maximize")], ["lr", "width"], {"lr"})
        names = [t.get_text() for t in ax.get_xticklabels()]
        scales = {a.get_ylabel() or i: a.get_yscale() for i, a in enumerate(ax.figure.axes)}
    assert "lr (log)" in names and "width" in names and "width (log)" not in names
    assert sorted(scales.values()).count("log") == 1  # the lr axis only
    plots = sweep_plots(study, [("acc", "maximize")], ["lr", "width"], {"lr"}, 4)[0]
    roots = [parse(svg) for svg in plots]
    labels = [r.get("aria-label") for r in roots]
    assert labels == [
        "optimisation history (acc, maximize)",
        "parallel coordinates",
        "parameter importance for acc",
    ]
    assert "lr (log)" in texts(roots[1])


def test_several_objectives_get_a_pareto_front_and_an_importance_plot_each() -> None:
    from trainspec.experiments._report_sweep import sweep_plots

    goals = [("acc", "maximize"), ("err", "maximize")]
    plots, note = sweep_plots(_study(4, objectives=2), goals, ["lr", "width"], {"lr"}, 4)
    labels = [parse(svg).get("aria-label") for svg in plots]
    assert labels[0] == "Pareto front (acc, err)" and note is None
    assert labels[2:] == ["parameter importance for acc", "parameter importance for err"]


def test_one_completed_trial_gets_its_history_only() -> None:
    from trainspec.experiments._report_sweep import sweep_plots

    plots, _ = sweep_plots(_study(1), [("acc", "maximize")], ["lr", "width"], {"lr"}, 1)
    assert [parse(svg).get("aria-label") for svg in plots] == [
        "optimisation history (acc, maximize)"
    ]


def test_pages_escape_values_and_keep_plots_as_markup() -> None:
    svg = scatter("pts", [(0.0, 1.0)], xlabel="x", ylabel="y")
    page = render_report_page(
        "sweep.html.j2",
        title="<script>alert(1)</script>",
        subtitle="s & t",
        counts=[("complete", 1)],
        goals=[("acc", "maximize")],
        metrics=["acc"],
        params=["<img src=x>"],
        trials=[[0, "COMPLETE", 0.5, 1e-3]],
        plots={"optimisation": [svg], "curves": []},
        note=None,
        spec="a: <b>",
    )
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    assert "&lt;img src=x&gt;" in page and "a: &lt;b&gt;" in page and "s &amp; t" in page
    assert svg in page  # the plot itself is not escaped
    assert page.startswith("<!DOCTYPE html>") and "<p>no data</p>" in page


def _modules_after(code: str, env: dict[str, str] | None = None) -> tuple[set[str], str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env
    )
    return set(__import__("json").loads(out.stdout.strip().splitlines()[-1])), out.stderr


def test_validate_and_the_report_modules_do_not_load_matplotlib_or_jinja2() -> None:
    from tests.conftest import EXAMPLES

    code = (
        "import trainspec.experiments, trainspec.pipelines\n"
        "from trainspec.cli import main\nimport sys\n"
        f"sys.argv = ['trainspec', 'validate', {str(EXAMPLES / 'digits' / 'train.yaml')!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
    )
    modules, _ = _modules_after(code)
    assert not {"matplotlib", "jinja2", "optuna"} & modules


def test_matplotlib_gets_a_stable_cache_folder_where_home_is_not_writable(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CACHE_HOME")}
    env.update(HOME=str(tmp_path / "file" / "home"), TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    code = (
        "import os\nfrom trainspec.experiments._report_plot import scatter\n"
        "scatter('p', [(0.0, 1.0)], xlabel='x', ylabel='y')\n"
        "print(os.environ['MPLCONFIGDIR'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    folder = Path(out.stdout.strip())
    assert folder.parent == tmp_path / "tmp" and folder.name.startswith("trainspec-matplotlib")
    assert any(folder.glob("fontlist-*.json"))  # the font cache is kept for the next run
    assert "temporary cache directory" not in out.stderr
    # A folder of that name that others can write is not trusted (matplotlib reads its
    # settings there): matplotlib is left to make its own.
    folder.chmod(0o777)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert Path(out.stdout.strip()).name.startswith("matplotlib-")  # its own, made afresh
