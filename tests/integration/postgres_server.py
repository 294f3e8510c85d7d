"""A throwaway PostgreSQL cluster for tests: initdb in a temporary folder, a server on a free
loopback port, stopped (and the folder removed) afterwards.

PostgreSQL refuses to run as root, so as root the cluster belongs to an unprivileged user
(``postgres`` when the package made one, else ``nobody``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["INSTALL_HINT", "find_bin", "postgres_cluster"]

INSTALL_HINT = "PostgreSQL binaries not found: apt-get install -y postgresql"


def find_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/*/bin`` that has initdb (or initdb on the PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=_version, reverse=True)
    if found:
        return Path(found[0]).parent
    on_path = shutil.which("initdb")
    return Path(on_path).parent if on_path else None


def _version(path: str) -> float:
    try:
        return float(Path(path).parents[1].name)
    except ValueError:
        return 0.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dropper(uid: int, gid: int) -> Callable[[], None]:
    def drop() -> None:
        os.setgid(gid)
        os.setuid(uid)

    return drop


def _as_user() -> tuple[Callable[[], None] | None, int | None, int | None]:
    if os.geteuid() != 0:
        return None, None, None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _dropper(entry.pw_uid, entry.pw_gid), entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) exists")


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """Yields a SQLAlchemy URL (psycopg 3) of an empty database on a fresh server."""
    bin_dir = find_bin()
    if bin_dir is None:
        raise RuntimeError(INSTALL_HINT)
    drop, uid, gid = _as_user()
    root = Path(tempfile.mkdtemp(prefix="trainspec-pg-"))
    data, sockets, logfile = root / "data", root / "sock", root / "server.log"
    sockets.mkdir()
    if uid is not None and gid is not None:
        for path in (root, sockets):
            os.chown(path, uid, gid)
    port = _free_port()

    def run(*args: str) -> None:
        subprocess.run(
            args, check=True, capture_output=True, preexec_fn=drop, cwd=root, timeout=120
        )

    try:
        run(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg_ctl = str(bin_dir / "pg_ctl")
        run(pg_ctl, "-D", str(data), "-o", options, "-l", str(logfile), "-w", "start")
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
