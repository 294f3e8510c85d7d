"""The registry: names by kind, nearest-name errors, and the import allow-list."""

from __future__ import annotations

import pytest

from trainspec.errors import RegistryError, SpecError
from trainspec.registry import Registry, allowed_prefixes, resolve, resolve_import


def test_register_and_get_by_kind() -> None:
    reg = Registry(providers={})

    @reg.register("block", "tiny")
    class Tiny:
        pass

    assert reg.get("block", "tiny") is Tiny
    assert reg.names("block") == ["tiny"]
    assert ("block", "tiny") in reg
    assert ("loss", "tiny") not in reg


def test_unknown_name_lists_available_and_nearest() -> None:
    reg = Registry(providers={})
    reg.add("optimizer", "adamw", object())
    reg.add("optimizer", "sgd", object())
    with pytest.raises(RegistryError) as err:
        reg.get("optimizer", "adamv")
    assert "did you mean 'adamw'" in str(err.value)
    assert "adamw, sgd" in str(err.value)


def test_duplicate_registration_is_refused() -> None:
    reg = Registry(providers={})
    reg.add("metric", "acc", object())
    with pytest.raises(RegistryError, match="already registered"):
        reg.add("metric", "acc", object())


def test_unknown_kind() -> None:
    with pytest.raises(RegistryError, match="unknown component kind"):
        Registry(providers={}).register("widget")


def test_resolve_falls_back_to_allowed_import_path() -> None:
    import collections

    from trainspec.errors import closest

    assert resolve("metric", "trainspec.errors.closest", ("metrics", 0)) is closest
    with pytest.raises(SpecError, match=r"metrics\[0\]: .*not under an allowed prefix"):
        resolve("metric", "collections.OrderedDict", ("metrics", 0))
    assert collections  # the module exists; only the allow-list refused it


@pytest.mark.parametrize(
    "path",
    [
        "os.system",
        "subprocess.run",
        "subprocess.Popen",
        "builtins.eval",
        "builtins.exec",
        "pickle.loads",
        "shutil.rmtree",
        "torch.load",
        "torch.hub.load",
        "importlib.import_module",
    ],
)
def test_dangerous_paths_are_refused_even_when_listed(path: str) -> None:
    with pytest.raises(RegistryError, match="refused|cannot be allowed"):
        resolve_import(path, allow=[path.split(".")[0]])
    with pytest.raises(RegistryError, match="refused"):
        resolve_import(path)


def test_reexported_dangerous_object_is_refused(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pkg = tmp_path / "sneaky_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("from os import system as run\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RegistryError, match="resolves to an object from"):
        resolve_import("sneaky_pkg.run", allow=["sneaky_pkg"])


def test_user_prefix_from_spec_and_environment(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    pkg = tmp_path / "my_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("class Net:\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RegistryError, match="add 'my_pkg' to the spec's allow_imports"):
        resolve_import("my_pkg.Net")
    assert resolve_import("my_pkg.Net", allow=["my_pkg"]).__name__ == "Net"
    monkeypatch.setenv("TRAINSPEC_ALLOW_IMPORTS", "my_pkg,other")
    assert resolve_import("my_pkg.Net").__name__ == "Net"
    # A prefix matches whole module names only.
    assert "my_pkg" in allowed_prefixes()
    with pytest.raises(RegistryError, match="not under an allowed prefix"):
        resolve_import("my_pkg2.Net")


def test_missing_attribute_suggests_nearest() -> None:
    with pytest.raises(RegistryError, match="did you mean 'trainspec.errors.closest'"):
        resolve_import("trainspec.errors.closets")


def test_bad_syntax() -> None:
    with pytest.raises(RegistryError, match="not a dotted path"):
        resolve_import("os; rm -rf /")
    with pytest.raises(RegistryError, match="not a dotted module name"):
        allowed_prefixes(["my pkg"])
