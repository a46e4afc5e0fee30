"""The architecture as a test: which part may import which, read from the source with `ast`.

Rules (docs/design.md, "Shape"):
* private modules (a name part starting with `_`) are imported only from inside the package
  that owns them; everything else goes through a package's public names;
* no import cycles between modules, function-level imports included;
* layers: `generator` never imports `harness`; inside `harness`, the stand-in imports none of the
  browser side, verify, preview or the CLI, and only the CLI (and `python -m`) imports the CLI;
* the stand-in never imports the server client it checks (`generator.server`), even indirectly;
* the plan and the code generator reach no network code, even indirectly;
* every package folder is listed in pyproject.toml, so the wheel carries it.
"""

from __future__ import annotations

import ast
import re
import tomllib
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOP = "klaviyo_snippets"
NETWORK = {"aiohttp", "socket", "ssl", "http", "urllib.request", "requests", "httpx", "playwright", "selenium"}


@cache
def setuptools_config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


@cache
def modules() -> dict[str, Path]:
    """Every module of the package by dotted name, found through pyproject's package-dir."""
    found = {}
    for package, folder in setuptools_config()["package-dir"].items():
        base = ROOT / folder
        for path in base.rglob("*.py"):
            parts = path.relative_to(base).with_suffix("").parts
            if any(part.startswith(".") for part in parts):
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join((package, *parts))] = path
    return found


def _runtime_imports(tree: ast.AST):
    """Import nodes, at any depth, except under `if TYPE_CHECKING:`."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


@cache
def imports() -> dict[str, set[str]]:
    """module -> the names it imports: our modules (a `from pkg import submodule` counts as the
    submodule only) and the first part of third-party and standard-library names."""
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _runtime_imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    targets.add(alias.name if alias.name.startswith(TOP) else alias.name)
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            submodules = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
            targets |= submodules
            if len(submodules) < len(node.names):
                targets.add(base)
        graph[name] = targets
    return graph


def _ours(target: str) -> bool:
    return target == TOP or target.startswith(TOP + ".")


def _closure(start: str) -> set[str]:
    graph, seen, todo = imports(), set(), [start]
    while todo:
        for target in graph.get(todo.pop(), ()):
            if target not in seen:
                seen.add(target)
                if _ours(target):
                    todo.append(target)
    return seen


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def test_the_package_map_finds_the_code():
    names = set(modules())
    assert {f"{TOP}.generator.plan", f"{TOP}.harness.standin", f"{TOP}.harness.cli",
            f"{TOP}.harness.pytest_plugin"} <= names
    assert imports()[f"{TOP}.harness.standin"]  # parsed, not empty


def test_every_package_folder_is_listed_in_pyproject():
    listed = set(setuptools_config()["packages"])
    packages = {name for name, path in modules().items() if path.name == "__init__.py"}
    assert packages - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert {p for p in listed - packages if not p.endswith((".snippets", ".docs"))} == set()  # data only


def test_private_modules_are_imported_only_inside_their_own_package():
    wrong = []
    for importer, targets in imports().items():
        for target in filter(_ours, targets):
            parts = target.split(".")
            for i, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    owner = ".".join(parts[:i])
                    if not _inside(importer, owner):
                        wrong.append(f"{importer} imports {target} (private to {owner})")
                    break
    assert wrong == [], "import the package's public names instead:\n" + "\n".join(wrong)


def test_no_import_cycles():
    graph = {name: {t for t in targets if t in modules()} for name, targets in imports().items()}
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
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
            if len(component) > 1 or node in graph[node]:
                cycles.append(sorted(component))

    for name in sorted(graph):
        if name not in index:
            visit(name)
    assert cycles == []


LAYERS = {
    # importer package: packages it must never import
    f"{TOP}.generator": [f"{TOP}.harness"],
    f"{TOP}.harness.standin": [f"{TOP}.harness.browser", f"{TOP}.harness.verify", f"{TOP}.harness.preview",
                               f"{TOP}.harness.cli", f"{TOP}.harness.pytest_plugin"],
    f"{TOP}.harness.browser": [f"{TOP}.harness.verify", f"{TOP}.harness.preview", f"{TOP}.harness.cli"],
    f"{TOP}.harness.verify": [f"{TOP}.harness.preview", f"{TOP}.harness.cli"],
    f"{TOP}.harness.preview": [f"{TOP}.harness.cli"],
    f"{TOP}.harness.pytest_plugin": [f"{TOP}.harness.cli", f"{TOP}.harness.preview"],
}


@pytest.mark.parametrize("importer", sorted(LAYERS))
def test_layers(importer):
    wrong = [
        f"{module} imports {target}"
        for module, targets in imports().items() if _inside(module, importer)
        for target in targets if any(_inside(target, banned) for banned in LAYERS[importer])
    ]
    assert wrong == []


def test_only_the_command_line_imports_the_cli():
    cli = f"{TOP}.harness.cli"
    wrong = [f"{module} imports {target}" for module, targets in imports().items()
             if not _inside(module, cli) and module != f"{TOP}.__main__"
             for target in targets if _inside(target, cli)]
    assert wrong == []


def test_the_stand_in_never_reaches_the_client_it_checks():
    """The stand-in is the independent oracle of generator.server: sharing its code would let a
    mistake in one hide the same mistake in the other."""
    for module in modules():
        if _inside(module, f"{TOP}.harness.standin"):
            reached = sorted(t for t in _closure(module) if _inside(t, f"{TOP}.generator.server"))
            assert reached == [], f"{module} reaches {reached}"


@pytest.mark.parametrize("package", [f"{TOP}.generator.plan", f"{TOP}.generator.codegen"])
def test_the_compiler_has_no_network_code(package):
    for module in modules():
        if _inside(module, package):
            reached = sorted(t for t in _closure(module) if any(_inside(t, n) for n in NETWORK))
            assert reached == [], f"{module} reaches network code: {reached}"


def test_a_closure_sees_indirect_imports():
    """The two rules above must be able to fail: the CLI reaches the sender and aiohttp."""
    reached = _closure(f"{TOP}.harness.cli")
    assert any(_inside(t, f"{TOP}.generator.server.sending") for t in reached) and "aiohttp" in reached


DOC_IMPORT = re.compile(r"(?:from|import)\s+(klaviyo_snippets[\w.]*)")


def test_docs_and_examples_import_only_public_names():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").glob("*"))]
    wrong = []
    for page in pages:
        if page.is_file() and page.suffix in (".md", ".py", ".html", ".txt"):
            for name in DOC_IMPORT.findall(page.read_text(encoding="utf-8")):
                if any(part.startswith("_") for part in name.split(".")):
                    wrong.append(f"{page.relative_to(ROOT)}: {name}")
    assert wrong == []
