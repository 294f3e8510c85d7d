"""Malformed specs, by class: each is refused by ``validate`` and by ``train`` with exit
status 2, one message naming the file, the line and the key path (or the command-line
argument), no traceback, and nothing written (no run directory, no tracking store).

Classes: schema keys and values; component names and parameters (optimizers, schedulers,
losses, metrics, blocks, transforms); graph references and cycles; import paths and the
allow-list; the monitored metric; the split; data paths and the keys roles name; YAML and
file problems; extends, file references, interpolation and overrides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import GRAPH, JOB, Run


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str]
    where: str  # "file:line" (or an override's label) the message must cite
    key: str  # the key path the message must name
    args: tuple[str, ...] = ()
    says: tuple[str, ...] = field(default=())  # other words the message must hold


def job(old: str, new: str, base: str = JOB) -> dict[str, str]:
    assert old in base, old
    return {"job.yaml": base.replace(old, new, 1)}


def graph(old: str, new: str) -> dict[str, str]:
    return job(old, new, GRAPH)


OPT = "  optimizer: {name: AdamW, lr: 0.01}"
EPOCHS = "  epochs: 1"
SOURCE = "  source: {type: csv, path: data.csv}"
LAYER0 = "    - {type: Linear, out_features: 8}"
TARGET = "  target: label"
FEATURES = "  features: [a, b, c]"

SCHEMA = [
    Case(
        "unknown-top-key",
        job("run: {root: runs}", "run: {root: runs}\nepohcs: 3"),
        "job.yaml:15",
        "epohcs",
    ),
    Case(
        "misspelled-train-key",
        job(EPOCHS, "  epoch: 1"),
        "job.yaml:11",
        "train.epoch",
        says=("epochs",),
    ),
    Case("wrong-type", job(EPOCHS, "  epochs: ten"), "job.yaml:11", "train.epochs"),
    Case(
        "below-minimum",
        job("  batch_size: 4", "  batch_size: -1"),
        "job.yaml:12",
        "train.batch_size",
    ),
    Case(
        "bad-choice", job(EPOCHS, EPOCHS + "\n  precision: fp64"), "job.yaml:12", "train.precision"
    ),
    Case("bad-device", job(EPOCHS, EPOCHS + "\n  device: gpu"), "job.yaml:12", "train.device"),
    Case(
        "zero-lr",
        job(OPT, "  optimizer: {name: AdamW, lr: 0}"),
        "job.yaml:13",
        "train.optimizer.lr",
    ),
    Case(
        "unknown-source-type",
        job(SOURCE, "  source: {type: cvs, path: data.csv}"),
        "job.yaml:7",
        "data.source.type",
        says=("csv",),
    ),
    Case(
        "ratios-sum",
        job(FEATURES, FEATURES + "\n  split: {ratios: {train: 0.5, val: 0.2}}"),
        "job.yaml:10",
        "data.split",
        says=("sum to 1",),
    ),
    Case(
        "kfold-without-folds",
        job(FEATURES, FEATURES + "\n  split: {method: kfold}"),
        "job.yaml:10",
        "data.split",
        says=("folds",),
    ),
    Case(
        "fold-out-of-range",
        job(FEATURES, FEATURES + "\n  split: {method: kfold, folds: 3, fold: 3}"),
        "job.yaml:10",
        "data.split",
    ),
    Case(
        "features-and-inputs",
        job(FEATURES, FEATURES + "\n  inputs: {x: [a]}"),
        "job.yaml:6",
        "data",
    ),
]

COMPONENTS = [
    Case(
        "optimizer-name",
        job(OPT, "  optimizer: {name: Adamw2, lr: 0.01}"),
        "job.yaml:13",
        "train.optimizer.name",
        says=("did you mean 'AdamW'",),
    ),
    Case(
        "optimizer-param",
        job(OPT, "  optimizer: {name: AdamW, lr: 0.01, weight_decy: 0.1}"),
        "job.yaml:13",
        "train.optimizer.weight_decy",
        says=("weight_decay",),
    ),
    Case(
        "scheduler-name",
        job(OPT, OPT + "\n  scheduler: {name: cosin}"),
        "job.yaml:14",
        "train.scheduler.name",
        says=("cosine",),
    ),
    Case(
        "scheduler-missing-param",
        job(OPT, OPT + "\n  scheduler: {name: StepLR}"),
        "job.yaml:14",
        "train.scheduler.step_size",
    ),
    Case(
        "scheduler-param",
        job(OPT, OPT + "\n  scheduler: {name: cosine, eta_mn: 0}"),
        "job.yaml:14",
        "train.scheduler.eta_mn",
        says=("eta_min",),
    ),
    Case(
        "loss-name",
        job(OPT, OPT + "\n  loss: {name: crossentropy}"),
        "job.yaml:14",
        "train.loss.name",
    ),
    Case(
        "loss-reserved-param",
        job(OPT, OPT + "\n  loss: {name: cross_entropy, reduction: sum}"),
        "job.yaml:14",
        "train.loss.reduction",
        says=("cannot be set",),
    ),
    Case(
        "loss-param",
        job(OPT, OPT + "\n  loss: {name: cross_entropy, label_smothing: 0.1}"),
        "job.yaml:14",
        "train.loss.label_smothing",
        says=("label_smoothing",),
    ),
    Case(
        "metric-name",
        job(OPT, OPT + "\n  metrics: [acuracy]"),
        "job.yaml:14",
        "train.metrics[0]",
        says=("accuracy",),
    ),
    Case(
        "block-type",
        job(LAYER0, "    - {type: Linaer, out_features: 8}"),
        "job.yaml:3",
        "model.layers[0].type",
        says=("Linear",),
    ),
    Case(
        "block-type-short-form",
        job("    - ReLU", "    - Relu"),
        "job.yaml:4",
        "model.layers[1]",
        says=("ReLU",),
    ),
    Case(
        "block-param",
        job(LAYER0, "    - {type: Linear, out_feature: 8}"),
        "job.yaml:3",
        "model.layers[0].out_feature",
        says=("out_features",),
    ),
    Case(
        "block-missing-param",
        job(LAYER0, "    - {type: Linear}"),
        "job.yaml:3",
        "model.layers[0].out_features",
    ),
    Case(
        "block-engine-param",
        job(LAYER0, "    - {type: Linear, out_features: 8, device: cpu}"),
        "job.yaml:3",
        "model.layers[0].device",
    ),
    Case(
        "registered-block-param",
        job(LAYER0, "    - {type: dense_stack, unitz: [8]}"),
        "job.yaml:3",
        "model.layers[0].unitz",
    ),
    Case(
        "in-in-sequential",
        job(LAYER0, "    - {type: Linear, out_features: 8, in: x}"),
        "job.yaml:3",
        "model.layers[0].in",
    ),
    Case(
        "transform-name",
        job(FEATURES, FEATURES + "\n  transforms: [{type: standardice}]"),
        "job.yaml:10",
        "data.transforms[0].type",
        says=("standardize",),
    ),
    Case(
        "transform-param",
        job(FEATURES, FEATURES + "\n  transforms: [{type: gaussian_noise, sigm: 0.1}]"),
        "job.yaml:10",
        "data.transforms[0].sigm",
    ),
    Case(
        "transform-order",
        job(
            FEATURES,
            FEATURES + "\n  transforms:\n    - {type: standardize}\n"
            "    - {type: resample, factor: 2}",
        ),
        "job.yaml:12",
        "data.transforms[1]",
        says=("signal",),
    ),
]

GRAPHS = [
    Case(
        "in-unknown",
        graph("in: hidden}", "in: hiden}"),
        "job.yaml:5",
        "model.blocks.act.in",
        says=("hidden",),
    ),
    Case(
        "in-list-unknown",
        graph("in: act}", "in: [act, nope]}"),
        "job.yaml:6",
        "model.blocks.head.in[1]",
    ),
    Case(
        "cycle",
        graph(
            "    hidden: {type: Linear, out_features: 8}",
            "    hidden: {type: Linear, out_features: 8, in: act}",
        ),
        "job.yaml:4",
        "model.blocks",
        says=("cycle",),
    ),
    Case(
        "outputs-unknown",
        graph("  outputs: head", "  outputs: heads"),
        "job.yaml:7",
        "model.outputs",
        says=("head",),
    ),
]

IMPORTS = [
    Case(
        "block-os-system",
        job(LAYER0, "    - {type: os.system}"),
        "job.yaml:3",
        "model.layers[0].type",
        says=("refused",),
    ),
    Case(
        "block-not-allowed",
        job(LAYER0, "    - {type: numpy.linalg.norm}"),
        "job.yaml:3",
        "model.layers[0].type",
        says=("allow_imports",),
    ),
    Case(
        "model-target-os",
        {"job.yaml": "model: {target: os.system}\ndata: {source: {type: sklearn, name: iris}}\n"},
        "job.yaml:1",
        "model.target",
        says=("refused",),
    ),
    Case(
        "model-target-subprocess",
        {
            "job.yaml": "model:\n  target: subprocess.Popen\n"
            "data: {source: {type: sklearn, name: iris}}\n"
        },
        "job.yaml:2",
        "model.target",
    ),
    Case(
        "allow-os",
        job("model:", "allow_imports: [os]\nmodel:"),
        "job.yaml:1",
        "allow_imports[0]",
        says=("cannot be allowed",),
    ),
    Case(
        "allow-subprocess-sub",
        job("model:", "allow_imports: [subprocess.run]\nmodel:"),
        "job.yaml:1",
        "allow_imports[0]",
    ),
    Case(
        "allow-not-a-name",
        job("model:", "allow_imports: ['my pkg']\nmodel:"),
        "job.yaml:1",
        "allow_imports[0]",
    ),
    Case(
        "metric-builtins",
        job(OPT, OPT + "\n  metrics: [builtins.eval]"),
        "job.yaml:14",
        "train.metrics[0]",
        says=("refused",),
    ),
    Case(
        "transform-shutil",
        job(FEATURES, FEATURES + "\n  transforms: [{type: shutil.rmtree}]"),
        "job.yaml:10",
        "data.transforms[0].type",
    ),
    Case(
        "dataset-pickle",
        {
            "job.yaml": "model: {layers: [{type: Linear, out_features: 2}]}\ndata:\n"
            "  source: {type: dataset, target: pickle.loads}\n"
        },
        "job.yaml:3",
        "data.source.target",
    ),
    Case(
        "collate-os",
        {
            "job.yaml": "allow_imports: [mypkg]\nmodel: {layers: [{type: Linear, out_features: 2}]}"
            "\ndata:\n  source: {type: dataset, target: mypkg.Data, collate_fn: os.system}\n"
        },
        "job.yaml:4",
        "data.source.collate_fn",
    ),
    Case(
        "optimizer-os",
        job(OPT, "  optimizer: {name: os.system, lr: 0.01}"),
        "job.yaml:13",
        "train.optimizer.name",
    ),
    Case(
        "loss-torch-load",
        job(OPT, OPT + "\n  loss: {name: torch.load}"),
        "job.yaml:14",
        "train.loss.name",
        says=("refused",),
    ),
    Case(
        "module-not-found",
        job(
            "model:\n  layers:\n    - {type: Linear, out_features: 8}",
            "allow_imports: [no_such_pkg_xyz]\nmodel:\n  layers:\n"
            "    - {type: no_such_pkg_xyz.Net}",
        ),
        "job.yaml:4",
        "model.layers[0].type",
        says=("cannot be found",),
    ),
]

MONITOR_SPLIT = [
    Case(
        "monitor-unknown",
        job(OPT, OPT + "\n  monitor: {metric: val/f1}"),
        "job.yaml:14",
        "train.monitor.metric",
        says=("val/accuracy",),
    ),
    Case(
        "monitor-no-val",
        job(
            OPT,
            OPT + "\n  monitor: {metric: val/loss}",
            JOB.replace(FEATURES, FEATURES + "\n  split: {method: holdout, ratios: {train: 1}}"),
        ),
        "job.yaml:15",
        "train.monitor.metric",
        says=("no validation",),
    ),
    Case(
        "group-split-no-group",
        job(FEATURES, FEATURES + "\n  split: {method: group}"),
        "job.yaml:10",
        "data.split.method",
        says=("data.group",),
    ),
    Case(
        "folds-without-kfold",
        job(FEATURES, FEATURES + "\n  split: {method: holdout, folds: 3}"),
        "job.yaml:10",
        "data.split.folds",
    ),
    Case(
        "kfold-extra-split",
        job(
            FEATURES,
            FEATURES + "\n  split: {method: kfold, folds: 2, ratios: {train: 0.5, dev: 0.5}}",
        ),
        "job.yaml:10",
        "data.split.ratios",
    ),
    Case(
        "refit-without-kfold",
        job(EPOCHS, EPOCHS + "\n  refit: true"),
        "job.yaml:12",
        "train.refit",
        says=("k-fold", "'stratified'"),
    ),
    Case(
        "refit-one-fold",
        job(
            EPOCHS,
            EPOCHS + "\n  refit: true",
            job(FEATURES, FEATURES + "\n  split: {method: kfold, folds: 2, fold: 1}")["job.yaml"],
        ),
        "job.yaml:13",
        "train.refit",
        says=("one fold",),
    ),
]

DATA = [
    Case(
        "data-missing",
        job(SOURCE, "  source: {type: csv, path: nope.csv}"),
        "job.yaml:7",
        "data.source.path",
        says=("does not exist",),
    ),
    Case(
        "data-folder-not-file",
        job(SOURCE, "  source: {type: csv, path: records}"),
        "job.yaml:7",
        "data.source.path",
        says=("folder",),
    ),
    Case(
        "folder-is-file",
        job(SOURCE, "  source: {type: folder, path: data.csv, manifest: m.csv}"),
        "job.yaml:7",
        "data.source.path",
    ),
    Case(
        "manifest-missing",
        job(SOURCE, "  source: {type: folder, path: records, manifest: m.csv}"),
        "job.yaml:7",
        "data.source.manifest",
    ),
    Case(
        "parquet-missing",
        job(SOURCE, "  source: {type: parquet, path: d.parquet}"),
        "job.yaml:7",
        "data.source.path",
    ),
    Case(
        "target-column",
        job(TARGET, "  target: lable"),
        "job.yaml:8",
        "data.target",
        says=("label",),
    ),
    Case(
        "group-column",
        job(TARGET, TARGET + "\n  group: subjct"),
        "job.yaml:9",
        "data.group",
        says=("subject",),
    ),
    Case("id-column", job(TARGET, TARGET + "\n  id: rowid"), "job.yaml:9", "data.id"),
    Case("weight-column", job(TARGET, TARGET + "\n  weight: wt"), "job.yaml:9", "data.weight"),
    Case(
        "weight-key-column",
        job(TARGET, TARGET + "\n  weight: {key: wt}"),
        "job.yaml:9",
        "data.weight.key",
    ),
    Case(
        "feature-column", job(FEATURES, "  features: [a, b, d]"), "job.yaml:9", "data.features[2]"
    ),
    Case(
        "inputs-column",
        job(FEATURES, "  inputs: {x: {columns: [a, bb]}}"),
        "job.yaml:9",
        "data.inputs.x.columns[1]",
    ),
    Case(
        "split-column",
        job(FEATURES, FEATURES + "\n  split: {method: predefined, column: folds}"),
        "job.yaml:10",
        "data.split.column",
        says=("fold",),
    ),
    Case(
        "sklearn-target",
        {
            "job.yaml": "model: {layers: [{type: Linear, out_features: 3}]}\ndata:\n"
            "  source: {type: sklearn, name: iris}\n  target: label\n"
        },
        "job.yaml:4",
        "data.target",
        says=("target",),
    ),
    Case(
        "npz-key",
        job(
            SOURCE,
            "  source: {type: npz, path: arrays.npz}",
            JOB.replace(FEATURES, "  features: z").replace(TARGET, "  target: y"),
        ),
        "job.yaml:9",
        "data.features",
        says=("x",),
    ),
]

# A value of the wrong type for a component's parameter, by kind and by type form.
VALUE_TYPES = [
    Case(
        "block-int-given-float",
        job(LAYER0, "    - {type: Linear, out_features: 1.5}"),
        "job.yaml:3",
        "model.layers[0].out_features",
        says=("must be int", "1.5"),
    ),
    Case(
        "block-bool-given-text",
        job(LAYER0, "    - {type: Linear, out_features: 8, bias: 'yes'}"),
        "job.yaml:3",
        "model.layers[0].bias",
        says=("must be bool",),
    ),
    Case(
        "block-choice",
        graph(
            "    act: {type: ReLU, in: hidden}",
            "    act: {type: global_pool, in: hidden, mode: median}",
        ),
        "job.yaml:5",
        "model.blocks.act.mode",
        says=("'avg' | 'max' | 'avgmax'",),
    ),
    Case(
        "block-list-where-scalar",
        graph(
            "    hidden: {type: Linear, out_features: 8}",
            "    hidden: {type: Linear, out_features: [8, 8]}",
        ),
        "job.yaml:4",
        "model.blocks.hidden.out_features",
        says=("must be int", "(list)"),
    ),
    Case(
        "optimizer-float-given-text",
        job(OPT, "  optimizer: {name: AdamW, lr: 0.01, weight_decay: fast}"),
        "job.yaml:13",
        "train.optimizer.weight_decay",
        says=("must be float", "'fast'"),
    ),
    Case(
        "optimizer-quoted-number",
        job(OPT, "  optimizer: {name: AdamW, lr: 0.01, eps: '1e-8'}"),
        "job.yaml:13",
        "train.optimizer.eps",
        says=("without quotes",),
    ),
    Case(
        "optimizer-scalar-where-pair",
        job(OPT, "  optimizer: {name: AdamW, lr: 0.01, betas: 0.9}"),
        "job.yaml:13",
        "train.optimizer.betas",
        says=("[float, float]",),
    ),
    Case(
        "scheduler-int-given-list",
        job(EPOCHS, EPOCHS + "\n  scheduler: {name: StepLR, step_size: [1]}"),
        "job.yaml:12",
        "train.scheduler.step_size",
        says=("must be int",),
    ),
    Case(
        "loss-number-given-text",
        job(EPOCHS, EPOCHS + "\n  loss: {name: CrossEntropyLoss, label_smoothing: lots}"),
        "job.yaml:12",
        "train.loss.label_smoothing",
        says=("must be float",),
    ),
    Case(
        "transform-choice",
        job(FEATURES, FEATURES + "\n  transforms: [{type: impute, strategy: middle}]"),
        "job.yaml:10",
        "data.transforms[0].strategy",
        says=("'median'",),
    ),
    Case(
        "transform-list-of-text",
        job(FEATURES, FEATURES + "\n  transforms: [{type: standardize, columns: a}]"),
        "job.yaml:10",
        "data.transforms[0].columns",
        says=("list of str",),
    ),
]

H5 = "  source: {type: hdf5, path: signals.h5}"
H5_RECORDS = "  source: {type: hdf5, path: signals.h5, records: nights}"
FOLDER = "  source: {type: folder, path: records, manifest: manifest.csv}"

# HDF5 keys and folder layouts, read from metadata, headers and manifests only.
LAYOUTS = [
    Case(
        "hdf5-feature-key",
        job(SOURCE, H5, JOB.replace(FEATURES, "  features: z")),
        "job.yaml:9",
        "data.features",
        says=("Its keys: label, nights/n1/ecg",),
    ),
    Case(
        "hdf5-target-key",
        job(SOURCE, H5, JOB.replace(FEATURES, "  features: x").replace(TARGET, "  target: lable")),
        "job.yaml:8",
        "data.target",
        says=("did you mean 'label'",),
    ),
    Case(
        "hdf5-records-group",
        job(SOURCE, "  source: {type: hdf5, path: signals.h5, records: night}"),
        "job.yaml:7",
        "data.source.records",
        says=("'nights'",),
    ),
    Case(
        "hdf5-records-not-records",
        job(SOURCE, "  source: {type: hdf5, path: signals.h5, records: nights/n1}"),
        "job.yaml:7",
        "data.source.records",
        says=("no records",),
    ),
    Case(
        "hdf5-record-dataset",
        job(SOURCE, H5_RECORDS, JOB.replace(FEATURES, "  features: ekg")),
        "job.yaml:9",
        "data.features",
        says=("'ecg'",),
    ),
    Case(
        "hdf5-record-attribute",
        job(SOURCE, H5_RECORDS, JOB.replace(TARGET, "  target: stage\n  group: agee")),
        "job.yaml:9",
        "data.group",
        says=("'age'",),
    ),
    Case(
        "hdf5-not-hdf5",
        job(SOURCE, "  source: {type: hdf5, path: data.csv}"),
        "job.yaml:7",
        "data.source.path",
        says=("cannot be read",),
    ),
    Case(
        "folder-file-column",
        job(SOURCE, FOLDER[:-1] + ", file_column: path}"),
        "job.yaml:7",
        "data.source.file_column",
        says=("Its columns: file, subject",),
    ),
    Case(
        "folder-listed-file-missing",
        {
            **job(SOURCE, FOLDER, JOB.replace(FEATURES, "  features: x")),
            "records/manifest.csv": "file,subject\nr0.npz,s0\nr1.npz,s1\n",
        },
        "job.yaml:7",
        "data.source.manifest",
        says=("'r1.npz'",),
    ),
    Case(
        "folder-record-key",
        job(SOURCE, FOLDER, JOB.replace(FEATURES, "  features: xx")),
        "job.yaml:9",
        "data.features",
        says=("'x'",),
    ),
    Case(
        "folder-manifest-column",
        job(SOURCE, FOLDER, JOB.replace(FEATURES, "  features: x\n  group: subjet")),
        "job.yaml:10",
        "data.group",
        says=("'subject'",),
    ),
]

FILES = [
    Case(
        "yaml-indentation",
        {"job.yaml": JOB.replace("  epochs: 1", " epochs: 1")},
        "job.yaml:12",
        "",
        says=("indented", "^"),
    ),
    Case(
        "yaml-tab",
        {"job.yaml": JOB.replace("  epochs: 1", "\tepochs: 1")},
        "job.yaml:11",
        "",
        says=("tab",),
    ),
    Case(
        "yaml-unclosed",
        {"job.yaml": JOB.replace("[a, b, c]", "[a, b, c")},
        "job.yaml:10",
        "",
        says=("not closed",),
    ),
    Case(
        "duplicate-key",
        {"job.yaml": JOB.replace("  epochs: 1", "  epochs: 1\n  epochs: 2")},
        "job.yaml:12",
        "",
        says=("duplicate",),
    ),
    Case(
        "extends-missing",
        job("model:", "extends: base.yaml\nmodel:"),
        "job.yaml:1",
        "extends",
        says=("base.yaml",),
    ),
    Case(
        "model-file-missing",
        job(
            "model:\n  layers:\n    - {type: Linear, out_features: 8}\n    - ReLU\n"
            "    - {type: Linear, out_features: 2}\n",
            "model: net.yaml\n",
        ),
        "job.yaml:1",
        "model",
        says=("net.yaml",),
    ),
    Case(
        "error-in-extended-file",
        {
            "base.yaml": "train:\n  optimizer: {name: Adamw2}\n",
            "job.yaml": "extends: base.yaml\n" + JOB.replace(OPT + "\n", ""),
        },
        "base.yaml:2",
        "train.optimizer.name",
        says=("AdamW",),
    ),
    Case(
        "error-in-model-file",
        {
            "net.yaml": "layers:\n  - {type: Linear, out_features: 8}\n  - {type: Lniear}\n",
            "job.yaml": JOB.replace(
                "model:\n  layers:\n    - {type: Linear, out_features: 8}\n    - ReLU\n"
                "    - {type: Linear, out_features: 2}\n",
                "model: net.yaml\n",
            ),
        },
        "net.yaml:3",
        "model.layers[1].type",
        says=("Linear",),
    ),
    Case(
        "interpolation-unknown",
        job("  epochs: 1", "  epochs: ${train.nope}"),
        "job.yaml:11",
        "train.epochs",
        says=("train.nope",),
    ),
    Case(
        "not-utf8",
        {"job.yaml": "model: {layers: [ReLU]}\n# \udcff\n"},
        "job.yaml",
        "",
        says=("UTF-8",),
    ),
]

OVERRIDES = [
    Case(
        "override-unknown-key",
        {"job.yaml": JOB},
        "override 'train.epohcs=3'",
        "train.epohcs",
        args=("train.epohcs=3",),
    ),
    Case(
        "override-bad-value",
        {"job.yaml": JOB},
        "override 'train.epochs=abc'",
        "train.epochs",
        args=("train.epochs=abc",),
    ),
    Case(
        "override-component-name",
        {"job.yaml": JOB},
        "override 'train.optimizer.name=sgdd'",
        "train.optimizer.name",
        args=("train.optimizer.name=sgdd",),
        says=("SGD",),
    ),
    Case(
        "override-data-path",
        {"job.yaml": JOB},
        "override 'data.source.path=records'",
        "data.source.path",
        args=("data.source.path=records",),
    ),
    Case(
        "override-block-param",
        {"job.yaml": JOB},
        "override 'model.layers.0.out_featurs=4'",
        "model.layers[0].out_featurs",
        args=("model.layers.0.out_featurs=4",),
    ),
]

CASES = [
    *SCHEMA,
    *COMPONENTS,
    *VALUE_TYPES,
    *LAYOUTS,
    *GRAPHS,
    *IMPORTS,
    *MONITOR_SPLIT,
    *DATA,
    *FILES,
    *OVERRIDES,
]


def _write(project: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (project / name).write_bytes(text.encode("utf-8", "surrogateescape"))


def _nothing_left(project: Path) -> None:
    assert not (project / "runs").exists(), sorted(p.name for p in (project / "runs").iterdir())
    assert not list(project.glob("mlflow.db")) and not list(project.glob("mlruns"))


def test_the_battery_is_large_and_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) >= 60 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("command", ["validate", "train"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_refused_with_file_line_and_key(project: Path, run: Run, case: Case, command: str) -> None:
    _write(project, case.files)
    result = run(command, "job.yaml", *case.args)
    message = result.err
    assert result.code == 2, (result.code, message)
    assert "Traceback" not in message and "Traceback" not in result.out
    assert case.where in message, message
    if case.key:
        assert f"{case.where}" in message and case.key in message, message
    for word in case.says:
        assert word in message, message
    _nothing_left(project)
