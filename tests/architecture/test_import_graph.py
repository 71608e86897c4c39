"""The import graph of the product code has no circle between files, counting imports inside functions.

grimp (the library import-linter is built on) reads every ``import`` statement of every module, at the top
of the file or inside a function, so an import moved into a function to dodge a circle still counts here.
The layer contracts themselves are in ``.importlinter`` (``make lint``); docs/architecture.md draws them.
"""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[2]
NOT_PRODUCT = {"tests", "benchmarks"}


def product_packages(root: Path = ROOT) -> list[str]:
    """Every top-level package of the repository but the tests and the benchmarks, so a new app (an interface
    moved out of another app, say) is walked without anyone remembering to list it."""
    return sorted(
        path.name
        for path in root.iterdir()
        if path.is_dir() and (path / "__init__.py").is_file() and path.name not in NOT_PRODUCT
    )


def circles(packages: list[str]) -> list[list[str]]:
    """The import circles between modules: each strongly connected component of more than one module,
    as one concrete circle "a -> b -> ... -> a" written with files and line numbers."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    found = []
    for component in _strongly_connected(graph):
        found.append(_one_circle(graph, component))
    return found


def _strongly_connected(graph) -> list[set[str]]:
    """Tarjan's algorithm, iterative (the graph has hundreds of modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components = []
    counter = 0
    for start in sorted(graph.modules):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.find_modules_directly_imported_by(start))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    return components


def _one_circle(graph, component: set[str]) -> list[str]:
    """A shortest circle through the component's first module, as "file:line  import statement" steps."""
    first = min(component)
    best = None
    for imported in sorted(graph.find_modules_directly_imported_by(first) & component):
        back = graph.find_shortest_chain(importer=imported, imported=first)
        if back and (best is None or len(back) + 1 < len(best)):
            best = (first, *back)
    steps = []
    for importer, imported in zip(best, best[1:], strict=False):
        detail = graph.get_import_details(importer=importer, imported=imported)
        line = f"{_file(importer)}:{detail[0]['line_number']}  {detail[0]['line_contents']}" if detail else importer
        steps.append(line)
    return [f"{len(component)} files in the circle: {', '.join(_file(m) for m in sorted(component))}", *steps]


def _file(module: str) -> str:
    """The module's file, relative to the repository (a package's is its __init__.py)."""
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return str(path.relative_to(ROOT))
    return module.replace(".", "/") + ".py"


def test_the_product_packages_are_found():
    packages = product_packages()
    assert {"accounts", "assets", "config", "declarations", "fhir", "lifecycle", "locations"} <= set(packages)
    assert not NOT_PRODUCT & set(packages)


def test_the_contracts_cover_every_product_package():
    """A new top-level app must be named in .importlinter's root_packages, or lint-imports would not see it (and
    an interface app must also join the INTERFACES lists there)."""
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    roots = set(config["importlinter"]["root_packages"].split())
    assert set(product_packages()) == roots


def test_every_product_folder_with_python_is_a_package():
    """A folder without __init__.py is a namespace package: grimp would not see its modules at all."""
    missing = []
    for package in product_packages():
        for folder in (ROOT / package).rglob("*"):
            if (
                folder.is_dir()
                and "__pycache__" not in folder.parts
                and any(folder.glob("*.py"))
                and not (folder / "__init__.py").is_file()
            ):
                missing.append(str(folder.relative_to(ROOT)))
    assert not missing, f"folders with Python files but no __init__.py (invisible to the import graph): {missing}"


def test_no_import_circle_between_files():
    found = circles(product_packages())
    report = "\n\n".join("\n  ".join(circle) for circle in found)
    assert not found, f"{len(found)} import circle(s), counting imports inside functions:\n  {report}"


def test_a_circle_through_an_import_inside_a_function_is_found_and_named(tmp_path, monkeypatch):
    """The check itself: a circle closed only by an import inside a function is reported, with both files."""
    package = tmp_path / "circlepkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("from circlepkg import second\n\nVALUE = 1\n")
    (package / "second.py").write_text("def later():\n    from circlepkg.first import VALUE\n\n    return VALUE\n")
    (package / "third.py").write_text("from circlepkg import first\n")  # on the path, not in the circle
    monkeypatch.syspath_prepend(str(tmp_path))

    found = circles(["circlepkg"])

    assert len(found) == 1
    summary, *steps = found[0]
    assert summary.startswith("2 files in the circle:")
    assert "circlepkg/first.py" in summary and "circlepkg/second.py" in summary
    assert "third" not in summary
    assert any("from circlepkg.first import VALUE" in step for step in steps)


def test_the_import_linter_contracts_are_kept():
    """The same contracts `make lint` checks (.importlinter), so the test suite catches a broken layer too.
    (Run in its own process: the graph is read from the files, not from what this process has imported.)"""
    lint_imports = Path(sys.executable).with_name("lint-imports")
    run = subprocess.run(
        [str(lint_imports), "--no-cache", "--config", str(ROOT / ".importlinter")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert ", 0 broken." in run.stdout
