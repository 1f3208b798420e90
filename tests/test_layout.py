"""The package's layers (docs/architecture.md, "The layout"): every import runs downwards."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "bharnet"

# Bottom to top; a module may import its own layer and the layers below it.
LAYERS = (
    ("utils", "graphs"),
    ("checkpoint",),
    ("data",),
    ("video",),
    ("datasets",),
    ("models",),
    ("losses", "profiler"),
    ("engine", "deploy"),
    ("demo",),
    ("cli", "__main__"),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _room(parts: tuple[str, ...]) -> str:
    """``("data", "feeder")`` -> ``"data"``; a top-level module is its own room."""
    return parts[0]


def _imports(path: Path, root: Path = PACKAGE) -> list[tuple[int, tuple[str, ...]]]:
    """(line, the imported module's path inside the package) for every import of ``bharnet`` in a file,
    including the ones inside functions."""
    here = path.relative_to(root).with_suffix("").parts
    package = here[:-1]  # the folder a relative import starts from (for __init__ too)
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
            elif node.module and node.module.split(".")[0] == "bharnet":
                base = ()
                node.module = node.module.partition(".")[2] or None
            else:
                continue
            if node.module:
                found.append((node.lineno, base + tuple(node.module.split("."))))
            else:  # ``from . import x``: the names are modules
                found.extend((node.lineno, base + (a.name,)) for a in node.names)
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, tuple(a.name.split(".")[1:])) for a in node.names
                         if a.name.split(".")[0] == "bharnet" and "." in a.name)
    return found


def test_every_module_has_a_layer():
    rooms = {_room(p.relative_to(PACKAGE).with_suffix("").parts) for p in PACKAGE.rglob("*.py")}
    rooms.discard("__init__")
    assert rooms <= set(RANK), f"add these to LAYERS and to docs/architecture.md: {sorted(rooms - set(RANK))}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_downwards(path):
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts == ("__init__",):
        return  # the package's face re-exports from every layer
    rank = RANK[_room(parts)]
    upward = [f"{path.relative_to(PACKAGE)}:{line} imports bharnet.{'.'.join(target)}"
              for line, target in _imports(path) if target and RANK.get(target[0], -1) > rank]
    assert not upward, "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path):
    """The test above can fail: an import of the engine from the data layer, inside a function, is found."""
    fake = tmp_path / "bharnet"
    (fake / "data").mkdir(parents=True)
    (fake / "data" / "bad.py").write_text("from . import store\n\ndef f():\n    from ..engine.run import fit\n")
    lines = _imports(fake / "data" / "bad.py", root=fake)
    assert lines == [(1, ("data", "store")), (4, ("engine", "run"))]
    assert RANK[lines[1][1][0]] > RANK["data"] == RANK[lines[0][1][0]]


def _private_imports(path: Path, root: Path = PACKAGE) -> list[tuple[int, str]]:
    """(line, name) for every private name (``_x``) a file imports from another package of bharnet."""
    here = path.relative_to(root).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("bharnet")):
            if node.level:
                base = here[:len(here) - node.level + 1]
                target = base + tuple((node.module or "").split(".")) if node.module else base
            else:
                target = tuple(node.module.split(".")[1:])
            if target[:1] == here[:1] and here:  # the same package: its own business
                continue
            found.extend((node.lineno, a.name) for a in node.names
                         if a.name.startswith("_") and not a.name.startswith("__"))
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_name_crosses_a_package(path):
    assert not _private_imports(path), f"{path.relative_to(PACKAGE)} imports private names of another package"


def test_the_private_name_check_can_fail(tmp_path):
    fake = tmp_path / "bharnet"
    (fake / "demo").mkdir(parents=True)
    (fake / "demo" / "x.py").write_text("from ..engine.config import _merge\nfrom .y import _own\n")
    assert _private_imports(fake / "demo" / "x.py", root=fake) == [(1, "_merge")]
