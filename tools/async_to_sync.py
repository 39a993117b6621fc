#!/usr/bin/env python3
"""Write the blocking HTTP clients (``client/sync.py``) from the asynchronous ones.

``client/asynchronous.py`` is the one hand-written source of the clients' methods. This script
parses it with ``ast`` and turns it into its blocking twin: ``async`` and ``await`` go, and
the asynchronous names become the blocking ones (``httpx.AsyncClient`` → ``httpx.Client``,
``AsyncAdminClient`` → ``AdminClient``, ``__aenter__`` → ``__enter__``, …, see ``NAMES``).

The tree says *where* each change goes; the change is made in the source text at that place,
so comments and layout carry over unchanged (``ast.unparse`` would drop every comment). Ruff
then sorts the imports and formats the result, so the generated file passes the same lint as
the rest of ``src``. Finally the output is parsed again and refused if anything asynchronous
is left, or a name that looks asynchronous but is missing from ``NAMES``.

    python tools/async_to_sync.py           # write src/konstruct_memory/client/sync.py
    python tools/async_to_sync.py --check   # exit 1 if sync.py differs from what it would write
"""

from __future__ import annotations

import argparse
import ast
import bisect
import difflib
import io
import re
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple, NoReturn

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "src" / "konstruct_memory" / "client"
SOURCE = CLIENT / "asynchronous.py"
TARGET = CLIENT / "sync.py"

# Every asynchronous name of the source and its blocking twin. A name that looks asynchronous
# and is missing here stops the generation (see `leftovers`), rather than slipping through.
NAMES = {
    "AsyncClient": "Client",
    "AsyncAdminClient": "AdminClient",
    "AsyncBaseTransport": "BaseTransport",
    "_AsyncHttp": "_Http",
    "aclose": "close",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
}
LOOKS_ASYNCHRONOUS = re.compile(r"^_?Async[A-Z]|^__a[a-z]+__$|^a(close|iter|next|send)$")
# Where a node keeps the name it binds or uses.
NAME_FIELDS: dict[type[ast.AST], str] = {
    ast.Name: "id",
    ast.Attribute: "attr",
    ast.FunctionDef: "name",
    ast.AsyncFunctionDef: "name",
    ast.ClassDef: "name",
    ast.arg: "arg",
    ast.keyword: "arg",
    ast.alias: "name",
}
DEFINITION = re.compile(r"(?:async\s+)?(?:def|class)\s+(\w+)")
WORDS = re.compile(r"\b(" + "|".join(re.escape(name) for name in NAMES) + r")\b")

HEADER = (
    "# Generated from asynchronous.py by tools/async_to_sync.py: do not edit it by hand.\n"
    "# Change asynchronous.py, then run `python tools/async_to_sync.py` to write this again.\n"
)
# The source's module docstring is about the source (it says it is the hand-written one).
DOCSTRING = '"""``Client`` and ``AdminClient``: the operations over HTTP, blocking."""'


class Edit(NamedTuple):
    start: int
    end: int
    text: str


class Positions:
    """``ast`` positions (1-based line, column in UTF-8 bytes) as offsets into the text."""

    def __init__(self, source: str) -> None:
        self.lines = source.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, lineno: int, byte_col: int) -> int:
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode()[:byte_col].decode())

    def start(self, node: ast.expr | ast.stmt | ast.arg | ast.keyword | ast.alias) -> int:
        return self.offset(node.lineno, node.col_offset)

    def end(self, node: ast.expr | ast.stmt) -> int:
        if node.end_lineno is None or node.end_col_offset is None:
            refuse(f"{type(node).__name__} at line {node.lineno} has no end position")
        return self.offset(node.end_lineno, node.end_col_offset)

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)


def edits_of(source: str, tree: ast.Module) -> Iterator[Edit]:
    """Where the text changes, found in the tree (and, for comments, in the tokens)."""
    at = Positions(source)

    def keyword_removed(offset: int, keyword: str) -> Edit:
        found = re.compile(keyword + r"\s+").match(source, offset)
        if found is None:
            refuse(f"expected {keyword!r} at line {at.line_of(offset)}")
        return Edit(found.start(), found.end(), "")

    def renamed(offset: int, name: str) -> Iterator[Edit]:
        if name in NAMES:
            if not source.startswith(name, offset):
                refuse(f"expected {name!r} at line {at.line_of(offset)}")
            yield Edit(offset, offset + len(name), NAMES[name])

    def definition_renamed(
        node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
    ) -> Iterator[Edit]:
        header = DEFINITION.match(source, at.start(node))
        if header is None or header.group(1) != node.name:
            refuse(f"expected the definition of {node.name!r} at line {node.lineno}")
        yield from renamed(header.start(1), node.name)

    def parentheses_removed(start: int, end: int) -> Iterator[Edit]:
        opening, closing = source.rindex("(", 0, start), source.index(")", end)
        if source[opening + 1 : start].strip() or source[end:closing].strip():
            refuse(f"expected parentheses around the await at line {at.line_of(start)}")
        yield Edit(opening, opening + 1, "")
        yield Edit(closing, closing + 1, "")

    # `(await x.run(...)).hits` needs its parentheses, `(x.run(...)).hits` does not: an await
    # that is the object of an attribute or an index is always in parentheses of its own.
    grouped = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute | ast.Subscript) and isinstance(node.value, ast.Await)
    }
    module_doc = _docstring_of(tree)
    docstrings = {id(doc) for doc in _docstrings(tree)}
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef | ast.AsyncWith | ast.AsyncFor):
            yield keyword_removed(at.start(node), "async")
        if isinstance(node, ast.Await):
            yield keyword_removed(at.start(node), "await")
            if node in grouped:
                yield from parentheses_removed(at.start(node), at.end(node))
        elif isinstance(node, ast.Name):
            yield from renamed(at.start(node), node.id)
        elif isinstance(node, ast.Attribute):
            yield from renamed(at.end(node) - len(node.attr), node.attr)
        elif isinstance(node, ast.arg):
            yield from renamed(at.start(node), node.arg)
        elif isinstance(node, ast.alias):
            yield from renamed(at.start(node), node.name)
        elif isinstance(node, ast.keyword) and node.arg is not None:
            yield from renamed(at.start(node), node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield from definition_renamed(node)
        elif isinstance(node, ast.Constant) and id(node) in docstrings:
            start, end = at.start(node), at.end(node)
            text = DOCSTRING if node is module_doc else WORDS.sub(_twin, source[start:end])
            yield Edit(start, end, text)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and WORDS.search(token.string):
            start = at.starts[token.start[0] - 1] + token.start[1]  # tokenize counts characters
            yield Edit(start, start + len(token.string), WORDS.sub(_twin, token.string))


def refuse(message: str) -> NoReturn:
    raise SystemExit(f"async_to_sync: {message}")


def _twin(found: re.Match[str]) -> str:
    return NAMES[found.group(1)]


def _docstring_of(node: ast.AST) -> ast.Constant | None:
    body = getattr(node, "body", None)
    if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
        value = body[0].value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value
    return None


def _docstrings(tree: ast.Module) -> Iterator[ast.Constant]:
    for node in ast.walk(tree):
        doc = _docstring_of(node)
        if doc is not None:
            yield doc


def applied(source: str, edits: list[Edit]) -> str:
    """The source with every edit made; edits never overlap (they are distinct tokens)."""
    result, position = [], 0
    for edit in sorted(edits):
        if edit.start < position:
            refuse(f"two changes of the source overlap at offset {edit.start}: {edit.text!r}")
        result += [source[position : edit.start], edit.text]
        position = edit.end
    return "".join([*result, source[position:]])


def leftovers(tree: ast.Module) -> list[str]:
    """What in the generated tree is still asynchronous, or looks so: each one a problem."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef | ast.AsyncWith | ast.AsyncFor | ast.Await):
            found.append(f"line {node.lineno}: {type(node).__name__}")
        field = NAME_FIELDS.get(type(node))
        name = getattr(node, field, None) if field else None
        if isinstance(name, str) and LOOKS_ASYNCHRONOUS.search(name):
            found.append(f"line {getattr(node, 'lineno', '?')}: {name} (add its twin to NAMES)")
    return found


def tidy(source: str) -> str:
    """Imports sorted and the code formatted as ``ruff`` does for ``sync.py``: the settings of
    its place in the tree, wherever the output is compared or written."""
    for command in (["check", "--fix", "--select", "I", "--quiet"], ["format"]):
        done = subprocess.run(  # noqa: S603 (our own interpreter and arguments)
            [sys.executable, "-m", "ruff", *command, "--stdin-filename", str(TARGET), "-"],
            input=source,
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
        )
        if done.returncode != 0:
            refuse(
                f"`ruff {command[0]}` did not take the generated code (ruff comes with the "
                f"[dev] extra):\n{done.stderr}"
            )
        source = done.stdout
    return source


def generate(source_path: Path, target: Path) -> str:
    source = source_path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(source_path))
    output = tidy(HEADER + applied(source, list(edits_of(source, tree))))
    problems = leftovers(ast.parse(output, filename=str(target)))
    if problems:
        refuse("the generated code is not all blocking:\n  " + "\n  ".join(problems))
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    parser.add_argument("--source", type=Path, default=SOURCE, help="default: %(default)s")
    parser.add_argument("--target", type=Path, default=TARGET, help="default: %(default)s")
    options = parser.parse_args(argv)
    expected = generate(options.source, options.target)
    current = options.target.read_text(encoding="utf-8") if options.target.exists() else ""
    shown = (
        options.target.relative_to(ROOT) if options.target.is_relative_to(ROOT) else options.target
    )
    if not options.check:
        if current == expected:
            print(f"{shown} is up to date")
        else:
            options.target.write_text(expected, encoding="utf-8")
            print(f"wrote {shown}")
        return 0
    if current == expected:
        return 0
    diff = difflib.unified_diff(
        current.splitlines(keepends=True),
        expected.splitlines(keepends=True),
        f"{shown} (checked in)",
        f"{shown} (generated from {options.source.name})",
    )
    sys.stderr.writelines(diff)
    print(
        f"{shown} is not what {options.source.name} generates: "
        "run `python tools/async_to_sync.py` and commit the result",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
