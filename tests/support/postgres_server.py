"""A throwaway PostgreSQL server on 127.0.0.1 for the tests, from Debian's `postgresql` package
(`make postgres` installs it; `make test` and `.ci/run` call that first).

Its own data folder, port and socket folder, trust authentication on loopback only, fsync off
(the data is thrown away): nothing of the machine's own PostgreSQL is touched. The database
uses the C collation, the byte order DuckDB sorts text in, so identity component ids (the
smallest node id of each component) come out the same on both warehouses.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER, DATABASE = "nextsale", "nextsale"


def server_binaries() -> Path | None:
    """Debian installs each major version under /usr/lib/postgresql/<version>/bin."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def postgres_server() -> Iterator[dict[str, str]]:
    """Start a server; yields the NEXTSALE_POSTGRES_* settings that reach it."""
    binaries = server_binaries()
    if binaries is None:
        raise RuntimeError(
            "PostgreSQL is not installed: run `make postgres` (Debian's postgresql package)"
        )
    root = Path(tempfile.mkdtemp(prefix="nextsale-pg-"))
    # PostgreSQL refuses to run as root: then it runs as the `postgres` user Debian created
    as_user: list[str] = []
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(root, postgres.pw_uid, postgres.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()

    def run(*command: str) -> None:
        subprocess.run([*as_user, *command], check=True, capture_output=True, text=True)

    try:
        run(
            str(binaries / "initdb"),
            "-D",
            str(data),
            "-U",
            USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        run(
            str(binaries / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(root / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )
        run(str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DATABASE)
    except subprocess.CalledProcessError as error:
        log = root / "server.log"
        details = log.read_text()[-2000:] if log.exists() else ""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {error.stderr}{details}") from error
    try:
        yield {
            "NEXTSALE_POSTGRES_HOST": "127.0.0.1",
            "NEXTSALE_POSTGRES_PORT": str(port),
            "NEXTSALE_POSTGRES_USER": USER,
            "NEXTSALE_POSTGRES_DATABASE": DATABASE,
        }
    finally:
        subprocess.run(
            [*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
