"""The package's import structure (docs/layout.md): no import cycle between modules, and each layer imports
only from the layers below it."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "muskie"

# layer -> the top-level parts of muskie it may import (besides itself)
ALLOWED = {
    "geometry": {"constants", "lazy_exports"},
    "weights": {"constants", "devices", "outputs"},
    "data": {"constants", "config_io", "geometry", "outputs", "progress", "lazy_exports"},
    "model": {"constants", "config_io", "weights", "geometry", "lazy_exports"},
    "train": {"constants", "config_io", "devices", "outputs", "data", "weights", "progress"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(name: str) -> str | None:
    """The module (file) an import of ``name`` loads: the deepest existing muskie module of that dotted name."""
    parts = name.split(".")
    while parts:
        path = PACKAGE.parent.joinpath(*parts)
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file():
            return ".".join(parts)
        parts = parts[:-1]
    return None


def import_graph() -> dict[str, set[str]]:
    """module -> the muskie modules it imports (anywhere in the file, function-level imports included)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name, edges = module_name(path), set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            edges.update(t for t in (resolve(target) for target in targets if target.startswith("muskie")) if t)
        graph[name] = edges - {name}
    return graph


def test_there_is_no_import_cycle():
    graph = import_graph()
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if target.startswith(node + ".") or node.startswith(target + "."):
                continue  # a package and its own modules
            if state.get(target) == 1:
                cycle = path[path.index(target) :] + [target] if target in path else [node, target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, path + [target])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_a_layer_imports_only_the_layers_below(layer):
    graph = import_graph()
    for module, targets in graph.items():
        if module.split(".")[1:2] != [layer]:
            continue
        for target in targets:
            part = target.split(".")[1] if "." in target else target
            assert part == layer or part in ALLOWED[layer], f"{module} imports {target}"
