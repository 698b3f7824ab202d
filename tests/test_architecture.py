"""The package's shape: imports between `pneumogan` modules form a DAG, functions stay short, the formatter
formats. Lazy imports inside functions count as edges too: they are for start-up time, not for hiding a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "pneumogan"
MAX_FUNCTION_LINES = 100
MAX_FMT_SKIP = 10


def module_names(root: Path) -> dict[str, Path]:
    """Dotted module name → file, for every module of the package rooted at `root`."""
    names = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_modules(path: Path, package: str, known: set[str]) -> set[str]:
    """Modules of `package` that the file imports anywhere (module level or inside functions),
    except inside `if TYPE_CHECKING:` blocks."""
    found: set[str] = set()

    class Visitor(ast.NodeVisitor):
        def visit_If(self, node: ast.If) -> None:
            if _is_type_checking(node.test):
                for child in node.orelse:
                    self.visit(child)
                return
            self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            found.update(alias.name for alias in node.names if alias.name.split(".")[0] == package)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.module and node.module.split(".")[0] == package:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"  # `from pkg import submodule`
                    found.add(full if full in known else node.module)

    Visitor().visit(ast.parse(path.read_text()))
    return {m for m in found if m in known}


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = module_names(root)
    known = set(modules)
    return {name: imported_modules(path, root.name, known) - {name} for name, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_package_imports_form_a_dag():
    cycles = find_cycles(import_graph(PACKAGE))
    assert not cycles, f"import cycles inside pneumogan: {cycles}"


def test_cycle_finder_sees_lazy_imports_and_ignores_type_checking(tmp_path):
    pkg = tmp_path / "toy"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from toy.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from toy import a  # lazy, still an edge\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy import a\n")
    (pkg / "d.py").write_text("import toy.c\n")
    graph = import_graph(pkg)
    assert graph["toy.d"] == {"toy.c"} and graph["toy.c"] == set()
    assert find_cycles(graph) == [["toy.a", "toy.sub.b"]]


def long_functions(root: Path, limit: int) -> list[str]:
    too_long = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    too_long.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines} lines)")
    return too_long


def test_no_function_is_longer_than_the_limit():
    assert not long_functions(PACKAGE, MAX_FUNCTION_LINES)


def test_formatter_formats_almost_everything():
    markers = [
        f"{p.relative_to(PACKAGE)}:{i}"
        for p in PACKAGE.rglob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if "fmt: skip" in line
    ]
    assert len(markers) <= MAX_FMT_SKIP, markers


@pytest.mark.parametrize("limit, expect", [(2, True), (50, False)])
def test_long_function_check_can_fail(tmp_path, limit, expect):
    (tmp_path / "m.py").write_text("def f():\n    x = 1\n    y = 2\n    return x + y\n")
    assert bool(long_functions(tmp_path, limit)) is expect


# The packages in layers, lowest first (ARCHITECTURE.md draws them): a package imports only packages of lower
# layers, never one of its own layer or above. Top-level modules (config, layout, runs, ...) are not layered here.
LAYERS: list[set[str]] = [
    {"bundled"},
    {"data"},
    {"evaluate"},
    {"ood"},  # model-agnostic: it takes a feature function; classify.ood_fit fits it for a classifier
    {"classify"},
    {"ssl", "diffusion", "explain", "export"},
    {"gan"},  # above diffusion: gan.checkpoint.load_generator hands a diffusion folder to diffusion.checkpoint
    {"pipeline", "serve"},
]


def all_imports(path: Path, package: str, known: set[str]) -> set[str]:
    """Like `imported_modules`, but `if TYPE_CHECKING:` imports count too (a type-only circle is still a
    circle a reader has to untangle)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == package:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                found.add(full if full in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == package)
    return {m for m in found if m in known}


def full_import_graph(root: Path) -> dict[str, set[str]]:
    modules = module_names(root)
    known = set(modules)
    return {name: all_imports(path, root.name, known) - {name} for name, path in modules.items()}


def package_edges(graph: dict[str, set[str]], root: Path) -> set[tuple[str, str]]:
    """(importing package, imported package) for imports between different subpackages of `root`."""

    def package(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if len(parts) > 1 and (root / parts[1]).is_dir() else None

    return {
        (package(a), package(b))
        for a, targets in graph.items()
        for b in targets
        if package(a) and package(b) and package(a) != package(b)
    }


def layer_violations(edges: set[tuple[str, str]], layers: list[set[str]]) -> list[str]:
    level = {pkg: i for i, layer in enumerate(layers) for pkg in layer}
    return sorted(f"{a} → {b}" for a, b in edges if a in level and b in level and level[a] <= level[b])


def test_no_import_circle_even_through_type_checking_blocks():
    cycles = find_cycles(full_import_graph(PACKAGE))
    assert not cycles, f"import circles (TYPE_CHECKING imports included): {cycles}"


def test_every_package_is_layered_and_imports_only_lower_layers():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert packages == set().union(*LAYERS), "put a new package in a layer (and in ARCHITECTURE.md)"
    violations = layer_violations(package_edges(full_import_graph(PACKAGE), PACKAGE), LAYERS)
    assert not violations, f"imports within a layer or upwards: {violations}"


def test_the_layer_check_sees_two_way_and_same_layer_imports(tmp_path):
    pkg = tmp_path / "toy"
    for sub in ("low", "mid", "side"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "mid" / "a.py").write_text(
        "from toy.low import b\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy.side import c\n"
    )
    (pkg / "low" / "b.py").write_text("def f():\n    from toy.mid import a\n")
    (pkg / "side" / "c.py").write_text("")
    edges = package_edges(full_import_graph(pkg), pkg)
    assert edges == {("mid", "low"), ("low", "mid"), ("mid", "side")}
    assert layer_violations(edges, [{"low"}, {"mid", "side"}]) == ["low → mid", "mid → side"]
    assert find_cycles(full_import_graph(pkg)) == [["toy.low.b", "toy.mid.a"]]
