#!/usr/bin/env python3
"""Write the parts of the docs that the code already says, so they cannot drift from it.

Each generated part sits between two marker comments in a Markdown file::

    <!-- generated: settings -->
    ...
    <!-- end generated -->

and is rebuilt from its one source:

- ``settings`` (docs/operations.md): ``Settings.model_fields``: variable, default, allowed
  values and description;
- ``cli`` (docs/cli.md): every command and option of the Typer app, with its help;
- ``modules`` (docs/architecture.md): every module under ``src/konstruct_memory`` (and the
  inspector's scripts), grouped by package, with the summary of its docstring;
- ``routes`` (docs/http.md): every operation of ``operations/registry.py``: method, path,
  operation, access and success status.

Text outside the markers is left alone.

    python tools/generate_docs.py           # rewrite the generated parts
    python tools/generate_docs.py --check   # exit 1, with a diff, if any part is out of date
"""

from __future__ import annotations

import argparse
import ast
import difflib
import inspect
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import typer.main
from annotated_types import Ge, Gt, Le, Lt
from pydantic.fields import FieldInfo

from konstruct_memory.cli import app
from konstruct_memory.config import Settings
from konstruct_memory.operations.registry import OPERATIONS, Operation

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = ROOT / "src" / "konstruct_memory"
END = "<!-- end generated -->"


def start_marker(name: str) -> str:
    return f"<!-- generated: {name} -->"


def cell(text: str) -> str:
    """Text fit for one cell of a Markdown table."""
    return " ".join(text.split()).replace("|", "\\|")


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]
    return lines


# --- settings ------------------------------------------------------------------------------


def shown_default(field: FieldInfo) -> str:
    extra = field.json_schema_extra
    # A default computed at start (from the machine or the user) is described, not evaluated.
    if isinstance(extra, dict) and isinstance(extra.get("shown_default"), str):
        return str(extra["shown_default"])
    if field.default_factory is not None:
        value: Any = field.default_factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None or value == []:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, str):
        return f"`{value}`"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def allowed_values(field: FieldInfo) -> str:
    choices = getattr(field.annotation, "__args__", ())
    if getattr(field.annotation, "__origin__", None) is not None and all(
        isinstance(choice, str) for choice in choices
    ):
        return ", ".join(f"`{choice}`" for choice in choices)
    bounds = []
    for rule in field.metadata:
        if isinstance(rule, Ge):
            bounds.append(f"≥ {rule.ge}")
        elif isinstance(rule, Gt):
            bounds.append(f"> {rule.gt}")
        elif isinstance(rule, Le):
            bounds.append(f"≤ {rule.le}")
        elif isinstance(rule, Lt):
            bounds.append(f"< {rule.lt}")
    return ", ".join(bounds)


def settings_section() -> list[str]:
    prefix = str(Settings.model_config.get("env_prefix", ""))
    rows = []
    for name, field in Settings.model_fields.items():
        if not field.description:
            raise SystemExit(f"config.py: Settings.{name} has no description")
        variable = f"`{prefix}{name.upper()}`"
        rows.append((variable, shown_default(field), allowed_values(field), field.description))
    return table(("variable", "default", "allowed", "meaning"), rows)


# --- the command line ----------------------------------------------------------------------


# Typer builds on its own private copy of click, so its commands and parameters are read by
# their attributes (click's names) rather than checked against click's classes.
Command = Any
Parameter = Any


def commands(group: Command, path: str) -> Iterator[tuple[str, Command]]:
    for name in sorted(group.commands):
        command = group.commands[name]
        if command.hidden:
            continue
        yield f"{path} {name}", command
        if hasattr(command, "commands"):
            yield from commands(command, f"{path} {name}")


def is_argument(param: Parameter) -> bool:
    return bool(param.param_type_name == "argument")


def option_name(param: Parameter) -> str:
    if is_argument(param):
        return f"`{(param.metavar or param.name).upper()}`"
    names = [*param.opts, *param.secondary_opts]
    return ", ".join(f"`{name}`" for name in names)


def option_default(param: Parameter) -> str:
    if param.required:
        return "required"
    default = param.default
    if default is None or default is False or default == () or callable(default):
        return ""
    if default is True and not is_argument(param) and param.secondary_opts:
        return f"`{param.opts[0]}`"
    return f"`{default}`"


def option_help(param: Parameter) -> str:
    text = str(getattr(param, "help", None) or "")
    if param.envvar:
        variables = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
        text += " Environment: " + ", ".join(f"`{v}`" for v in variables) + "."
    return text.strip()


def cli_section() -> list[str]:
    root = typer.main.get_command(app)
    lines = [inspect.cleandoc(root.help or ""), ""]
    for path, command in commands(root, "konstruct-memory"):
        lines += [f"### `{path}`", ""]
        if command.help:
            lines += [inspect.cleandoc(command.help), ""]
        params = [p for p in command.params if not getattr(p, "hidden", False)]
        if params:
            rows = [(option_name(p), option_default(p), option_help(p)) for p in params]
            lines += [*table(("argument or option", "default", "meaning"), rows), ""]
    return lines[:-1]


# --- the modules ---------------------------------------------------------------------------


def python_summary(path: Path) -> str:
    source = path.read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(source))
    if docstring:
        return docstring.split("\n\n")[0]
    if not source.strip():
        return "an empty package marker"
    raise SystemExit(f"{path.relative_to(ROOT)}: no module docstring")


def script_summary(path: Path) -> str:
    comment = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("//"):
            break
        comment.append(line.removeprefix("//").strip())
    if not comment:
        raise SystemExit(f"{path.relative_to(ROOT)}: no leading comment")
    text = " ".join(comment)
    # The first sentence: the summary, as a docstring's first paragraph is.
    found = re.match(r"(.+?[.:])(\s|$)", text)
    return found.group(1).rstrip(":.") if found else text


def module_files() -> list[Path]:
    """Every Python module and every inspector script of the package, by package."""
    files = [*PACKAGE.rglob("*.py"), *(PACKAGE / "inspector").rglob("*.js")]
    return sorted(files, key=lambda p: (p.parent.relative_to(PACKAGE).parts, p.name))


def module_name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def modules_section() -> list[str]:
    lines: list[str] = []
    package: Path | None = None
    rows: list[tuple[str, ...]] = []
    for path in module_files():
        if path.parent != package:
            if rows:
                lines += [*table(("module", "what it is"), rows), ""]
            package = path.parent
            folder = package.relative_to(PACKAGE).as_posix()
            title = "konstruct_memory" if folder == "." else f"{folder}/"
            lines += [f"### `{title}`", ""]
            rows = []
        summary = python_summary(path) if path.suffix == ".py" else script_summary(path)
        rows.append((f"`{module_name(path)}`", summary))
    lines += table(("module", "what it is"), rows)
    return lines


# --- the routes ----------------------------------------------------------------------------


def access_of(operation: Operation) -> str:
    if operation.access == "admin":
        return "admin token"
    if operation.access == "key":
        return "key, any scope"
    return f"key, `{operation.access}`"


def routes_section() -> list[str]:
    rows = [
        (f"`{op.method}`", f"`{op.path}`", f"`{op.name}`", access_of(op), str(op.status))
        for op in OPERATIONS
    ]
    return table(("method", "path", "operation", "access", "success"), rows)


SECTIONS: dict[str, tuple[Path, Callable[[], list[str]]]] = {
    "settings": (DOCS / "operations.md", settings_section),
    "cli": (DOCS / "cli.md", cli_section),
    "modules": (DOCS / "architecture.md", modules_section),
    "routes": (DOCS / "http.md", routes_section),
}


def with_section(text: str, name: str, body: list[str], where: Path) -> str:
    start = start_marker(name)
    begin = text.find(start)
    end = text.find(END, begin)
    if begin < 0 or end < 0:
        raise SystemExit(f"{where.relative_to(ROOT)}: no '{start}' … '{END}' markers")
    return text[: begin + len(start)] + "\n" + "\n".join(body) + "\n" + text[end:]


def generated() -> dict[Path, tuple[str, str]]:
    """Each file with generated parts: its text now, and its text with every part rebuilt."""
    files: dict[Path, tuple[str, str]] = {}
    for name, (path, build) in SECTIONS.items():
        current, rebuilt = files.get(path) or (path.read_text(encoding="utf-8"),) * 2
        files[path] = (current, with_section(rebuilt, name, build(), path))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report out-of-date docs")
    check = parser.parse_args(argv).check
    stale = 0
    for path, (current, rebuilt) in generated().items():
        if current == rebuilt:
            continue
        stale += 1
        shown = path.relative_to(ROOT).as_posix()
        if check:
            sys.stdout.writelines(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    rebuilt.splitlines(keepends=True),
                    f"{shown} (in the repository)",
                    f"{shown} (generated)",
                )
            )
        else:
            path.write_text(rebuilt, encoding="utf-8")
            print(f"wrote {shown}")
    if check and stale:
        print(f"\n{stale} file(s) out of date: run python tools/generate_docs.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
