"""A throwaway PostgreSQL cluster on loopback for the persistence, monitor and API tests.

Started once per test process (xdist worker) with ``initdb`` + ``pg_ctl`` from PATH or
/usr/lib/postgresql/*/bin, as an unprivileged user when the tests run as root (PostgreSQL
refuses root), in a temporary directory that user owns, on a random free port; stopped at
the end. Without PostgreSQL binaries the fixture fails loudly with the install command.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = ("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin. "
                "Install them: apt-get install -y postgresql")
RUN_AS = "postgres"


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name)
                  if Path(d).parent.name.isdigit() else 0)
    for d in reversed(dirs):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser") or shutil.which("setpriv")
    if runuser is None:
        raise RuntimeError("running as root and neither runuser nor setpriv exists to drop privileges for PostgreSQL")
    if runuser.endswith("runuser"):
        return [runuser, "-u", RUN_AS, "--", *cmd]
    import pwd

    pw = pwd.getpwnam(RUN_AS)
    return [runuser, f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups", *cmd]


@dataclass
class Cluster:
    bin: Path
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, db: str = "postgres") -> str:
        return f"postgresql+psycopg://maswatch@127.0.0.1:{self.port}/{db}"

    def create_database(self, template: str | None = None) -> str:
        """A new empty database (or a copy of ``template``); returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:16]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=maswatch dbname=postgres", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drop a database of :meth:`create_database` (nobody may be connected to it)."""
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=maswatch dbname=postgres", autocommit=True) as c:
            c.execute(f'DROP DATABASE "{name}"')

    def stop(self) -> None:
        subprocess.run(_as_user([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
                       capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def start_cluster() -> Cluster:
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise RuntimeError(INSTALL_HINT)
    root = Path(tempfile.mkdtemp(prefix="maswatch-pg-"))
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam(RUN_AS)
        except KeyError:
            raise RuntimeError(f"running as root and there is no {RUN_AS!r} user to run PostgreSQL as "
                               "(apt-get install -y postgresql creates it)") from None
        os.chown(root, pw.pw_uid, pw.pw_gid)
    cluster = Cluster(bin_dir, root, _free_port())
    run = lambda cmd: subprocess.run(_as_user(cmd), capture_output=True, text=True, timeout=120)  # noqa: E731
    r = run([str(bin_dir / "initdb"), "-D", str(cluster.data), "-U", "maswatch", "--auth=trust", "-E", "UTF8",
             "--no-sync", "--no-instructions"])
    if r.returncode:
        raise RuntimeError(f"initdb failed: {r.stderr.strip() or r.stdout.strip()}")
    opts = (f"-p {cluster.port} -c listen_addresses=127.0.0.1 -k {root} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=50")
    r = run([str(bin_dir / "pg_ctl"), "-D", str(cluster.data), "-o", opts, "-l", str(root / "log"), "-w", "-t", "60",
             "start"])
    if r.returncode:
        log = (root / "log").read_text(errors="replace")[-2000:] if (root / "log").exists() else ""
        raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()} {log}")
    return cluster
