"""The package's shape, read from its own import statements (ast, no import is run): layers
point one way, no import runs in a circle, no function hides an import of the package, the
pure core imports no adapter, and no module grows past ~400 lines."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "hub" / "coursehub"

# What each folder (or top-level module) may import of the package. Bottom to top: the pure
# core; storage (tables, data volume); the LMS side and the spawners side by side; grading;
# web pages and hub background tasks; the one writer of JupyterHub's config; the CLI.
ALLOWED = {
    "core": {"core"},
    "storage": {"core", "storage"},
    "lti": {"core", "storage", "lti"},
    "spawners": {"core", "storage", "spawners"},
    "grading": {"core", "storage", "spawners", "lti", "grading"},
    "web": {"core", "storage", "lti", "spawners", "grading", "web"},
    "devlms": {"core", "storage", "lti", "devlms"},
    "tasks": {"core", "storage", "lti", "grading", "tasks"},
    "config": {"core", "storage", "lti", "spawners", "grading", "web", "tasks", "devlms"},
    "cli": {"core", "storage", "lti", "spawners", "grading", "config", "devlms", "cli"},
}
# Libraries that talk to the world (or pull in a framework that does): never in core.
ADAPTERS = ("jupyterhub", "docker", "dockerspawner", "ltiauthenticator", "tornado", "sqlalchemy",
            "jwt", "cryptography", "oauthlib", "traitlets", "requests", "psycopg2")
MAX_LINES = 400


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(name: str) -> list[tuple[str, bool]]:
    """(imported module, whether the import sits inside a function) of module ``name``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, nested) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")
                    base = base[: len(base) - child.level + 1]
                    target = ".".join(base + ([child.module] if child.module else []))
                else:
                    target = child.module or ""
                # `from .x import y` may name a submodule y.
                for alias in child.names:
                    sub = f"{target}.{alias.name}"
                    found.append((sub if sub in MODULES else target, nested))
            visit(child, nested)

    visit(tree, False)
    return found


def internal(name: str) -> set[str]:
    return {target for target, _ in imports(name) if target in MODULES and target != name}


def layer(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "root"


def test_every_folder_has_a_layer():
    assert {layer(m) for m in MODULES} - {"root", "__main__"} <= set(ALLOWED)
    # The emulated LMS is mounted by config only: nothing that runs in production imports it.
    for name in MODULES:
        if layer(name) not in ("devlms", "config", "cli"):
            assert not any(layer(t) == "devlms" for t in internal(name)), name


@pytest.mark.parametrize("name", sorted(m for m in MODULES if layer(m) in ALLOWED))
def test_imports_point_down_the_layers(name):
    allowed = ALLOWED[layer(name)] | {"root"}
    wrong = sorted(t for t in internal(name) if layer(t) not in allowed)
    assert not wrong, f"{name} ({layer(name)}) may not import {wrong}"


@pytest.mark.parametrize("name", sorted(m for m in MODULES if layer(m) == "core"))
def test_core_imports_no_adapter(name):
    wrong = sorted({t for t, _ in imports(name) if t.split(".")[0] in ADAPTERS})
    assert not wrong, f"the pure core module {name} imports {wrong}"


def find_circle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle of ``graph`` (module -> modules it imports), or []."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                circle = walk(nxt)
                if circle:
                    return circle
        stack.pop()
        state[node] = 2
        return []

    for name in sorted(graph):
        if name not in state:
            circle = walk(name)
            if circle:
                return circle
    return []


def test_no_import_runs_in_a_circle():
    assert find_circle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_circle({"a": {"b"}, "b": set()}) == []
    circle = find_circle({name: internal(name) for name in MODULES})
    assert not circle, "import circle: " + " -> ".join(circle)


def test_no_function_hides_an_import_of_the_package():
    hidden = sorted(f"{name} -> {t}" for name in MODULES for t, nested in imports(name)
                    if nested and t.startswith("coursehub"))
    assert not hidden


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small_and_say_what_they_own(name):
    text = MODULES[name].read_text()
    assert len(text.splitlines()) <= MAX_LINES, f"{name} has {len(text.splitlines())} lines"
    if name != "coursehub.cli.__main__":
        assert ast.get_docstring(ast.parse(text)), f"{name} has no opening comment saying what it owns"
