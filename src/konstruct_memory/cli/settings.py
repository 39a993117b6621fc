"""The settings of one command line run: read from the environment once, at the edge."""

from __future__ import annotations

import psycopg
import typer
from pydantic import ValidationError

from konstruct_memory.config import Settings
from konstruct_memory.db import urls
from konstruct_memory.errors import ConfigurationError


def settings_of(ctx: typer.Context) -> Settings:
    """This run's settings, built on first use and shared by every command it invokes; a
    wrong value ends the command with the variable's name and what is wrong with it."""
    root = ctx.find_root()
    settings = root.obj
    if not isinstance(settings, Settings):
        try:
            settings = root.obj = Settings()
        except ValidationError as exc:
            raise ConfigurationError(problems_of(exc)) from None
    return settings


def owner_connection(ctx: typer.Context) -> psycopg.Connection[tuple[object, ...]]:
    """A connection as the schema's owner, in autocommit (what maintenance runs outside
    transactions needs): the configured admin URL, or the embedded server's."""
    return psycopg.connect(urls.resolve(settings_of(ctx)).require_admin(), autocommit=True)


def problems_of(exc: ValidationError) -> str:
    """One line per wrong setting, named as its environment variable."""
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        variable = f"KONSTRUCT_MEMORY_{field.upper()}"
        lines.append(message if message.startswith(variable) else f"{variable}: {message}")
    return "; ".join(lines)
