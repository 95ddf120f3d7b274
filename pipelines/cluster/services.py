"""Start and stop the services of a cluster on one machine (loopback): Postgres, Redis, the S3-compatible server,
Celery workers, the Dagster webserver and daemon.

Every service is a process group started with ``Popen(start_new_session=True)``; :class:`Services` remembers
the pid and stops exactly what it started (SIGTERM to the group, SIGKILL after a grace period), in reverse
order, on success, failure or Ctrl-C (use it as a context manager). Nothing is stopped by name.

Production runs the same programs as system services (deploy/, README "Deployment"); this module is how
``make cluster-demo`` and the cluster tests get them on 127.0.0.1.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

from pipelines.settings import PROJECT_ROOT

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


class ServiceError(RuntimeError):
    """A service did not start (the message names it, its address and the end of its log)."""


@dataclass
class Service:
    name: str
    proc: subprocess.Popen
    log: Path
    stop_fn: Callable[[], None] | None = None
    # Postgres: SIGINT is its fast shutdown (SIGTERM waits for every client to disconnect)
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ensure_free(port: int, name: str, host: str = "127.0.0.1") -> None:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)   # (a port in TIME_WAIT is free for a server)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ServiceError(f"cannot start {name} on {host}:{port}: the port is taken ({exc.strerror}); "
                               "stop what uses it or set another port in the settings") from None


def wait_for_port(port: int, timeout: float, service: Service | None = None, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service is not None and service.proc.poll() is not None:
            raise ServiceError(f"{service.name} exited with {service.proc.returncode} before listening on "
                               f"{host}:{port}; its log ({service.log}):\n{service.tail()}")
        try:
            socket.create_connection((host, port), 0.3).close()
            return
        except OSError:
            time.sleep(0.1)
    raise ServiceError(f"{service.name if service else 'service'} is not listening on {host}:{port} after "
                       f"{timeout:.0f}s" + (f"; its log ({service.log}):\n{service.tail()}" if service else ""))


def _pg_tool(name: str) -> str:
    for d in PG_BIN_DIRS:
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    if not found:
        raise ServiceError(f"PostgreSQL's {name} is not installed (apt-get install postgresql)")
    return found


def _as_postgres_user() -> list[str]:
    """Postgres refuses to run as root: as root, run its tools as the ``postgres`` user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def untraversable_for(path: Path, user: str) -> Path | None:
    """The first directory above ``path`` that ``user`` may not enter (None when it can reach ``path``): a project
    cloned into a 0700 directory (``/root``, ``mktemp -d``) hides the Postgres data directory from the
    ``postgres`` user, and initdb then only says "Permission denied"."""
    import grp
    import pwd
    import stat

    try:
        pw = pwd.getpwnam(user)
    except KeyError:
        return None
    groups = {pw.pw_gid} | {g.gr_gid for g in grp.getgrall() if user in g.gr_mem}
    for d in reversed(Path(path).resolve().parents):
        if not d.exists():   # not made yet (a fresh clone has no data/): what is there is all there is to check
            break
        st = d.stat()
        if st.st_uid == pw.pw_uid:
            ok = st.st_mode & stat.S_IXUSR
        elif st.st_gid in groups:
            ok = st.st_mode & stat.S_IXGRP
        else:
            ok = st.st_mode & stat.S_IXOTH
        if not ok:
            return d
    return None


def postgres_data_dir(preferred: Path) -> Path:
    """``preferred``, unless Postgres must run as the ``postgres`` user (we are root) and that user cannot reach
    it (a project under ``/root`` or a ``mktemp -d`` directory): then a directory named after it under the
    system's temporary directory, which every user may traverse, so the demo runs from wherever it was cloned."""
    preferred = Path(preferred)
    if not _as_postgres_user() or untraversable_for(preferred, "postgres") is None:
        return preferred
    import hashlib

    tag = hashlib.sha1(str(preferred.resolve()).encode()).hexdigest()[:12]
    fallback = Path(tempfile.gettempdir()) / f"fmlake-postgres-{tag}"
    # a temporary directory the postgres user cannot reach either: keep the preferred one (its error names it)
    return fallback if untraversable_for(fallback, "postgres") is None else preferred


@dataclass
class Services:
    """The processes this launcher started, stopped in reverse order by :meth:`stop_all`."""

    workdir: Path
    env: Mapping[str, str]
    started: list[Service] = field(default_factory=list)

    def __post_init__(self):
        self.workdir = Path(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)

    def __enter__(self) -> "Services":
        self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.stop_all()
        finally:
            signal.signal(signal.SIGTERM, self._previous)

    def _on_sigterm(self, signum, frame):
        # stop the services first: a run waiting on a worker's result may not see the interrupt for a while
        self.stop_all()
        raise KeyboardInterrupt(f"signal {signum}")

    # ------------------------------------------------------------------ generic
    def spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None,
              cwd: str | Path | None = None, stop_fn: Callable[[], None] | None = None) -> Service:
        log = self.workdir / "logs" / f"{name}.log"
        out = log.open("ab")
        try:
            proc = subprocess.Popen(argv, env=dict(env if env is not None else self.env), cwd=str(cwd or PROJECT_ROOT),
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        finally:
            out.close()
        service = Service(name, proc, log, stop_fn)
        self.started.append(service)
        return service

    def stop(self, service: Service, grace: float = 15.0) -> None:
        """Stop one service: its own stop command if it has one, else SIGTERM to its process group, SIGKILL
        after ``grace`` seconds."""
        if service.proc.poll() is None:
            if service.stop_fn is not None:
                try:
                    service.stop_fn()
                except Exception:  # noqa: BLE001 - fall back to the signal below
                    pass
            try:
                os.killpg(service.pid, service.stop_signal)
            except ProcessLookupError:
                pass
            try:
                service.proc.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(service.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                service.proc.wait(5)
        else:
            try:   # the leader exited; children of its group may remain
                os.killpg(service.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if service in self.started:
            self.started.remove(service)

    def kill(self, service: Service) -> None:
        """SIGKILL the whole process group at once (what a node crash or the OOM killer does)."""
        try:
            os.killpg(service.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        service.proc.wait(10)
        if service in self.started:
            self.started.remove(service)

    def stop_all(self) -> None:
        errors = []
        for service in reversed(list(self.started)):
            try:
                self.stop(service)
            except Exception as exc:  # noqa: BLE001 - stop the others anyway, then report
                errors.append(f"{service.name} (pid {service.pid}): {exc}")
        if errors:
            raise ServiceError("could not stop: " + "; ".join(errors))

    # ------------------------------------------------------------------ the services
    def postgres(self, port: int, user: str, password: str, db: str, data_dir: Path | None = None) -> Service:
        """A Postgres server on 127.0.0.1:``port`` (data directory under the workdir, created on first use)
        with a login role ``user`` and database ``db``."""
        ensure_free(port, "Postgres")
        data_dir = Path(data_dir or self.workdir / "postgres")
        as_pg = _as_postgres_user()
        if not (data_dir / "PG_VERSION").exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            if as_pg:
                shutil.chown(data_dir, "postgres", "postgres")
                blocked = untraversable_for(data_dir, "postgres")
                if blocked is not None:
                    raise ServiceError(f"Postgres: the postgres user cannot enter {blocked} (mode "
                                       f"{blocked.stat().st_mode & 0o777:o}), so initdb cannot reach {data_dir}; "
                                       f"put the project where others may traverse, or chmod o+x {blocked}")
            data_dir.chmod(0o700)
            init = subprocess.run([*as_pg, _pg_tool("initdb"), "-D", str(data_dir), "-U", "postgres",
                                   "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8"],
                                  capture_output=True, text=True)
            if init.returncode != 0:
                raise ServiceError(f"Postgres initdb in {data_dir} failed (exit {init.returncode}): "
                                   f"{(init.stderr or init.stdout).strip()[-2000:]}")
        sock_dir = data_dir / "socket"
        sock_dir.mkdir(exist_ok=True)
        if as_pg:
            shutil.chown(sock_dir, "postgres", "postgres")
        argv = [*as_pg, _pg_tool("postgres"), "-D", str(data_dir), "-p", str(port), "-h", "127.0.0.1",
                "-k", str(sock_dir), "-c", "max_connections=200", "-c", "fsync=off"]
        service = self.spawn("postgres", argv, env={"PATH": self.env.get("PATH", "/usr/bin:/bin"),
                                                     "LANG": "C.UTF-8"})
        service.stop_signal = signal.SIGINT
        wait_for_port(port, 60, service)
        psql = [*as_pg, _pg_tool("psql"), "-h", str(sock_dir), "-p", str(port), "-U", "postgres", "-v",
                "ON_ERROR_STOP=1", "-qAt"]
        for _ in range(50):   # listening before it accepts connections
            if subprocess.run([*psql, "-c", "SELECT 1"], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        quoted = password.replace("'", "''")
        exists = subprocess.run([*psql, "-c", f"SELECT 1 FROM pg_roles WHERE rolname = '{user}'"],
                                capture_output=True, text=True, check=True).stdout.strip()
        verb = "ALTER" if exists else "CREATE"
        subprocess.run([*psql, "-c", f"{verb} ROLE \"{user}\" LOGIN PASSWORD '{quoted}'"], check=True,
                       capture_output=True)
        has_db = subprocess.run([*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{db}'"],
                                capture_output=True, text=True, check=True).stdout.strip()
        if not has_db:
            subprocess.run([*psql, "-c", f"CREATE DATABASE \"{db}\" OWNER \"{user}\""], check=True,
                           capture_output=True)
        service.psql = psql  # type: ignore[attr-defined]
        return service

    def redis(self, port: int) -> Service:
        server = shutil.which("redis-server")
        if not server:
            raise ServiceError("redis-server is not installed (apt-get install redis-server)")
        ensure_free(port, "Redis")
        service = self.spawn("redis", [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                       "--appendonly", "no", "--protected-mode", "yes"])
        wait_for_port(port, 30, service)
        return service

    def s3_server(self, port: int, buckets: tuple[str, ...] = ()) -> Service:
        """moto's S3 server on 127.0.0.1:``port`` (the test stand-in for MinIO / Ceph RGW) with ``buckets``."""
        ensure_free(port, "the S3 server")
        service = self.spawn("s3", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)])
        wait_for_port(port, 60, service)
        for bucket in buckets:
            create_bucket(f"http://127.0.0.1:{port}", bucket)
        return service

    def celery_worker(self, name: str, queues: tuple[str, ...], env: Mapping[str, str]) -> Service:
        """A Celery worker ``name`` taking one step at a time from ``queues``, with the environment ``env``
        built from the settings (:func:`pipelines.settings.settings_environment`).

        The ``solo`` pool runs the step in the worker process itself: no fork (deltalake panics in a forked
        child once the parent used it) and no daemonic pool child (a step may start processes of its own, e.g.
        the embedder's). A site runs one such worker per core or GPU it gives to steps."""
        argv = [sys.executable, "-m", "celery", "-A", "pipelines.cluster.celery_app", "worker",
                "-n", f"{name}@%h", "-Q", ",".join(queues), "-P", "solo", "-l", "INFO",
                "--without-gossip", "--without-mingle", "-E"]
        service = self.spawn(f"worker-{name}", argv, env=env)
        return service

    def wait_for_workers(self, env: Mapping[str, str], names: list[str], timeout: float = 120) -> None:
        """Until every worker in ``names`` answers a ping on the broker."""
        from pipelines.cluster.celery_app import make_worker_app

        app = make_worker_app(env)   # the broker the workers were given
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        while time.monotonic() < deadline:
            for s in self.started:
                if s.name.startswith("worker-") and s.proc.poll() is not None:
                    raise ServiceError(f"{s.name} exited with {s.proc.returncode}; its log ({s.log}):\n{s.tail()}")
            replies = app.control.ping(timeout=1.0) or []
            seen = {k.split("@")[0] for r in replies for k in r}
            if all(n in seen for n in names):
                return
        raise ServiceError(f"Celery workers {sorted(set(names) - seen)} did not answer on the broker in {timeout:.0f}s")

    def dagster_webserver(self, port: int, env: Mapping[str, str]) -> Service:
        argv = [str(Path(sys.executable).parent / "dagster-webserver"), "-w", str(PROJECT_ROOT / "workspace.yaml"),
                "-h", "127.0.0.1", "-p", str(port)]
        service = self.spawn("dagster-webserver", argv, env=env)
        wait_for_port(port, 180, service)
        return service

    def dagster_daemon(self, env: Mapping[str, str]) -> Service:
        argv = [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", str(PROJECT_ROOT / "workspace.yaml")]
        return self.spawn("dagster-daemon", argv, env=env)


def create_bucket(endpoint: str, bucket: str) -> None:
    """Create ``bucket`` on the S3 server at ``endpoint`` (an existing one is kept)."""
    req = urllib.request.Request(f"{endpoint}/{bucket}", method="PUT")
    try:
        urllib.request.urlopen(req, timeout=10).close()
    except urllib.error.HTTPError as exc:
        if exc.code != 409:   # BucketAlreadyOwnedByYou
            raise ServiceError(f"could not create bucket {bucket} on {endpoint}: HTTP {exc.code}") from None
