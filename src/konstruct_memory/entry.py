"""The ``konstruct-memory`` console script, which the light client install also gets."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from konstruct_memory.cli import main as cli
    except ImportError as exc:  # the base install is the HTTP client alone
        sys.exit(
            f"konstruct-memory: the command line needs the server's packages ({exc.name} is "
            "missing): pip install 'konstruct-memory[server]'"
        )
    cli()
