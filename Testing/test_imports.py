"""The core's imports flow one way: no module imports one that (directly or not) imports it back, and only the
MRML adapter imports Slicer, VTK or Qt. Read as source (ast), function-level imports included; imports under
``if TYPE_CHECKING:`` are for type checkers only and left out."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "CRMOAnalyzer" / "CRMOAnalyzerLib"
#: the only package that may import slicer / vtk (never qt): the Slicer adapter (MRML, the panel's logic, self-test)
ADAPTER = "CRMOAnalyzerLib.slicer"


def module_name(path: Path) -> str:
    parts = ("CRMOAnalyzerLib",) + path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            yield from (n for child in node.orelse for n in [child, *_runtime_nodes(child)])
            continue
        yield node
        yield from _runtime_nodes(node)


def imports(path: Path, modules: set[str]) -> tuple[set[str], set[str]]:
    """(modules of the package it imports, top-level names of everything else it imports)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    inside, outside = set(), set()
    for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (inside if alias.name in modules else outside).add(alias.name if alias.name in modules else alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("CRMOAnalyzerLib"):
                outside.add(target.split(".")[0])
                continue
            for alias in node.names:
                inside.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
    return inside - {name}, outside


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges, external = {}, {}
    for name, path in paths.items():
        edges[name], external[name] = imports(path, set(paths))
    return edges, external


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_the_core_has_no_import_cycle():
    edges, _ = graph()
    assert len(edges) > 40 and sum(map(len, edges.values())) > 100  # the walk sees the package
    assert cycles(edges) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_slicer_adapter_imports_slicer_or_vtk_and_nothing_imports_qt():
    _, external = graph()
    offenders = {name: sorted(names & {"slicer", "vtk", "qt", "ctk"}) for name, names in external.items()
                 if names & {"qt", "ctk"} or names & {"slicer", "vtk"} and not name.startswith(ADAPTER)}
    assert offenders == {}
    assert "qt" not in external["CRMOAnalyzerLib.slicer.mrml"] and {"slicer", "vtk"} <= external["CRMOAnalyzerLib.slicer.mrml"]


def test_the_old_flat_module_names_import_the_moved_module_with_a_warning():
    import importlib
    import sys
    import warnings

    from CRMOAnalyzerLib import MOVED

    for name, folder in MOVED.items():
        assert (PACKAGE / folder / f"{name}.py").is_file() and not (PACKAGE / f"{name}.py").exists()
        if folder == "slicer":
            continue  # imports Slicer's MRML: covered by test_mrml
        sys.modules.pop(f"CRMOAnalyzerLib.{name}", None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            old = importlib.import_module(f"CRMOAnalyzerLib.{name}")
        new = importlib.import_module(f"CRMOAnalyzerLib.{folder}.{name}")
        assert old is new and new.__spec__.name == f"CRMOAnalyzerLib.{folder}.{name}"
        assert any(issubclass(w.category, DeprecationWarning) and f"{folder}.{name}" in str(w.message) for w in caught)


def test_only_the_command_line_parses_arguments():
    """The panel and the exports call the export registry with typed options, never argparse."""
    _, external = graph()
    assert sorted(name for name, names in external.items()
                  if "argparse" in names and not name.startswith("CRMOAnalyzerLib.cli")) == []
    assert "argparse" in external["CRMOAnalyzerLib.cli.report"]  # the walk sees it where it is


#: the layers of the core, in the one direction data flows (a module imports only from its own layer's folder and
#: from earlier layers); layers of the same rank do not import each other
LAYERS = {"errors": 0, "io": 1, "anatomy": 2, "model": 3, "localization": 4, "samples": 4, "reading": 5,
          "pipeline": 6, "exports": 7, "send": 8, "candidates": 9, "cohort": 9, "cli": 10, "slicer": 10}


def layer_violations(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    def layer(name: str) -> str:
        return name.split(".")[1] if "." in name else ""

    return sorted((a, b) for a, targets in edges.items() for b in targets
                  if layer(a) and layer(b) and layer(a) != layer(b) and LAYERS[layer(b)] >= LAYERS[layer(a)])


def test_data_flows_one_way_between_the_folders():
    edges, _ = graph()
    assert {name.split(".")[1] for name in edges if "." in name} == set(LAYERS)  # every part has its place
    assert layer_violations(edges) == []
    assert layer_violations({"CRMOAnalyzerLib.model": {"CRMOAnalyzerLib.reading.distribution"}}) == [
        ("CRMOAnalyzerLib.model", "CRMOAnalyzerLib.reading.distribution")]  # the check can fail
