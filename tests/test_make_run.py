"""`make run`'s launcher: every service up with prefixed logs, clean stop on SIGTERM and Ctrl-C, data kept."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from shared.launcher import free_port
from shared.settings import SERVICES
from tests.support.platform import fresh_uscc


def free_port_block(size: int) -> int:
    while True:
        base = secrets.randbelow(31000 - 20000) + 20000
        try:
            for port in range(base, base + size):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue


class Launcher:
    def __init__(self, var_dir: Path, base: int) -> None:
        env = {**os.environ, "VAR_DIR": str(var_dir), "PORT_BASE": str(base), "BROKER_PORT": str(free_port())}
        self.process = subprocess.Popen([sys.executable, "-m", "shared.launcher"], env=env, text=True,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines: list[str] = []
        self.running = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if line.startswith("Sizhong is running"):
                self.running.set()

    def children(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def stop(self, signum: int) -> float:
        started = time.monotonic()
        self.process.send_signal(signum)
        self.process.wait(15)
        return time.monotonic() - started


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_make_run_starts_everything_stops_cleanly_and_keeps_its_data(tmp_path: Path) -> None:
    base = free_port_block(len(SERVICES))
    gateway = f"http://127.0.0.1:{base}"
    first = Launcher(tmp_path / "var", base)
    assert first.running.wait(90), "".join(first.lines[-40:])
    children = first.children()
    assert len(children) == len(SERVICES) + 1  # the broker and seven services
    for offset, name in enumerate(SERVICES):
        assert httpx.get(f"http://127.0.0.1:{base + offset}/healthz").json() == {"status": "ok", "service": name}
    assert "Sizhong 四众 console" in httpx.get(gateway + "/").text
    assert httpx.get(f"http://127.0.0.1:{base + 1}/testing/clock").status_code == 404  # system clock only
    assert any(line.startswith("credit       | {") for line in first.lines)
    assert any(f"  audit         http://127.0.0.1:{base + 6}" in line for line in first.lines)

    username = f"u{secrets.token_hex(4)}"
    httpx.post(gateway + "/auth/signup", json={"username": username, "password": "password-123",
                                               "display_name": "x", "roles": ["enterprise"]}).raise_for_status()
    token = httpx.post(gateway + "/auth/token", data={"username": username, "password": "password-123"})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    organisation = httpx.post(gateway + "/organisations", headers=headers,
                              json={"name": "Kept Across Restarts", "uscc": fresh_uscc()}).json()

    assert first.stop(signal.SIGTERM) < 10
    assert first.process.returncode == 0
    assert not [pid for pid in children if alive(pid)]

    second = Launcher(tmp_path / "var", base)
    assert second.running.wait(90), "".join(second.lines[-40:])
    children = second.children()
    again = httpx.get(f"{gateway}/organisations/{organisation['id']}", headers=headers)
    assert again.status_code == 200 and again.json()["name"] == "Kept Across Restarts"
    assert second.stop(signal.SIGINT) < 10
    assert not [pid for pid in children if alive(pid)]
