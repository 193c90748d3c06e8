"""The domain layer has no import cycle and does not reach up into the statistics layer.

A cycle hides until some module is imported first: each domain module is therefore imported
first in an interpreter of its own. The statistics layer reads what the domain writes, so the
domain never imports `reviewq.stats`, even indirectly.
"""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import reviewq.domain

DOMAIN_DIR = Path(reviewq.domain.__file__).parent
MODULES = sorted(f"reviewq.domain.{m.name}" for m in pkgutil.iter_modules([str(DOMAIN_DIR)]))
CHECK = (
    "import importlib, sys\n"
    "importlib.import_module({name!r})\n"
    "stats = sorted(m for m in sys.modules if m == 'reviewq.stats' or m.startswith('reviewq.stats.'))\n"
    "assert not stats, f'importing {name} loaded {{stats}}'\n"
)


def test_the_domain_has_the_modules_this_test_walks():
    assert len(MODULES) > 30 and "reviewq.domain.decide" in MODULES and "reviewq.domain.queue" not in MODULES


def _import_first(name: str) -> str | None:
    """The last line of the error, if importing `name` first in a fresh interpreter fails."""
    done = subprocess.run([sys.executable, "-c", CHECK.format(name=name)], capture_output=True, text=True,
                          timeout=120)
    return None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["?"])[-1]


def test_every_domain_module_imports_first_in_a_fresh_interpreter_without_stats():
    """One interpreter per module (a few side by side); any cycle or stats import fails its module."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        errors = dict(zip(MODULES, pool.map(_import_first, MODULES), strict=True))
    assert {name: error for name, error in errors.items() if error} == {}


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_domain_module_imports_stats():
    """Read from the source, so an import inside a function counts too."""
    offenders = {
        path.name: sorted(n for n in _imported(path) if n == "reviewq.stats" or n.startswith("reviewq.stats."))
        for path in sorted(DOMAIN_DIR.glob("*.py"))
    }
    assert {name: found for name, found in offenders.items() if found} == {}


def test_no_domain_module_hides_an_import_inside_a_function():
    """Function-level imports of the project are how a cycle was held apart; none are left in the domain."""
    hidden = {}
    for path in sorted(DOMAIN_DIR.glob("*.py")):
        tree = ast.parse(path.read_text())
        top = set(map(id, tree.body))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import) and id(node) not in top:
                names = [node.module] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                if any(n and n.startswith("reviewq") for n in names):
                    hidden.setdefault(path.name, []).append(node.lineno)
    assert hidden == {}
