"""The import direction (docs/architecture.md), checked on the source: it fails the build.

- `curate.core` imports nothing of the project outside `curate.core`;
- `train` and `augment` import only `curate.core` of `curate` (never a stage);
- a stage (`curate.<stage>`) reaches `train` / `augment` only lazily, inside a function, so
  importing a stage never loads a training stack;
- no two stages import each other (at module level or lazily): an edge between two stages runs
  one way only (`pipeline`, `app`, `review` may import many stages, none of which imports them).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("curate", "train", "augment")


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(imported project module, at module level?) for every import in a file; relative
    imports resolved against the file's package."""
    tree = ast.parse(path.read_text(), str(path))
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    top_level = {id(n) for n in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` blocks are not imports at run time
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top_level.discard(id(node))
    out = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = parts[: len(parts) - node.level + (1 if path.name == "__init__.py" else 0)]
                base = ".".join([*pkg, base] if base else pkg)
            names = [f"{base}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] in PACKAGES:
                out.append((name, id(node) in top_level))
    return out


def _violations(package: str, allowed: tuple[str, ...], lazy_ok: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for path in _modules(package):
        for name, module_level in _imports(path):
            if name.split(".")[0] == package and package != "curate":
                continue  # within train/ or augment/
            if name.startswith(allowed) or (not module_level and name.startswith(lazy_ok)):
                continue
            where = "" if module_level else " (inside a function)"
            bad.append(f"{path.relative_to(ROOT)} imports {name}{where}")
    return bad


def test_core_imports_only_the_core():
    bad = [v for v in _violations("curate", ("curate.core",))
           if v.startswith("curate/core/")]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("package", ["train", "augment"])
def test_train_and_augment_import_only_the_core_of_curate(package):
    allowed = ("curate.core",) + (("train",) if package == "augment" else ())
    bad = _violations(package, allowed)
    assert not bad, "\n".join(bad)


def test_stages_reach_train_and_augment_only_lazily():
    stages = [p for p in _modules("curate") if "core" not in p.relative_to(ROOT).parts]
    bad = []
    for path in stages:
        for name, module_level in _imports(path):
            if module_level and name.split(".")[0] in ("train", "augment"):
                bad.append(f"{path.relative_to(ROOT)} imports {name} at module level")
    assert not bad, "\n".join(bad)


def _stages() -> list[str]:
    """The top-level subpackages of `curate` other than `core`."""
    return sorted(p.parent.name for p in (ROOT / "curate").glob("*/__init__.py")
                  if p.parent.name != "core")


def _stage_edges() -> dict[tuple[str, str], str]:
    """(importing stage, imported stage) -> the first import that makes the edge, for every
    import from one stage of another, at module level or inside a function."""
    stages = set(_stages())
    edges: dict[tuple[str, str], str] = {}
    for stage in sorted(stages):
        for path in _modules(f"curate/{stage}"):
            for name, module_level in _imports(path):
                parts = name.split(".")
                if parts[0] == "curate" and len(parts) > 1 and parts[1] in stages - {stage}:
                    where = "" if module_level else " (inside a function)"
                    edges.setdefault((stage, parts[1]),
                                     f"{path.relative_to(ROOT)} imports {name}{where}")
    return edges


def test_no_two_stages_import_each_other():
    edges = _stage_edges()
    bad = [f"{a} <-> {b}: {edges[a, b]}; {edges[b, a]}"
           for (a, b) in sorted(edges) if a < b and (b, a) in edges]
    assert not bad, "\n".join(bad)


def test_the_checker_sees_imports():
    """The checks above are only as good as the parser: it must see both kinds of import."""
    found = dict(_imports(ROOT / "curate" / "core" / "views.py"))
    assert found.get("curate.core.schema") is True  # module level
    assert found.get("curate.core.store.fo") is False  # inside a function
    assert {"clean", "apply", "ingest", "review", "pipeline"} <= set(_stages())
    assert ("apply", "clean") in _stage_edges()  # a lazy edge counts too (apply's weak model)
