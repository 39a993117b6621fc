#!/usr/bin/env python3
"""README.md's quickstart, run as a new user runs it, from the repository's root.

The two commands are the two ```sh blocks of the README's "Quickstart" section, so a README
change that breaks either breaks CI:

1. the first (install, then ``serve``) runs as written (``bash -e -c``) until ``serve``
   answers ``/healthz`` healthy at the address the section names, within SERVE_WAIT_S; then
   ``serve`` is stopped again (SIGTERM, as Ctrl-C would) and so is the embedded PostgreSQL it
   started;
2. the second (the browser's packages, the development tools, the test suite) must be the
   command given as the argument: .ci/run runs it next, spelled out there.

Anything that goes wrong (the README without the two blocks or with another second command,
the port already taken, the first command ending or not healthy in time, ``serve`` not
stopping) ends the run with status 1 and one line saying what.
Standard library only: it runs before any virtualenv exists.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

SERVE_WAIT_S = 600  # a fresh install from the package index, the model's wheel, a new server
STOP_WAIT_S = 60
README = Path("README.md")


class QuickstartFailed(Exception):
    pass


def quickstart(readme: str) -> tuple[str, str, str]:
    """The Quickstart section's two commands and the address ``serve`` answers on."""
    section = re.search(r"^## Quickstart\n(.*?)(?=^## |\Z)", readme, re.S | re.M)
    if section is None:
        raise QuickstartFailed("README.md has no '## Quickstart' section")
    blocks = [b.strip() for b in re.findall(r"^```sh\n(.*?)^```", section[1], re.S | re.M)]
    if len(blocks) != 2 or not all(blocks):
        raise QuickstartFailed(
            f"the Quickstart section of README.md has {len(blocks)} ```sh blocks; expected two "
            "commands: the install with `serve`, then the tests"
        )
    address = re.search(r"`(http://127\.0\.0\.1:\d+)`", section[1])
    if address is None:
        raise QuickstartFailed(
            "the Quickstart section of README.md names no http://127.0.0.1:<port> address"
        )
    return blocks[0], blocks[1], address[1]


def bash(command: str) -> list[str]:
    """``command`` run by bash, stopping at the first failure."""
    return [shutil.which("bash") or "/bin/bash", "-e", "-c", command]


def answers(url: str) -> bool:
    host, port = url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310
            answer = json.load(response)
            return (
                response.status == 200 and isinstance(answer, dict) and answer.get("status") == "ok"
            )
    except (OSError, ValueError):  # refused, 503 (HTTPError), still starting, not JSON
        return False


def stop(process: subprocess.Popen[bytes], url: str) -> None:
    """SIGTERM to the command's process group (bash and ``serve``), as Ctrl-C would; then
    wait until the command has ended and nothing answers at ``url`` any more."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None and not answers(url):
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    raise QuickstartFailed(f"serve did not stop within {STOP_WAIT_S} s of SIGTERM")


def run_first(command: str, url: str) -> None:
    if answers(url):
        raise QuickstartFailed(
            f"something already listens at {url}: stop it first, or CI would test that server "
            "instead of the one the quickstart starts"
        )
    print(f"quickstart, first command: {command}", flush=True)
    started = time.monotonic()
    process = subprocess.Popen(  # noqa: S603 (the README's command, as written, is the point)
        bash(command), stdin=subprocess.DEVNULL, start_new_session=True
    )
    try:
        while not healthy(url):
            if process.poll() is not None:
                raise QuickstartFailed(
                    f"the first command ended with status {process.returncode} before serve "
                    f"answered {url}/healthz"
                )
            if time.monotonic() - started > SERVE_WAIT_S:
                raise QuickstartFailed(
                    f"serve did not answer {url}/healthz within {SERVE_WAIT_S} s"
                )
            time.sleep(1)
        print(f"quickstart: serve healthy at {url} after {time.monotonic() - started:.0f} s")
    finally:
        stop(process, url)
    print("quickstart: serve stopped", flush=True)
    if "KONSTRUCT_MEMORY_DATABASE_URL" not in os.environ:
        # serve leaves the embedded server running for the next start; CI leaves nothing.
        subprocess.run([".venv/bin/konstruct-memory", "server", "stop"], check=True)


def main(test_command: str) -> int:
    """The first command; then a check that the README's second is ``test_command``, which
    .ci/run runs next, as written there."""
    try:
        first, second, url = quickstart(README.read_text(encoding="utf-8"))
        if " ".join(second.split()) != " ".join(test_command.split()):
            raise QuickstartFailed(
                f"the README's second command is {second!r}, but .ci/run runs {test_command!r}: "
                "change both together"
            )
        run_first(first, url)
    except (QuickstartFailed, subprocess.CalledProcessError) as exc:
        print(f"quickstart: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
