"""A throwaway PostgreSQL cluster on loopback, for the load and fault harness.

Built with the server's own `initdb`/`pg_ctl` (Debian's PostgreSQL binaries under
/usr/lib/postgresql/<version>/bin, or PG_BIN). Unlike the shared embedded server it
can be restarted mid-run (the database-outage scenario) and loads
pg_stat_statements, so database round trips can be counted. pgserver was not used
for this: it shares one server between processes and cannot restart it under them.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

CANDIDATE_BINS = [Path(f"/usr/lib/postgresql/{v}/bin") for v in (17, 16, 15, 14)]


def find_pg_bin() -> Path | None:
    """Where initdb and pg_ctl are, or None."""
    configured = os.environ.get("PG_BIN")
    for candidate in ([Path(configured)] if configured else []) + CANDIDATE_BINS:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThrowawayCluster:
    """initdb into a temporary folder, start/stop/restart on 127.0.0.1, remove at close."""

    def __init__(self, bin_dir: Path | None = None, *, port: int | None = None) -> None:
        found = bin_dir or find_pg_bin()
        if found is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found; set PG_BIN")
        self.bin = found
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="bot-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.os_user: str | None = None
        if os.geteuid() == 0:
            self.os_user = os.environ.get("PG_OS_USER", "postgres")
            account = pwd.getpwnam(self.os_user)
            os.chown(self.root, account.pw_uid, account.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _command(self, *args: str) -> list[str]:
        # PostgreSQL refuses to run as root: there, run it as an unprivileged account.
        command = [str(self.bin / args[0]), *args[1:]]
        return ["runuser", "-u", self.os_user, "--", *command] if self.os_user else command

    def _run(self, *args: str) -> None:
        done = subprocess.run(self._command(*args), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        if done.returncode != 0:
            # the tool's own words (and the server log's end) say why, not just the code
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:1])} failed ({done.returncode}):"
                               f" {done.stderr.decode(errors='replace').strip()}\n{tail}")

    def init(self) -> ThrowawayCluster:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "--no-sync", "-E", "UTF8")
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\n"
                "max_connections = 200\n"
                "shared_preload_libraries = 'pg_stat_statements'\n"
                "pg_stat_statements.track_utility = on\n"
                "pg_stat_statements.max = 5000\n"
                # No fsync: the machine does not crash in these runs, a restarted server
                # still finds its WAL in the OS cache. synchronous_commit stays on, or an
                # immediate stop would lose commits the bot was told had happened.
                "fsync = off\nfull_page_writes = off\n"
            )
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def restart(self) -> None:
        self.stop("immediate")
        self.start()

    def is_running(self) -> bool:
        result = subprocess.run(self._command("pg_ctl", "-D", str(self.data), "status"),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return result.returncode == 0

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql://postgres@127.0.0.1:{self.port}/{name}"
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        return url

    def close(self) -> None:
        if self.is_running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ThrowawayCluster:
        self.init()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
