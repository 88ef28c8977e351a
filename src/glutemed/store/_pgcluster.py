"""A throwaway PostgreSQL cluster on loopback, for tests and benchmarks.

Uses the server binaries of the Debian/Ubuntu ``postgresql`` package
(``/usr/lib/postgresql/<version>/bin``; override with ``GLUTEMED_PG_BINDIR``). The cluster lives
in a temporary directory, listens on 127.0.0.1 on a free port with ``trust`` authentication and
durability switched off (it is thrown away; ``durable=True`` keeps PostgreSQL's defaults, for
benchmarks), and is removed by :meth:`TemporaryPostgres.stop`.
PostgreSQL refuses to run as root: when the caller is root, the cluster runs as the ``postgres``
system user through ``runuser``.

Not for production use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

__all__ = ["TemporaryPostgres", "find_pg_bindir", "shared_cluster", "unavailable_reason"]


def find_pg_bindir() -> Path | None:
    """Return the folder with ``initdb`` and ``pg_ctl`` (newest version), or None."""
    env = os.environ.get("GLUTEMED_PG_BINDIR")
    candidates: list[Path] = [Path(env)] if env else []
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = sorted(
            (p for p in root.iterdir() if p.name.replace(".", "").isdigit()),
            key=lambda p: float(p.name),
            reverse=True,
        )
        candidates += [v / "bin" for v in versions]
    for exe in ("initdb", "pg_ctl"):
        found = shutil.which(exe)
        if found:
            candidates.append(Path(found).parent)
    for c in candidates:
        if (c / "initdb").exists() and (c / "pg_ctl").exists():
            return c
    return None


def unavailable_reason() -> str | None:
    """Why a temporary cluster cannot start here (None if it can)."""
    if find_pg_bindir() is None:
        return (
            "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql "
            "package or set GLUTEMED_PG_BINDIR"
        )
    if os.geteuid() == 0:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the cluster as"
        if shutil.which("runuser") is None:
            return "running as root and 'runuser' is not available"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TemporaryPostgres:
    """Start, use and remove a scratch PostgreSQL cluster.

    Examples
    --------
    >>> with TemporaryPostgres() as pg:                       # doctest: +SKIP
    ...     url = pg.create_database()
    """

    def __init__(self, *, durable: bool = False) -> None:
        """``durable``: PostgreSQL's own defaults (fsync, synchronous commit, full-page writes),
        as a clinic server runs, for benchmarks; otherwise durability is off (faster tests)."""
        self.durable = durable
        bindir = find_pg_bindir()
        reason = unavailable_reason()
        if bindir is None or reason:
            raise RuntimeError(reason or "PostgreSQL binaries not found")
        self.bindir = bindir
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="glutemed-pg-"))
        self.data = self.root / "data"
        self.sockets = self.root / "sockets"
        self._as_root = os.geteuid() == 0
        self._started = False

    # ----------------------------------------------------------------- process helpers

    def _cmd(self, *args: str) -> list[str]:
        if self._as_root:
            return ["runuser", "-u", "postgres", "--", *args]
        return list(args)

    def _run(self, *args: str) -> None:
        subprocess.run(
            self._cmd(*args),
            check=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=120,
        )

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> TemporaryPostgres:
        """Create and start the cluster (a few seconds)."""
        self.sockets.mkdir(parents=True)
        if self._as_root:
            import pwd

            pw = pwd.getpwnam("postgres")
            for p in (self.root, self.sockets):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200"
        )
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        self._started = True
        self._wait()
        return self

    def _wait(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.5),
            ):
                return
            time.sleep(0.1)
        raise RuntimeError("temporary PostgreSQL did not start listening")

    def stop(self) -> None:
        """Stop the cluster and delete its files."""
        if self._started:
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run(
                    str(self.bindir / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                )
            self._started = False
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- databases

    def url(self, database: str = "postgres") -> str:
        """Return the SQLAlchemy URL of a database in the cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None, *, template: str | None = None) -> str:
        """Create a database (empty, or a copy of ``template``) and return its URL."""
        import psycopg
        from psycopg import sql

        name = name or "t_" + uuid.uuid4().hex[:12]
        query = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(query)
        return self.url(name)


_SHARED: TemporaryPostgres | None = None


def shared_cluster() -> TemporaryPostgres:
    """Return one cluster per process (started on first use, stopped at exit)."""
    global _SHARED
    if _SHARED is None:
        import atexit

        _SHARED = TemporaryPostgres().start()
        atexit.register(_SHARED.stop)
    return _SHARED
