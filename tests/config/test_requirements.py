"""requirements.txt says its pins are exact: every package the code imports is pinned there (the product's
code in requirements.txt, the tests' and benchmarks' in requirements-dev.txt), not left to whatever another
package's range lets pip choose. An unpinned asgiref moved under the product once and hung every signed-in
request on daphne (tests/config/test_asgi_sessions.py)."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from django.conf import settings

BASE = Path(settings.BASE_DIR)
SKIP_DIRS = {".venv", "node_modules", "staticfiles", "test-artifacts", ".git", "migrations"}
FIRST_PARTY = {path.name for path in BASE.iterdir() if path.is_dir()} | {path.stem for path in BASE.glob("*.py")}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(requirements: str) -> set[str]:
    names = set()
    for line in (BASE / requirements).read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            names |= pinned(line[3:].strip())
        elif line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?==[^=\s]+", line)
            assert match, f"{requirements}: {line!r} is not an exact pin (name==version)"
            names.add(_normal(match.group(1)))
    return names


def imported_distributions(folders: list[Path]) -> dict[tuple[str, ...], str]:
    """{distributions providing a module: a file importing it} for the third-party modules imported under
    ``folders`` (a module may come from several: autobahn adds a plugin to twisted's)."""
    distributions = packages_distributions()
    found = {}
    for folder in folders:
        for path in folder.rglob("*.py"):
            if SKIP_DIRS & set(path.relative_to(BASE).parts):
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top in sys.stdlib_module_names or top in FIRST_PARTY or top == "__future__":
                        continue
                    providers = tuple(sorted({_normal(d) for d in distributions.get(top, [top])}))
                    found.setdefault(providers, str(path.relative_to(BASE)))
    return found


def test_every_package_the_product_imports_is_pinned_in_requirements_txt():
    product = [BASE / name for name in sorted(FIRST_PARTY) if (BASE / name).is_dir()]
    product = [folder for folder in product if folder.name not in {"tests", "benchmarks", "scripts", "docs"}]
    pins = pinned("requirements.txt")
    missing = {"/".join(d): where for d, where in imported_distributions(product).items() if not pins & set(d)}
    assert not missing, f"imported but not pinned in requirements.txt: {missing}"


def test_every_package_the_tests_import_is_pinned_in_requirements_dev_txt():
    folders = [BASE / "tests", BASE / "benchmarks", BASE / "scripts"]
    pins = pinned("requirements-dev.txt")
    missing = {"/".join(d): where for d, where in imported_distributions(folders).items() if not pins & set(d)}
    assert not missing, f"imported but not pinned in requirements-dev.txt: {missing}"


def test_the_asgi_stack_is_pinned():
    assert {"asgiref", "daphne", "twisted", "channels", "django"} <= pinned("requirements.txt")
