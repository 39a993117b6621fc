"""No import cycles in ``src/konstruct_memory``: between modules, and between packages.

The import graph is read from the source with ``ast``, so nothing is imported. Every
``import`` and ``from … import`` of a ``konstruct_memory`` module counts, at module level or
inside a function: an import deferred into a function still ties the two modules together.
Imports under ``if TYPE_CHECKING:`` are left out: they never run and only name types for the
type checker. ``from a.b import c`` is an edge to the module ``a.b.c`` when there is one, else to
``a.b``; the packages Python initialises on the way (``a``, ``a.b``) are not counted as edges.

Between packages: within each package, its modules and its subpackages are the nodes (a
subpackage standing for everything under it), and one node depends on another when any module
under the first imports a module under the second. Each of those graphs must be acyclic as
well, so ``api`` importing ``mcp`` while ``mcp`` imports ``api`` fails even when no two modules
import each other.

Run as a script (``python tests/unit/test_import_cycles.py``) it prints what it found.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator, Mapping, Set
from pathlib import Path

PACKAGE = "konstruct_memory"
SOURCE = Path(__file__).resolve().parents[2] / "src" / PACKAGE

Graph = Mapping[str, Set[str]]


def module_names(source: Path = SOURCE) -> dict[str, Path]:
    """Every module of the package by its dotted name (a package by its ``__init__``)."""
    names = {}
    for path in sorted(source.rglob("*.py")):
        parts = [PACKAGE, *path.relative_to(source).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements under ``node``, at any depth, except those only type checking
    runs."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for branch in child.orelse:
                yield from _imports_of(branch)
        else:
            yield from _imports(child)


def _imports_of(statement: ast.stmt) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(statement, ast.Import | ast.ImportFrom):
        yield statement
    else:
        yield from _imports(statement)


def _known(name: str, modules: Set[str]) -> str | None:
    """``name`` if it is one of ``modules``, else its longest prefix that is."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _targets(
    statement: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: Set[str]
) -> Iterator[str]:
    if isinstance(statement, ast.Import):
        for alias in statement.names:
            if alias.name.split(".")[0] == PACKAGE and (found := _known(alias.name, modules)):
                yield found
        return
    base = statement.module or ""
    if statement.level:
        anchor = importer.split(".")
        if not is_package:
            anchor.pop()
        anchor = anchor[: len(anchor) - (statement.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    if base.split(".")[0] != PACKAGE:
        return
    for alias in statement.names:
        found = _known(f"{base}.{alias.name}", modules)
        if (found is not None and found != base) or (found := _known(base, modules)) is not None:
            yield found


def module_graph(source: Path = SOURCE) -> dict[str, set[str]]:
    """Each module and the package's modules it imports (itself left out)."""
    paths = module_names(source)
    modules = set(paths)
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        graph[name] = {
            target
            for statement in _imports(tree)
            for target in _targets(statement, name, is_package, modules)
            if target != name
        }
    return graph


def package_graphs(modules: Graph) -> dict[str, dict[str, set[str]]]:
    """For each package, the graph of its children (modules and subpackages). A package's own
    ``__init__`` is a child too, named ``<package>.__init__``."""
    packages = {name for name in modules if any(m.startswith(f"{name}.") for m in modules)}

    def child(package: str, module: str) -> str | None:
        if module == package:
            return f"{package}.__init__"
        if not module.startswith(f"{package}."):
            return None
        return f"{package}.{module[len(package) + 1 :].split('.')[0]}"

    graphs: dict[str, dict[str, set[str]]] = {}
    for package in sorted(packages):
        graph: dict[str, set[str]] = defaultdict(set)
        for importer, targets in modules.items():
            source = child(package, importer)
            if source is None:
                continue
            for target in targets:
                destination = child(package, target)
                if destination is not None and destination != source:
                    graph[source].add(destination)
        graphs[package] = dict(graph)
    return graphs


def cycles(graph: Graph) -> list[list[str]]:
    """One cycle through each strongly connected group of nodes, as the path that closes it."""
    found = []
    for group in _strongly_connected(graph):
        if len(group) > 1:
            found.append(_cycle_within(graph, group))
    return sorted(found)


def _strongly_connected(graph: Graph) -> list[set[str]]:
    """Tarjan's algorithm, iteratively (no recursion limit to mind)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    nodes = sorted(set(graph) | {t for targets in graph.values() for t in targets})
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph.get(successor, ())))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    groups.append(group)
    return groups


def _cycle_within(graph: Graph, group: Set[str]) -> list[str]:
    """The shortest path from the group's first node back to itself, inside the group."""
    start = min(group)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor in sorted(graph.get(node, ())):
                if successor not in group or successor in previous:
                    continue
                previous[successor] = node
                if successor == start:
                    path = [start]
                    while path[-1] != start or len(path) == 1:
                        path.append(previous[path[-1]])
                    return path[::-1]
                following.append(successor)
        frontier = following
    raise AssertionError(f"no cycle found in the strongly connected group {sorted(group)}")


def _described(found: list[list[str]]) -> str:
    return "\n".join(" -> ".join(cycle) for cycle in found)


def test_no_cycle_between_modules() -> None:
    found = cycles(module_graph())
    assert not found, f"import cycles between modules:\n{_described(found)}"


def test_no_cycle_between_packages() -> None:
    found = [cycle for graph in package_graphs(module_graph()).values() for cycle in cycles(graph)]
    assert not found, f"import cycles between packages:\n{_described(found)}"


def test_the_check_sees_function_local_imports_and_skips_type_checking_ones(
    tmp_path: Path,
) -> None:
    package = tmp_path / PACKAGE
    (package / "left").mkdir(parents=True)
    (package / "right").mkdir()
    for init in (package, package / "left", package / "right"):
        (init / "__init__.py").write_text("")
    (package / "left" / "a.py").write_text(
        "def late():\n    from konstruct_memory.right import b\n"
    )
    (package / "right" / "b.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from konstruct_memory.left.a import late\n"
        "from konstruct_memory.left import c\n"
    )
    (package / "left" / "c.py").write_text("")
    graph = module_graph(package)
    assert graph[f"{PACKAGE}.left.a"] == {f"{PACKAGE}.right.b"}
    assert graph[f"{PACKAGE}.right.b"] == {f"{PACKAGE}.left.c"}
    assert cycles(graph) == []
    between = package_graphs(graph)[PACKAGE]
    assert cycles(between) == [[f"{PACKAGE}.left", f"{PACKAGE}.right", f"{PACKAGE}.left"]]


if __name__ == "__main__":
    modules = module_graph()
    print(f"{len(modules)} modules, {sum(map(len, modules.values()))} imports between them")
    between_modules = cycles(modules)
    between_packages = [c for g in package_graphs(modules).values() for c in cycles(g)]
    for kind, found in (("modules", between_modules), ("packages", between_packages)):
        print(f"cycles between {kind}: {len(found)}")
        if found:
            print(_described(found))
    raise SystemExit(1 if between_modules or between_packages else 0)
