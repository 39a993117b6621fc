"""The settings of one command line run: read from the environment once, at the edge."""

from __future__ import annotations

import typer

from konstruct_memory.config import Settings


def settings_of(ctx: typer.Context) -> Settings:
    """This run's settings, built on first use and shared by every command it invokes."""
    root = ctx.find_root()
    if not isinstance(root.obj, Settings):
        root.obj = Settings()
    return root.obj
