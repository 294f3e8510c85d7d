"""Reading the sleep-staging cohort as EDF+ nights against the same nights in one HDF5 file.

The example's generator writes cohort A both ways (same nights, same stages); each source then
loads the table the flagship's spec asks for (ECG epochs, stage, subject, age and sex), without
the data cache. Prints the median times of 5 loads and their ratio (EDF / HDF5).

    python benchmarks/bench_edf.py
"""

from __future__ import annotations

import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SLEEP = ROOT / "examples" / "sleep_staging"
SIZE = {"subjects_a": 32, "subjects_b": 1}  # the demo's cohort A
EDF_SOURCE = {  # as docs/sleep_staging.md reads the generated EDF+ cohorts
    "type": "edf",
    "signals": "*-PSG.edf",
    "hypnograms": "*-Hypnogram.edf",
    "subject": r"^(.+)-N\d+-PSG",
    "channels": {"ecg": "ECG"},
    "rate": 64,
    "epoch_seconds": 30,
    "covariates": {"path": "covariates.csv", "by": "record", "columns": ["age", "sex"]},
}


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("sleep_generate", SLEEP / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _median(fn: Callable[[], object], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    from trainspec.data._assemble import assemble
    from trainspec.data._sources import SourceContext, get_source
    from trainspec.spec import load_spec

    gen = _generator()
    with tempfile.TemporaryDirectory() as tmp:
        edf = gen.generate(Path(tmp) / "edf", fmt="edf", **SIZE)["A"]
        h5 = gen.generate(Path(tmp) / "h5", fmt="hdf5", **SIZE)["A"]
        job = load_spec(SLEEP / "pretrain.yaml", overrides=[f"data.source.path={h5}"]).job
        assert job is not None
        h5_spec = job.data
        edf_source = {**EDF_SOURCE, "path": str(edf)}
        edf_spec = type(h5_spec).model_validate(
            {
                **h5_spec.model_dump(exclude={"source", "inputs"}),
                "source": edf_source,
                "inputs": {"ecgs": {"key": "ecg", "shape": [1, -1]},
                           "additional": ["age", "sex", "time_of_night"]},
            }
        )  # fmt: skip

        def read(spec: Any) -> Callable[[], object]:
            return lambda: assemble(
                spec, get_source(spec.source.type).load(spec.source, SourceContext())
            )

        t_h5 = _median(read(h5_spec))
        t_edf = _median(read(edf_spec))
    print(f"cohort A ({SIZE['subjects_a']} nights), load + assemble, median of 5:")
    print(f"  hdf5 (one file, gzip)   {t_h5 * 1000:8.1f} ms")
    print(f"  edf (EDF+ per night)    {t_edf * 1000:8.1f} ms   ratio {t_edf / t_h5:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
