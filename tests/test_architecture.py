"""The import rule, read from the code (docs/architecture.md).

The graph has one node per module of ``glm_tune`` (``tasks/`` and ``verbalizers/`` as
``glm_tune.tasks`` and ``glm_tune.verbalizers``, where the wheel installs them) and one edge per
import of another of them, counting imports inside functions: a cycle broken by a lazy import
is still a cycle in the design. Nothing is imported or run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# where each top-level package folder is installed (pyproject.toml's package-dir)
PACKAGE_DIRS = {"glm_tune": "glm_tune", "tasks": "glm_tune.tasks", "verbalizers": "glm_tune.verbalizers"}

# Cycles the restructuring of issue #12 has still to remove; each pair is one strongly connected
# group of modules. The test fails on any cycle
# not listed here and on a listed one that is gone, so this set can only shrink.
KNOWN_CYCLES: set[frozenset[str]] = set()
# Private names still imported across modules, under the same rule.
KNOWN_PRIVATE_IMPORTS: set[str] = set()
# Modules still over the length limit.
MAX_LINES = 650
KNOWN_LONG_MODULES: set[str] = set()


# Rule 1: the layer of a module is the subpackage it lives in (docs/architecture.md); the flat
# core (model, checkpoint, tokenizer, vocabulary, constants, errors, table) is everything else.
LAYER_OF_PACKAGE = {"cloze": "cloze", "metrics": "metrics", "task": "tasks", "tasks": "tasks", "verbalizers": "tasks",
                    "training": "training", "pretraining": "pretraining", "fewshot": "fewshot"}
CLI_MODULES = {"glm_tune.cli", "glm_tune.commands"}
# What each layer may import besides itself: core <- cloze <- tasks <- training <- cli, with
# metrics (importing only the core), pretraining (core and training's trainer) and the few-shot
# protocol (over the training API) as side branches.
MAY_IMPORT = {
    "core": set(),
    "metrics": {"core"},
    "cloze": {"core", "metrics"},
    "tasks": {"core", "cloze", "metrics"},
    "training": {"core", "cloze", "metrics", "tasks"},
    "pretraining": {"core", "training"},
    "fewshot": {"core", "cloze", "metrics", "tasks", "training"},
    "cli": {"core", "cloze", "metrics", "tasks", "training", "pretraining", "fewshot"},
}


def layer(module: str) -> str:
    if module in CLI_MODULES:
        return "cli"
    parts = module.split(".")
    return LAYER_OF_PACKAGE.get(parts[1], "core") if len(parts) > 1 else "core"


def find_modules(root: Path, package_dirs: dict[str, str]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under the package folders."""
    modules = {}
    for folder, package in package_dirs.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = [*package.split("."), *path.relative_to(root / folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _imported(module: str, path: Path, node: ast.Import | ast.ImportFrom) -> list[tuple[str, str | None]]:
    """(module, name) pairs an import statement reads; name is None for ``import x.y``."""
    if isinstance(node, ast.Import):
        return [(alias.name, None) for alias in node.names]
    source = node.module or ""
    if node.level:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        base = package[: len(package) - node.level + 1]
        source = ".".join([*base, *([node.module] if node.module else [])])
    return [(source, alias.name) for alias in node.names]


def import_graph(modules: dict[str, Path]) -> tuple[dict[str, set[str]], set[str]]:
    """The import edges between ``modules`` and the private names imported across them.

    ``from a import b`` is an edge to the module ``a.b`` when there is one (a submodule), else
    to ``a``; ``import a.b`` is an edge to ``a.b``. A module's own package ``__init__`` runs
    before it anyway, so only an explicit import of it counts. A module that imports a package
    and calls ``importlib.import_module`` is taken to import every module of that package: that
    is how :func:`glm_tune.task.registry.all_tasks` loads the task families, by name.
    """
    edges: dict[str, set[str]] = {module: set() for module in modules}
    private = set()
    for module, path in modules.items():
        dynamic = False
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Call):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
                dynamic = dynamic or called == "import_module"
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            for source, name in _imported(module, path, node):
                target = f"{source}.{name}" if name and f"{source}.{name}" in modules else source
                if target in modules and target != module:
                    edges[module].add(target)
                is_private = bool(name) and name.startswith("_") and not name.startswith("__")
                if is_private and target == source and source in modules and source != module:
                    private.add(f"{module} imports {source}.{name}")
        if dynamic:
            packages = [target for target in edges[module] if modules[target].name == "__init__.py"]
            edges[module] |= {other for other in modules for package in packages if other.startswith(package + ".")}
    return edges, private


def cycles(edges: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.add(frozenset(group))

    for node in edges:
        if node not in index:
            visit(node)
    return found


def _show(groups: Iterable[frozenset[str]]) -> str:
    return "; ".join(" <-> ".join(sorted(group)) for group in sorted(groups, key=sorted))


MODULES = find_modules(ROOT, PACKAGE_DIRS)
EDGES, PRIVATE_IMPORTS = import_graph(MODULES)


def test_no_new_import_cycles() -> None:
    found = cycles(EDGES)
    assert not found - KNOWN_CYCLES, f"new import cycle(s), lazy imports included: {_show(found - KNOWN_CYCLES)}"
    assert not KNOWN_CYCLES - found, f"gone, remove from KNOWN_CYCLES: {_show(KNOWN_CYCLES - found)}"


def test_no_new_private_names_imported_across_modules() -> None:
    new, gone = PRIVATE_IMPORTS - KNOWN_PRIVATE_IMPORTS, KNOWN_PRIVATE_IMPORTS - PRIVATE_IMPORTS
    assert not new, f"private names imported across modules (make them public or move them): {sorted(new)}"
    assert not gone, f"gone, remove from KNOWN_PRIVATE_IMPORTS: {sorted(gone)}"


def test_no_new_module_over_the_length_limit() -> None:
    lengths = {module: len(path.read_text(encoding="utf-8").splitlines()) for module, path in MODULES.items()}
    long = {module for module, length in lengths.items() if length > MAX_LINES}
    assert not long - KNOWN_LONG_MODULES, {module: lengths[module] for module in long - KNOWN_LONG_MODULES}
    assert not KNOWN_LONG_MODULES - long, f"gone, remove from KNOWN_LONG_MODULES: {KNOWN_LONG_MODULES - long}"


def test_imports_follow_the_layers() -> None:
    upward = sorted(f"{module} ({layer(module)}) imports {target} ({layer(target)})"
                    for module, targets in EDGES.items() for target in targets
                    if layer(target) != layer(module) and layer(target) not in MAY_IMPORT[layer(module)])
    assert not upward, upward
    # every layer is populated, so a module that moved out of its folder cannot hide in the core
    assert {layer(module) for module in MODULES} == set(MAY_IMPORT)


def test_the_graph_counts_lazy_and_relative_imports(tmp_path: Path) -> None:
    # a tiny package: a -> b at the top, b -> a inside a function (a cycle), c -> a through a
    # relative import of a private name, sub/__init__ -> sub/d relatively, d -> c absolutely,
    # loader -> sub and (by name) everything in it
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n\ndef _helper():\n    pass\n",
        "pkg/b.py": "def later():\n    import pkg.a\n",
        "pkg/c.py": "from .a import _helper\n",
        "pkg/sub/__init__.py": "from . import d\nfrom .d import thing\n",
        "pkg/sub/d.py": "from pkg.c import __doc__\nthing = 1\n",
        # loads pkg.sub's modules by name: an edge to each of them
        "pkg/loader.py": "import importlib\nimport pkg.sub\n\ndef load(name):\n"
                         "    return importlib.import_module(f'pkg.sub.{name}')\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = find_modules(tmp_path, {"pkg": "pkg"})
    edges, private = import_graph(modules)
    assert edges == {
        "pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.a"},
        "pkg.sub": {"pkg.sub.d"}, "pkg.sub.d": {"pkg.c"}, "pkg.loader": {"pkg.sub", "pkg.sub.d"},
    }
    assert private == {"pkg.c imports pkg.a._helper"}
    assert cycles(edges) == {frozenset({"pkg.a", "pkg.b"})}


def test_the_graph_covers_the_tasks_and_metrics_packages() -> None:
    # the task lookup imports the families (by name), which import only the Task definition
    assert {"glm_tune.tasks", "glm_tune.tasks.clue", "glm_tune.tasks.superglue"} <= EDGES["glm_tune.task.registry"]
    assert "glm_tune.task.definition" in EDGES["glm_tune.tasks.clue"]
    assert "glm_tune.metrics.rouge" in EDGES["glm_tune.metrics"]
