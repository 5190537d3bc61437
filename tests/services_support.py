"""Throwaway services for the services tests: a PostgreSQL cluster and a redis-server on
127.0.0.1, and child processes run in their own process groups, all torn down on exit.

PostgreSQL and Redis come from Debian (``scripts/install_services.sh`` installs them when
missing). As root, the cluster runs as the ``postgres`` user (PostgreSQL refuses to run as
root); otherwise as the current user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log_tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else f"({path} not written)"


def _postgres_bindir() -> Path | None:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    return Path(found[-1]).parent if found else None


def ensure_installed() -> Path:
    """PostgreSQL's bin folder; installs PostgreSQL and Redis first when either is missing."""
    if _postgres_bindir() is None or shutil.which("redis-server") is None:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "install_services.sh")], check=True, timeout=900
        )
    bindir = _postgres_bindir()
    if bindir is None or shutil.which("redis-server") is None:
        raise RuntimeError("initdb or redis-server is missing after scripts/install_services.sh")
    return bindir


@dataclass
class Postgres:
    host: str
    port: int
    user: str
    password: str
    db: str

    def env(self) -> dict[str, str]:
        """The variables deploy/postgres-celery/dagster.yaml reads."""
        return {
            "DAGSTER_PG_HOST": self.host,
            "DAGSTER_PG_PORT": str(self.port),
            "DAGSTER_PG_USER": self.user,
            "DAGSTER_PG_PASSWORD": self.password,
            "DAGSTER_PG_DB": self.db,
        }


def _as_owner(cmd: Sequence[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *cmd] if owner else list(cmd)


@contextmanager
def postgres_cluster(bindir: Path, timeout_s: float = 60.0) -> Iterator[Postgres]:
    """A new cluster (initdb) in a temporary folder, listening on 127.0.0.1 only, with a
    password-protected superuser and one database; stopped and deleted on exit."""
    import psycopg2

    owner = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="video-assets-pg-"))
    data, log = base / "data", base / "postgres.log"
    pg = Postgres(
        host="127.0.0.1",
        port=free_port(),
        user="dagster",
        password=secrets.token_hex(12),
        db="dagster",
    )
    pwfile = base / "pwfile"
    pwfile.write_text(pg.password + "\n")
    if owner:
        ent = pwd.getpwnam(owner)
        for p in (base, pwfile):
            os.chown(p, ent.pw_uid, ent.pw_gid)
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        subprocess.run(
            _as_owner(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    pg.user,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
                owner,
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        # A throwaway cluster: no durability, no Unix socket outside its folder.
        opts = (
            f"-h 127.0.0.1 -p {pg.port} -k {data} -c fsync=off -c synchronous_commit=off "
            "-c full_page_writes=off -c max_connections=200"
        )
        started = True
        subprocess.run(
            _as_owner(
                [*pg_ctl, "-l", str(log), "-o", opts, "-w", "-t", str(int(timeout_s)), "start"],
                owner,
            ),
            check=True,
            capture_output=True,
            timeout=timeout_s + 10,
        )
        con = psycopg2.connect(
            host=pg.host, port=pg.port, user=pg.user, password=pg.password, dbname="postgres"
        )
        try:
            con.autocommit = True  # CREATE DATABASE cannot run in a transaction
            with con.cursor() as cur:
                cur.execute(f"CREATE DATABASE {pg.db}")
        finally:
            con.close()
        yield pg
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(
            f"PostgreSQL did not start: {exc.cmd}\n{exc.stderr.decode(errors='replace')}\n"
            f"{log_tail(log)}"
        ) from None
    finally:
        if started:
            stopped = (
                subprocess.run(
                    _as_owner([*pg_ctl, "-m", "immediate", "-w", "stop"], owner),
                    capture_output=True,
                    timeout=60,
                ).returncode
                == 0
            )
            pidfile = data / "postmaster.pid"
            if not stopped and pidfile.exists():  # our postmaster, by its pid
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def redis_server(log: Path, timeout_s: float = 30.0) -> Iterator[str]:
    """redis-server on 127.0.0.1 (no persistence); yields its URL without a database number."""
    import redis

    port = free_port()
    cmd = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(log.parent),
    ]
    with child(cmd, os.environ, log) as proc:
        client = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start:\n{log_tail(log)}") from None
                time.sleep(0.2)
        yield f"redis://127.0.0.1:{port}"


@contextmanager
def child(
    cmd: Sequence[str], env: Mapping[str, str], log: Path, cwd: Path = REPO
) -> Iterator[subprocess.Popen]:
    """``cmd`` in its own process group, output to ``log``; the whole group is stopped on
    exit (SIGTERM, then SIGKILL for whatever is left), whatever happened inside."""
    with open(log, "ab") as fh:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=dict(env),
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen, grace_s: float = 15.0) -> None:
    """SIGTERM to the process group of ``proc`` (its leader), then SIGKILL to the group."""
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        proc.wait()
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace_s)
    # Children (Celery pool processes, code servers, run workers) may outlive the leader.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait()


def wait_for_text(
    log: Path, text: str, proc: subprocess.Popen, timeout_s: float, what: str
) -> None:
    """Wait until ``text`` appears in ``log``; an error with the log's tail if ``proc`` exits
    or the time runs out."""
    deadline = time.monotonic() + timeout_s
    while text not in (log.read_text(errors="replace") if log.exists() else ""):
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}:\n{log_tail(log)}")
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"{what} did not print {text!r} in {timeout_s:.0f} s:\n{log_tail(log)}"
            )
        time.sleep(0.5)
