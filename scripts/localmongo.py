"""Start a MongoDB-wire server on loopback for the tests and the demo, whatever the machine has.

The choice, first match wins:

1. ``MONGO_URI`` is set: use that server and start nothing (``kind="env"``).
2. ``mongod`` is on PATH: run it on a free loopback port, data in the state dir (``"mongod"``).
3. A Docker daemon answers ``docker info``: a MongoDB container via testcontainers (``"docker"``).
4. Otherwise FerretDB with its SQLite backend, our small Go wrapper in ``tools/ferretdb``, built
   once into ``$GENESYS_ETL_CACHE/bin`` (``"ferretdb"``).

Library use::

    server = start_local_mongo(Path(".run/mongo"))
    ...  # server.uri, server.kind
    server.stop()

Command line::

    python -m scripts.localmongo start --state-dir .run/mongo  # MONGO_URI=..., MONGO_KIND=...
    python -m scripts.localmongo prepare  # build FerretDB now if this machine will need it

``start`` writes the URI to ``<state-dir>/uri`` and runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import ctypes
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

logger = logging.getLogger(__name__)

Kind = Literal["env", "mongod", "docker", "ferretdb"]

REPO_ROOT = Path(__file__).resolve().parent.parent
FERRETDB_SOURCE = REPO_ROOT / "tools" / "ferretdb"
# Files whose content decides whether a cached FerretDB binary is still current.
FERRETDB_INPUTS = ("main.go", "go.mod", "go.sum")
DOCKER_IMAGE = "mongo:7.0"
DEFAULT_TIMEOUT_S = 60.0
# How often a server that lost a free-port race (another process took the port between our
# probe and its bind) is started again on a new port.
START_ATTEMPTS = 3

_CREDENTIALS = re.compile(r"^(mongodb(?:\+srv)?://)[^@/]*@")


class LocalMongoError(RuntimeError):
    """The chosen server could not be built, started or reached."""


def mask_uri(uri: str) -> str:
    """Return `uri` with any ``user:password@`` part replaced by ``***@``, for logs and output."""
    return _CREDENTIALS.sub(r"\1***@", uri)


def cache_dir(env: Mapping[str, str] | None = None) -> Path:
    """The per-user cache shared by every clone: jars and the FerretDB binary live there."""
    env = os.environ if env is None else env
    default = Path.home() / ".cache" / "genesys-etl"
    return Path(env["GENESYS_ETL_CACHE"]) if env.get("GENESYS_ETL_CACHE") else default


def ferretdb_binary(env: Mapping[str, str] | None = None) -> Path:
    """Where the FerretDB wrapper binary is (or will be) built."""
    return cache_dir(env) / "bin" / "ferretdb-local"


def docker_available() -> bool:
    """True when a Docker daemon answers; the CLI alone is not enough."""
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(
            ["docker", "info"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=15,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def choose_kind(env: Mapping[str, str] | None = None) -> Kind:
    """Pick the server kind for this machine, in the order described in the module docstring."""
    env = os.environ if env is None else env
    if env.get("MONGO_URI"):
        return "env"
    if shutil.which("mongod"):
        return "mongod"
    if docker_available():
        return "docker"
    return "ferretdb"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ferretdb_fingerprint() -> str:
    digest = hashlib.sha256()
    for name in FERRETDB_INPUTS:
        digest.update(name.encode())
        digest.update((FERRETDB_SOURCE / name).read_bytes())
    return digest.hexdigest()


def ensure_ferretdb_binary(env: Mapping[str, str] | None = None) -> Path:
    """Build the FerretDB wrapper unless a binary built from the same sources is cached.

    A lock file serialises concurrent builds (two test runs at once); the binary is written to
    a temporary name and renamed, so a reader never sees half a file.
    """
    binary = ferretdb_binary(env)
    stamp = binary.with_name(binary.name + ".sha256")
    wanted = _ferretdb_fingerprint()
    if binary.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return binary
    if shutil.which("go") is None:
        raise LocalMongoError(
            "ferretdb: no mongod, no Docker daemon and no Go toolchain to build FerretDB; "
            "install Go 1.24+ or set MONGO_URI"
        )
    binary.parent.mkdir(parents=True, exist_ok=True)
    with open(binary.with_name(".build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
            return binary  # built by another process while we waited for the lock
        partial = binary.with_name(f".{binary.name}.{os.getpid()}")
        logger.info("building FerretDB into %s (first time takes a minute or two)", binary)
        build_env = {**os.environ, "CGO_ENABLED": "0"}
        done = subprocess.run(
            ["go", "build", "-trimpath", "-buildvcs=false", "-o", str(partial), "."],
            cwd=FERRETDB_SOURCE,
            env=build_env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            partial.unlink(missing_ok=True)
            raise LocalMongoError(f"ferretdb: go build failed:\n{done.stderr[-4000:]}")
        partial.replace(binary)
        stamp.write_text(wanted + "\n")
    return binary


def _die_with_parent() -> None:
    """In the child before exec: receive SIGTERM when the parent dies, so no server outlives a
    crashed test run (Linux only; harmless elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_for_ping(
    uri: str,
    kind: str,
    log_path: Path | None,
    timeout_s: float,
    process: subprocess.Popen[bytes] | None = None,
) -> None:
    """Block until the server at `uri` answers ``ping``; fail fast if `process` exits first."""
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure, PyMongoError

    where = f"; log: {log_path}" if log_path else ""
    deadline = time.monotonic() + timeout_s
    last_error = "no attempt"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = _tail(log_path) if log_path else ""
            raise LocalMongoError(
                f"{kind}: server exited with code {process.returncode} before answering "
                f"ping{where}\n{tail}"
            )
        client: MongoClient[dict[str, object]] = MongoClient(
            uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
        )
        try:
            client.admin.command("ping")
            return
        except OperationFailure as exc:
            # The server answered and refused (bad credentials, say): waiting will not help.
            raise LocalMongoError(
                f"{kind}: {mask_uri(uri)} refused ping: code {exc.code}{where}"
            ) from None
        except PyMongoError as exc:
            last_error = type(exc).__name__
        finally:
            client.close()
        time.sleep(0.2)
    raise LocalMongoError(
        f"{kind}: no answer to ping at {mask_uri(uri)} within {timeout_s:.0f}s "
        f"({last_error}){where}"
    )


class _Stopper:
    """Runs a stop action once, whoever asks first (caller, signal handler or atexit)."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action = action
        self._lock = threading.Lock()
        self._done = False

    def __call__(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
        self._action()


@dataclass(frozen=True)
class LocalMongo:
    """A running (or borrowed) MongoDB-wire server."""

    uri: str
    kind: Kind
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)
    _stopper: _Stopper = field(default_factory=lambda: _Stopper(lambda: None), repr=False)

    def stop(self) -> None:
        """Stop the server if we started it; safe to call more than once."""
        self._stopper()

    def __repr__(self) -> str:
        return f"LocalMongo(uri={mask_uri(self.uri)!r}, kind={self.kind!r})"


def _terminate(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=grace_s)


def _start_process(
    kind: Kind,
    command: Callable[[int], list[str]],
    log_path: Path,
    timeout_s: float,
    port: int | None = None,
) -> LocalMongo:
    """Run `command(port)` on a free loopback port, retrying when the port was taken meanwhile.

    With `port` given, that port is used once (a restart must keep the URI clients know).
    """
    last: LocalMongoError | None = None
    for _ in range(START_ATTEMPTS if port is None else 1):
        port_now = free_port() if port is None else port
        uri = f"mongodb://127.0.0.1:{port_now}/"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                command(port_now),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C in the terminal reaches us, and we stop the server.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        try:
            wait_for_ping(uri, kind, log_path, timeout_s, process)
        except LocalMongoError as exc:
            _terminate(process)
            last = exc
            if "address already in use" not in _tail(log_path).lower():
                raise
            continue
        stopper = _Stopper(lambda p=process: _terminate(p))
        atexit.register(stopper)
        logger.info("%s listening at %s (log %s)", kind, uri, log_path)
        return LocalMongo(uri=uri, kind=kind, log_path=log_path, process=process, _stopper=stopper)
    assert last is not None
    raise last


def _start_mongod(state_dir: Path, timeout_s: float, port: int | None = None) -> LocalMongo:
    data = state_dir / "mongod-data"
    data.mkdir(parents=True, exist_ok=True)
    return _start_process(
        "mongod",
        lambda port: [
            "mongod",
            "--bind_ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--dbpath",
            str(data),
        ],
        state_dir / "mongod.log",
        timeout_s,
        port,
    )


def _start_ferretdb(state_dir: Path, timeout_s: float, port: int | None = None) -> LocalMongo:
    binary = ensure_ferretdb_binary()
    data = state_dir / "ferretdb-data"
    data.mkdir(parents=True, exist_ok=True)
    return _start_process(
        "ferretdb",
        lambda port: [str(binary), "-listen", f"127.0.0.1:{port}", "-data", str(data)],
        state_dir / "ferretdb.log",
        timeout_s,
        port,
    )


def _start_docker(timeout_s: float) -> LocalMongo:
    from testcontainers.community.mongodb import MongoDbContainer

    container = MongoDbContainer(DOCKER_IMAGE)
    # Publish on the loopback interface only, on a port Docker picks.
    container.ports["27017"] = ("127.0.0.1", None)  # type: ignore[assignment]
    try:
        container.start()
    except Exception as exc:
        raise LocalMongoError(f"docker: could not start {DOCKER_IMAGE}: {exc}") from exc
    uri = container.get_connection_url()
    stopper = _Stopper(container.stop)
    atexit.register(stopper)
    try:
        wait_for_ping(uri, "docker", None, timeout_s)
    except LocalMongoError:
        stopper()
        raise
    return LocalMongo(uri=uri, kind="docker", _stopper=stopper)


def start_local_mongo(state_dir: Path, timeout_s: float = DEFAULT_TIMEOUT_S) -> LocalMongo:
    """Start (or borrow) a MongoDB-wire server and return once it answers ``ping``.

    `state_dir` holds the server's data and log; it is created if missing.
    Raises `LocalMongoError` naming the kind that failed and where its log is.
    """
    kind = choose_kind()
    if kind == "env":
        uri = os.environ["MONGO_URI"]
        wait_for_ping(uri, kind, None, timeout_s)
        return LocalMongo(uri=uri, kind=kind)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    if kind == "mongod":
        return _start_mongod(state_dir, timeout_s)
    if kind == "docker":
        return _start_docker(timeout_s)
    return _start_ferretdb(state_dir, timeout_s)


def restart_local_mongo(
    server: LocalMongo,
    state_dir: Path,
    down_s: float = 0.0,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> LocalMongo:
    """Stop a server that `start_local_mongo(state_dir)` started and start it again on the same
    port and data folder, after `down_s` seconds down; return the new handle (same URI).

    For fault injection (`scripts/chaos.py`): clients see the server vanish and come back.
    Only process kinds can be restarted this way; a borrowed (env) or Docker server cannot.
    """
    if server.kind not in ("mongod", "ferretdb"):
        raise LocalMongoError(f"{server.kind}: only a mongod or FerretDB process can be restarted")
    port = int(server.uri.rstrip("/").rsplit(":", 1)[1])
    server.stop()
    time.sleep(down_s)
    state_dir = Path(state_dir)
    if server.kind == "mongod":
        return _start_mongod(state_dir, timeout_s, port)
    return _start_ferretdb(state_dir, timeout_s, port)


def _write_atomically(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False) as handle:
        handle.write(text)
    os.chmod(handle.name, 0o600)  # the URI may carry credentials
    os.replace(handle.name, path)


def _cmd_start(args: argparse.Namespace) -> int:
    state_dir = Path(args.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    server = start_local_mongo(state_dir, timeout_s=args.timeout)
    uri_file = state_dir / "uri"
    _write_atomically(uri_file, server.uri + "\n")
    print(f"MONGO_URI={mask_uri(server.uri)}", flush=True)
    print(f"MONGO_KIND={server.kind}", flush=True)

    stop_requested = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        logger.info("signal %d: stopping %s", signum, server.kind)
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    code = 0
    try:
        while not stop_requested.wait(1.0):
            if server.process is not None and server.process.poll() is not None:
                logger.error(
                    "%s exited on its own (code %s); log: %s",
                    server.kind,
                    server.process.returncode,
                    server.log_path,
                )
                code = 1
                break
    finally:
        server.stop()
        uri_file.unlink(missing_ok=True)
    return code


def _cmd_prepare(_args: argparse.Namespace) -> int:
    kind = choose_kind()
    if kind == "ferretdb":
        binary = ensure_ferretdb_binary()
        print(f"ferretdb binary ready: {binary}", flush=True)
    else:
        print(f"no FerretDB build needed: the server kind here is {kind}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.localmongo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("start", help="start a server, print its URI, run until signalled")
    start.add_argument("--state-dir", required=True, help="folder for data, log and the uri file")
    start.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds to wait")
    start.set_defaults(handler=_cmd_start)
    prepare = sub.add_parser("prepare", help="build FerretDB now if this machine will need it")
    prepare.set_defaults(handler=_cmd_prepare)
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="localmongo: %(message)s", stream=sys.stderr)
    try:
        return int(args.handler(args))
    except LocalMongoError as exc:
        logger.error("%s", exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())
