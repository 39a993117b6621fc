"""The embedded PostgreSQL server: its programs (``binaries``), its processes and port
(``processes``), the database and roles it is given (``provision``), the server itself
(``server``) and, under ``serve``, its supervisor (``supervisor``)."""

from konstruct_memory.db.embedded.server import EmbeddedServer

__all__ = ["EmbeddedServer"]
