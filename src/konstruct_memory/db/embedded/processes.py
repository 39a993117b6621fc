"""What the embedded server needs of the operating system: free loopback ports, whether its
processes live, and a lower CPU priority for one of its backends."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As PostgreSQL binds: connections of its previous run still in TIME_WAIT do not make
        # the port busy, so a restarted server keeps its port (and its clients find it).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def process_runs(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def processes_in(directory: Path) -> list[int]:
    """Live processes whose working directory is ``directory`` (PostgreSQL's run in PGDATA)."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if Path(os.readlink(entry / "cwd")) == directory and process_runs(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def parent_of(pid: int) -> int | None:
    """The parent process of ``pid``, or None if it is gone (or there is no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[1])


def lower_priority(pid: int, postmaster: int, niceness: int) -> bool:
    """Give ``pid`` the CPU niceness ``niceness`` (never a higher priority than it has) if it
    is a backend of the server whose postmaster is ``postmaster``: a process id from a
    connection is only trusted once it is seen to be that server's child, never a process
    elsewhere that happens to have the same number. Whether it was done."""
    if parent_of(pid) != postmaster:
        return False
    try:
        if os.getpriority(os.PRIO_PROCESS, pid) < niceness:
            os.setpriority(os.PRIO_PROCESS, pid, niceness)
    except OSError:  # gone meanwhile, or not ours to change
        return False
    return True
