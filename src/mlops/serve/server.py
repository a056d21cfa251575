"""Run the app on uvicorn: bind first (a clear error if the port is taken), then serve.

One worker serves in this process. With `workers > 1`, uvicorn's supervisor spawns worker
processes that share the socket; each loads the model and follows the alias on its own, and
their metrics are merged through a private `PROMETHEUS_MULTIPROC_DIR`.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
from collections.abc import Iterator
from typing import Any

from mlops import threads
from mlops.errors import ConfigError
from mlops.serve.access import AccessLog
from mlops.serve.app import create_app
from mlops.serve.metrics import MULTIPROC_ENV
from mlops.serve.options import OPTIONS_ENV, ServeOptions

#: Seconds to let in-flight requests finish after SIGTERM before closing connections.
GRACEFUL_SECONDS = 30
#: A worker busy with one huge batch must not be taken for hung and killed by the supervisor.
WORKER_HEALTHCHECK_SECONDS = 120


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise ConfigError(
            f"serve: cannot listen on {host}:{port} ({reason}); pick another --port/--host"
        ) from exc
    except OverflowError as exc:
        sock.close()
        raise ConfigError(f"serve: port {port} is out of range") from exc
    sock.set_inheritable(True)
    return sock


def address(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _uvicorn_config(app: Any, options: ServeOptions, **extra: Any) -> Any:
    import uvicorn

    from mlops.serve import guard

    limit = options.max_connections
    config = uvicorn.Config(
        app,
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        # Connections waiting for a request are closed after a deadline (see `guard`).
        http="mlops.serve.guard:GuardedHttpProtocol",
        timeout_keep_alive=options.keep_alive_timeout,
        # uvicorn counts the connection asking too: one more than the cap gets its 503.
        limit_concurrency=None if limit is None else limit + 1,
        **extra,
    )
    setattr(config, guard.HEADER_TIMEOUT, options.header_timeout)
    setattr(config, guard.MAX_CONNECTIONS, limit)
    if hasattr(config, "timeout_worker_healthcheck"):
        config.timeout_worker_healthcheck = WORKER_HEALTHCHECK_SECONDS
    return config


def _raise_open_files_limit() -> None:
    """Allow as many open files as the hard limit: connections must not starve model reloads."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or hard > soft:
            target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ImportError, ValueError, OSError):  # not on this platform, or not allowed
        pass


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run(options: ServeOptions, sock: socket.socket, *, workers: int = 1) -> None:
    """Serve until SIGINT/SIGTERM; in-flight requests finish before the process exits."""
    # Before the model's libraries load: OpenMP reads these once, when it initialises.
    threads.prefer_passive_waiting(options.threads)
    _raise_open_files_limit()
    if workers <= 1:
        app = create_app(options)
        app.holder.load_first()  # clients queue on the bound socket meanwhile
        import uvicorn

        server = uvicorn.Server(_uvicorn_config(AccessLog(app), options))
        try:
            server.run(sockets=[sock])
        except KeyboardInterrupt:
            # uvicorn re-raises the signal it shut down on; where a handler turns SIGTERM into
            # KeyboardInterrupt, that arrives here after a complete, graceful shutdown.
            if not server.should_exit:
                raise
        return
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    with (
        tempfile.TemporaryDirectory(prefix="mlops-metrics-") as metrics_dir,
        _environment({MULTIPROC_ENV: metrics_dir, OPTIONS_ENV: options.model_dump_json()}),
    ):
        config = _uvicorn_config(
            "mlops.serve.app:app_from_env", options, factory=True, workers=workers
        )
        supervisor: Any
        try:
            supervisor = Multiprocess(config, sockets=[sock])
        except TypeError:  # uvicorn < 0.36 takes the server's run method as `target`
            supervisor = Multiprocess(config, target=uvicorn.Server(config).run, sockets=[sock])  # type: ignore[call-arg]
        supervisor.run()
