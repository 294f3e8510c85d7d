"""The code a run imports from the user's folders is saved with it and loaded from there:
only recorded modules, only while their hashes match, never over an installed package. Each
check runs in a fresh interpreter, since importing changes the process's module table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import ROOT


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _saved_run(tmp_path: Path) -> Path:
    user = tmp_path / "user"
    (user / "mypkg").mkdir(parents=True)
    (user / "mymod.py").write_text("import helper\nVALUE = helper.BASE + 1\n")
    (user / "helper.py").write_text("BASE = 41\n")
    (user / "unused.py").write_text("X = 0\n")
    (user / "mypkg" / "__init__.py").write_text("")
    (user / "mypkg" / "nets.py").write_text("NAME = 'nets'\n")
    run = tmp_path / "run"
    run.mkdir()
    res = _python(
        f"""
        import sys, json
        sys.path.append({str(user)!r})
        import mymod, mypkg.nets, yaml
        from trainspec.registry import save_run_code
        print(json.dumps(save_run_code(__import__('pathlib').Path({str(run)!r}),
                                       ['mymod', 'mypkg.nets', 'yaml'])))
        """,
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    return run


def test_user_modules_are_saved_with_hashes(tmp_path: Path) -> None:
    run = _saved_run(tmp_path)
    manifest = json.loads((run / "code" / "manifest.json").read_text())
    modules = {m["module"]: m for m in manifest["modules"]}
    # The helper beside mymod travels too; yaml (installed) and unused.py do not.
    assert set(modules) == {"mymod", "helper", "mypkg", "mypkg.nets"}
    assert modules["mypkg"]["path"] == "mypkg/__init__.py" and modules["mypkg"]["package"]
    assert (run / "code" / "mypkg" / "nets.py").read_text() == "NAME = 'nets'\n"


def test_a_run_loads_its_code_from_any_folder(tmp_path: Path) -> None:
    run = _saved_run(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mymod.py").write_text("VALUE = -1\n")  # the user's copy changed since
    res = _python(
        f"""
        import sys
        sys.path.insert(0, '')
        from pathlib import Path
        from trainspec.registry import use_run_code
        for note in use_run_code(Path({str(run)!r})):
            print('NOTE', note)
        import mymod, mypkg.nets
        print(mymod.VALUE, mymod.__file__, mypkg.nets.NAME)
        try:
            import mypkg.other
        except ImportError:
            print('only recorded modules')
        """,
        elsewhere,
    )
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "NOTE mymod: the run's copy" in out and "your copy" in out and "differs" in out
    assert f"42 {run / 'code' / 'mymod.py'} nets" in out
    assert "only recorded modules" in out


def test_changed_code_is_refused_and_installed_packages_are_not_shadowed(
    tmp_path: Path,
) -> None:
    run = _saved_run(tmp_path)
    code = run / "code"
    (code / "yaml.py").write_text("SHADOW = True\n")
    manifest = json.loads((code / "manifest.json").read_text())
    import hashlib

    digest = hashlib.sha256((code / "yaml.py").read_bytes()).hexdigest()
    manifest["modules"].append(
        {"module": "yaml", "path": "yaml.py", "sha256": digest, "package": False}
    )
    (code / "manifest.json").write_text(json.dumps(manifest))
    res = _python(
        f"""
        from pathlib import Path
        from trainspec.registry import use_run_code
        print(use_run_code(Path({str(run)!r})))
        import yaml
        print('shadowed' if hasattr(yaml, 'SHADOW') else 'installed yaml')
        """,
        tmp_path,
    )
    assert res.returncode == 0, res.stderr
    assert "yaml: the installed package is used" in res.stdout
    assert "installed yaml" in res.stdout
    (code / "mymod.py").write_text("import os\n")  # tampered after the run was written
    res = _python(
        f"""
        from pathlib import Path
        from trainspec.registry import use_run_code
        use_run_code(Path({str(run)!r}))
        """,
        tmp_path,
    )
    assert res.returncode != 0
    assert "mymod.py (changed)" in res.stderr and "not imported" in res.stderr
