"""The suite's guard against the user's own installation.

``tests/conftest.py`` installs it in the test process and puts this directory first on
``PYTHONPATH``, so every Python process a test starts (``serve``, the CLI, ``pip``) loads it
too, as ``sitecustomize``. Under it, computing the default data directory (the user's own:
platformdirs' user data directory, ``/var/lib/konstruct-memory`` as root) raises, and so does
any connect to, or bind of, port 8080, where the user's own ``konstruct-memory serve``
listens. Each refusal says what the test lacks.
"""

from __future__ import annotations

import importlib.abc
import socket
import sys
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, NoReturn

DEFAULT_PORT = 8080
CONFIG = "konstruct_memory.config"
SOCKET_METHODS = ("connect", "connect_ex", "bind")


def refuse_default_data_dir() -> NoReturn:
    # Its code replaces that of config.default_data_dir, so it names no global of its own.
    raise RuntimeError(
        "a test reached the default data directory (the user's own: platformdirs' user data "
        "directory, /var/lib/konstruct-memory as root); give it KONSTRUCT_MEMORY_DATA_DIR or "
        "Settings(data_dir=...) of a temporary directory, and a process it starts the "
        "environment of tests.conftest.process_env()"
    )


def disarm(config: ModuleType) -> None:
    """Make ``config.default_data_dir`` raise, wherever it is referenced from."""
    # Settings' data_dir field holds the function object itself as its default factory, so
    # rebinding the module's name would not reach it: the function's code is replaced.
    config.default_data_dir.__code__ = refuse_default_data_dir.__code__


def refuse_default_port(method: Callable[..., Any]) -> Callable[..., Any]:
    """``socket.socket.<method>`` (connect, connect_ex, bind) refusing port 8080."""

    def guarded(self: socket.socket, address: Any, *args: Any) -> Any:
        if (
            self.family in (socket.AF_INET, socket.AF_INET6)
            and isinstance(address, tuple)
            and len(address) >= 2
            and address[1] == DEFAULT_PORT
        ):
            raise RuntimeError(
                f"a test tried to {method.__name__} port {DEFAULT_PORT} ({address[0]!r}), where "
                "the user's own `konstruct-memory serve` listens; tests use free ports of their "
                "own (--port, --url)"
            )
        return method(self, address, *args)

    guarded.__name__ = method.__name__
    guarded.refuses_default_port = True  # type: ignore[attr-defined]
    return guarded


def guard_sockets(assign: Callable[[type, str, Any], None] = setattr) -> None:
    """Refuse port 8080 in the ``socket.socket`` methods that do not refuse it yet."""
    for name in SOCKET_METHODS:
        method = getattr(socket.socket, name)
        if not getattr(method, "refuses_default_port", False):
            assign(socket.socket, name, refuse_default_port(method))


class _DisarmConfig(importlib.abc.MetaPathFinder):
    """Disarms ``konstruct_memory.config`` as soon as a process imports it."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name != CONFIG:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec: ModuleSpec | None = None
            if finder is not self and find is not None:
                spec = find(name, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader.exec_module = _then_disarm(spec.loader.exec_module)  # type: ignore[method-assign, assignment]
                return spec
        return None


def _then_disarm(run: Callable[[ModuleType], None]) -> Callable[[ModuleType], None]:
    def exec_module(module: ModuleType) -> None:
        run(module)
        disarm(module)

    return exec_module


def install() -> None:
    """Guard this process: the sockets now, the configuration when it is imported."""
    guard_sockets()
    config = sys.modules.get(CONFIG)
    if config is not None:
        disarm(config)
    else:
        sys.meta_path.insert(0, _DisarmConfig())


if __name__ == "sitecustomize":
    install()
