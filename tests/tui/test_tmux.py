"""The console as an operator meets it: `okxscalp` in an 80×24 tmux pane, quit with `q`.

Runs the real command (engine + embedded simulator) on a private tmux server socket, reads the
pane with `capture-pane`, and stops only the server it started.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PANE_TITLES = ("Tick freshness", "WebSocket connections", "Positions", "Fallback events")
# Generous: a cold start imports textual, starts the simulator and connects three WebSockets.
START_DEADLINE_S = 45.0
EXIT_DEADLINE_S = 20.0

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)"),
]


class TmuxServer:
    """A tmux server of our own (`-L` socket): nothing else's sessions are touched."""

    def __init__(self, socket_name: str) -> None:
        self.socket_name = socket_name

    def run(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-L", self.socket_name, *args], capture_output=True, text=True, check=True, timeout=10
        ).stdout

    def capture(self) -> str:
        return self.run("capture-pane", "-p", "-t", "console")

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket_name, "kill-server"], capture_output=True, timeout=10)


def has_exit_code(path: Path) -> bool:
    return path.exists() and path.read_text().strip() != ""


def wait_for(predicate: Callable[[], bool], deadline_s: float) -> bool:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.2)
    return predicate()


def test_console_in_an_80x24_tmux_pane_renders_every_pane_and_quits_on_q(tmp_path: Path) -> None:
    exit_file = tmp_path / "exit_code"
    command = " ".join(
        [
            shlex.quote(sys.executable),
            "-m",
            "okxscalp",
            "--journal",
            shlex.quote(str(tmp_path / "journal.sqlite")),
        ]
    )
    # XDG_STATE_HOME keeps the console's session log inside tmp_path.
    shell = (
        f"cd {shlex.quote(str(REPO))} && XDG_STATE_HOME={shlex.quote(str(tmp_path))} {command}; "
        f"echo $? > {shlex.quote(str(exit_file))}; sleep 30"
    )
    server = TmuxServer(f"okxscalp-test-{os.getpid()}")
    try:
        server.run("new-session", "-d", "-s", "console", "-x", "80", "-y", "24", shell)
        rendered = wait_for(lambda: all(title in server.capture() for title in PANE_TITLES), START_DEADLINE_S)
        screen = server.capture()
        assert rendered, f"not every pane rendered:\n{screen}"
        assert len(screen.splitlines()) <= 24
        assert all(len(line) <= 80 for line in screen.splitlines())
        # A halt reason in the header (space: paused by the operator) leaves equity, REST, the
        # clock, every pane title and the footer on screen.
        running = wait_for(lambda: "entries running" in server.capture(), START_DEADLINE_S)
        assert running, f"start-up never completed:\n{server.capture()}"
        server.run("send-keys", "-t", "console", "space")
        assert wait_for(lambda: "operator" in server.capture().splitlines()[0], EXIT_DEADLINE_S), server.capture()
        assert wait_for(lambda: "Resume" in server.capture(), EXIT_DEADLINE_S), server.capture()
        screen = server.capture()
        lines = screen.splitlines()
        header = lines[0]
        assert "HALTED (" in header and "equity " in header and "REST " in header and "clock " in header, screen
        assert all(title in screen for title in PANE_TITLES), screen
        footer = next(line for line in reversed(lines) if line.strip())
        assert "Resume" in footer and "? Help" in footer and "q Quit" in footer, screen
        assert all(len(line) <= 80 for line in lines)
        server.run("send-keys", "-t", "console", "q")
        # With open positions the console asks first; the positions stay protected on the exchange.
        if wait_for(lambda: "Quit with" in server.capture() or has_exit_code(exit_file), EXIT_DEADLINE_S) and (
            not has_exit_code(exit_file)
        ):
            server.run("send-keys", "-t", "console", "y")
        assert wait_for(lambda: has_exit_code(exit_file), EXIT_DEADLINE_S), f"did not quit on q:\n{server.capture()}"
        assert exit_file.read_text().strip() == "0", server.capture()
    finally:
        server.kill()
