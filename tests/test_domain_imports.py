"""The domain layer has no import cycle and does not reach up into the statistics layer.

A cycle hides until some module is imported first: each domain module is therefore imported
first in an interpreter of its own. The statistics layer reads what the domain writes, so the
domain never imports `reviewq.stats`, even indirectly.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import reviewq.domain

DOMAIN_DIR = Path(reviewq.domain.__file__).parent
MODULES = sorted(f"reviewq.domain.{m.name}" for m in pkgutil.iter_modules([str(DOMAIN_DIR)]))
# One interpreter imports the third-party libraries the domain uses (never a reviewq module: it
# asserts so), then forks a child per domain module; each child imports its module first among the
# project's modules, so a cycle or a stats import shows exactly as in an interpreter of its own,
# without every child paying about a second for SQLAlchemy, SQLModel and pydantic again. A scout
# child imports every domain module and names the third-party modules that loads.
ZYGOTE = r"""
import importlib, json, os, sys, traceback

def ours(name):
    return name == 'reviewq' or name.startswith('reviewq.')

def import_first(name):
    try:
        importlib.import_module(name)
        stats = sorted(m for m in sys.modules if m == 'reviewq.stats' or m.startswith('reviewq.stats.'))
        assert not stats, f'importing {name} loaded {stats}'
        return None
    except BaseException as exc:
        return traceback.format_exception_only(exc)[-1].strip()

def in_child(work):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        try:
            out = json.dumps(work()).encode()
        except BaseException as exc:
            out = json.dumps(repr(exc)).encode()
        with os.fdopen(write, 'wb') as pipe:
            pipe.write(out)
        os._exit(0)
    os.close(write)
    return pid, read

def collect(pid, read):
    with os.fdopen(read, 'rb') as pipe:
        data = pipe.read()
    os.waitpid(pid, 0)
    return json.loads(data) if data else 'the child died without an answer'

names = sys.argv[1:]
assert not [m for m in sys.modules if ours(m)], 'reviewq loaded before the preload'

def scout():
    for name in names:
        import_first(name)  # a failure here is found again, and reported, in the module's own child
    return [m for m in sys.modules if not ours(m)]

third_party = collect(*in_child(scout))
assert isinstance(third_party, list), third_party
for module in third_party:
    if module not in sys.modules:
        try:
            importlib.import_module(module)
        except Exception:
            pass
loaded = sorted(m for m in sys.modules if ours(m))
assert not loaded, f'the preload loaded {loaded}'

errors, running, todo = {}, [], list(names)
while todo or running:
    while todo and len(running) < min(4, os.cpu_count() or 1):
        name = todo.pop(0)
        running.append((name, *in_child(lambda name=name: import_first(name))))
    name, pid, read = running.pop(0)
    errors[name] = collect(pid, read)
print(json.dumps(errors))
"""


def test_the_domain_has_the_modules_this_test_walks():
    assert len(MODULES) > 30 and "reviewq.domain.decide" in MODULES and "reviewq.domain.queue" not in MODULES


def test_every_domain_module_imports_first_in_a_fresh_interpreter_without_stats():
    """Each module imported first among the project's, in a child of its own; any cycle or stats import fails it."""
    done = subprocess.run([sys.executable, "-c", ZYGOTE, *MODULES], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    errors = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(errors) == MODULES
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
