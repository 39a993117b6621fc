"""Operator command line: ``konstruct-memory --help``."""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperGroup

from konstruct_memory.cli import (
    admin,
    database,
    importer,
    lifecycle,
    maintenance,
    model,
    serve,
    turns,
)
from konstruct_memory.errors import KonstructMemoryError


class _ReportErrors(TyperGroup):
    """Our errors end the command with their message and exit status 1, not a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context is private
        try:
            return super().invoke(ctx)
        except KonstructMemoryError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_ReportErrors,
    help="Konstruct Memory: long-term conversational memory for AI agents.",
    no_args_is_help=True,
    add_completion=False,
)
serve.register(app)
database.register(app)
admin.register(app)
turns.register(app)
importer.register(app)
lifecycle.register(app)
maintenance.register(app)
model.register(app)


def main() -> None:
    """Entry point of the ``konstruct-memory`` console script."""
    app()
