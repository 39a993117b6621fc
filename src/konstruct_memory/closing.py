"""``Closing``: what the library, its resources and the blocking client share as context
managers: ``with`` returns the object itself and closes it at the end of the block, however
the block ends. Like ``contextlib.closing``, as a base class (the object stays itself).

Standard library only: the light client imports it.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """A context manager that calls ``self.close()`` on exit."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
