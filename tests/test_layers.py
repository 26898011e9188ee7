"""The package's layers import one way, and no two modules import each other.

Layers, in order: ``version``, ``engine``, ``storage``, ``models``, ``paper``,
``experiments``, ``apps``.  A module may import from its own layer and the layers before it;
the package ``__init__`` (which hands out names lazily) is the façade and belongs to none.
Imports are read from the source (every ``import`` statement, also inside functions and
``TYPE_CHECKING`` blocks), so a lazy import cannot hide an upward dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "htsr_utils"
LAYERS = ["version", "engine", "storage", "models", "paper", "experiments", "apps"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str | None = None) -> set[str]:
    """Every htsr_utils module that ``path`` (the module ``module``, by default the one at
    ``path``) imports: absolute names, submodules resolved."""
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "htsr_utils"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.split(".")[0] == "htsr_utils":
                target = node.module
            else:
                continue
            submodules = {f"{target}.{a.name}" for a in node.names}  # ``from . import paths``
            submodules = {name for name in submodules if _path_of(name) is not None}
            found |= submodules or {target}
    # A module's own packages are imported before it in any case: not a dependency.
    ancestors = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    return {name for name in found if _path_of(name) is not None and name != module} - ancestors


def _path_of(module: str) -> Path | None:
    base = PACKAGE.parent.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def test_every_module_belongs_to_a_layer():
    outside = [m for m in MODULES if m != "htsr_utils" and _layer(m) is None]
    assert not outside, f"modules outside the layers {LAYERS}: {outside}"


def test_no_module_imports_from_a_layer_above_it():
    upward = [f"{m} ({LAYERS[_layer(m)]}) imports {t} ({LAYERS[_layer(t)]})"
              for m, targets in GRAPH.items() if m != "htsr_utils"
              for t in targets if _layer(t) is not None and _layer(t) > _layer(m)]
    assert not upward, "\n".join(upward)


def test_the_engine_imports_nothing_else_of_the_package():
    outside = [f"{m} imports {t}" for m, targets in GRAPH.items() if _layer(m) == LAYERS.index("engine")
               for t in targets if _layer(t) != LAYERS.index("engine")]
    assert not outside, "\n".join(outside)


def test_no_import_cycles():
    """Depth-first search for a cycle among the modules (package __init__ files included,
    since importing a submodule runs its package's __init__)."""
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for target in sorted(GRAPH.get(node, ())):
            if state.get(target) == 1:
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_an_upward_import(tmp_path):
    """A planted upward import inside a function is found (the layer test can fail)."""
    probe = tmp_path / "probe.py"
    probe.write_text("from . import esd\n\ndef f():\n    from ..paper.cache import analyze_cached\n")
    found = _imports(probe, "htsr_utils.engine.probe")
    assert found == {"htsr_utils.engine.esd", "htsr_utils.paper.cache"}


@pytest.mark.parametrize("module", ["htsr_utils.models.registry", "htsr_utils.models.paper_era"])
def test_the_registry_needs_no_torch(module):
    code = (f"import sys, {module}; from htsr_utils.models.registry import list_models; list_models(); "
            "print(sorted(m for m in ('torch', 'torchvision', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_the_package_hands_out_its_subpackages():
    code = ("import htsr_utils; print(htsr_utils.models.__name__, htsr_utils.engine.__name__, "
            "htsr_utils.apps.__name__, htsr_utils.analyze.__module__)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["htsr_utils.models", "htsr_utils.engine", "htsr_utils.apps",
                                   "htsr_utils.engine.metrics"]
