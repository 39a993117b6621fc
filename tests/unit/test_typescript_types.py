"""The TypeScript client follows the contract: its generated types are what the generator
makes of the current OpenAPI document and registry, and its error tree is this package's.

The generator is Python (it builds the app in-process), so this needs no Node.js; the
client's own tests (``npm test`` in clients/typescript) run from .ci/run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from konstruct_memory import errors
from tests.conftest import process_env

CLIENT = Path(__file__).resolve().parents[2] / "clients" / "typescript"
GENERATOR = CLIENT / "scripts" / "generate_types.py"


def test_the_generated_types_are_current() -> None:
    checked = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"],
        capture_output=True,
        text=True,
        env=process_env(),
        timeout=120,
    )
    assert checked.returncode == 0, checked.stderr or checked.stdout


def _python_tree() -> dict[str, tuple[str, str]]:
    """Each error class: its parent's name and its code."""
    tree: dict[str, tuple[str, str]] = {}
    pending: list[type[errors.KonstructMemoryError]] = [errors.KonstructMemoryError]
    while pending:
        cls = pending.pop()
        parent = cls.__bases__[0].__name__ if cls is not errors.KonstructMemoryError else "Error"
        tree[cls.__name__] = (parent, cls.code)
        # Only the package's own tree: a test's subclass is no error of the API.
        pending += [sub for sub in cls.__subclasses__() if sub.__module__ == errors.__name__]
    return tree


def _typescript_tree() -> dict[str, tuple[str, str]]:
    source = (CLIENT / "src" / "errors.ts").read_text()
    tree: dict[str, tuple[str, str]] = {}
    classes = re.finditer(r"^export class (\w+) extends (\w+) \{(.*?)^\}", source, re.M | re.S)
    for match in classes:
        name, parent, body = match.groups()
        code = re.search(r'static (?:override )?readonly code: string = "(\w+)"', body)
        tree[name] = (parent, code[1] if code else tree[parent][1])
    return tree


def test_the_typescript_error_tree_is_this_package_s() -> None:
    assert _typescript_tree() == _python_tree()
