"""Before anything starts, `okxscalp` checks it can write where it must and takes its locks: one
instance per journal and per account. A refusal is one line naming the cause and what to do —
never a traceback, never inside the console."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from engine_helpers import running_engine, sim_server

from okxscalp.config.schema import AppConfig
from okxscalp.engine.instance_lock import account_lock_path, journal_lock_path
from okxscalp.engine.journal import JournalError
from okxscalp.engine.orchestrator import Engine
from okxscalp.preflight import journal_location_problem, state_dir_problem
from okxscalp.sim.server import SIM_CREDENTIALS, run_in_thread

START_TIMEOUT_S = 60.0


def okxscalp(*args: str) -> list[str]:
    return [sys.executable, "-m", "okxscalp", *args]


def env_with_state(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state")}


def wait_for(predicate: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def holder_pid(lock_file: Path) -> int | None:
    try:
        return int(json.loads(lock_file.read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "not-a-directory"
    path.write_text("a regular file")
    return path


# ---- writability (meaningful as root: a file in the path, a pseudo filesystem) ------------------


def test_journal_locations_that_cannot_be_written_are_named_with_what_to_do(tmp_path: Path, a_file: Path) -> None:
    fix = "run okxscalp from a writable directory, or set journal.path (or --journal) to a writable location"
    assert journal_location_problem(str(tmp_path / "journal.sqlite")) is None
    assert journal_location_problem(str(a_file / "journal.sqlite")) == f"journal directory {a_file} is not a directory: {fix}"
    assert journal_location_problem(str(a_file / "sub" / "journal.sqlite")) == (
        f"journal directory {a_file / 'sub'} cannot exist: {a_file} is a file, not a directory: {fix}"
    )
    assert journal_location_problem(str(tmp_path / "missing" / "j.sqlite")) == (
        f"journal directory {tmp_path / 'missing'} does not exist: {fix}"
    )
    assert "is a directory" in (journal_location_problem(str(tmp_path)) or "")


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs Linux sysfs (a directory nobody can create files in)")
def test_a_directory_even_root_cannot_write_is_refused() -> None:
    problem = journal_location_problem("/sys/kernel/okxscalp-journal.sqlite")
    assert problem is not None and problem.startswith("journal directory /sys/kernel is not writable (")


def test_a_state_directory_that_cannot_be_created_is_named(a_file: Path) -> None:
    problem = state_dir_problem(a_file / "okxscalp")
    assert problem is not None and problem.startswith(f"state directory {a_file / 'okxscalp'} cannot be created (")
    assert problem.endswith("set XDG_STATE_HOME to a writable directory")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("mode", [["--headless"], []], ids=["headless", "console"])
def test_an_unwritable_journal_directory_stops_okxscalp_before_it_starts(
    tmp_path: Path, a_file: Path, mode: list[str]
) -> None:
    journal = a_file / "journal.sqlite"
    proc = subprocess.run(
        okxscalp(*mode, "--journal", str(journal)), capture_output=True, text=True, timeout=START_TIMEOUT_S,
        stdin=subprocess.DEVNULL, env=env_with_state(tmp_path),
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.strip() == (
        f"okxscalp: cannot start: journal directory {a_file} is not a directory: run okxscalp from a writable "
        "directory, or set journal.path (or --journal) to a writable location"
    )


# ---- one instance per journal and per account ------------------------------------------------------


@pytest.fixture
def first_instance(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """`okxscalp --headless` (its embedded simulator) holding tmp_path/journal.sqlite."""
    journal = tmp_path / "journal.sqlite"
    proc = subprocess.Popen(
        okxscalp("--headless", "--journal", str(journal)), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "first.log").open("w"), env=env_with_state(tmp_path), text=True,
    )
    try:
        assert wait_for(lambda: holder_pid(journal_lock_path(journal)) == proc.pid, START_TIMEOUT_S), (
            (tmp_path / "first.log").read_text()[-2000:]
        )
        yield proc, journal
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(150)
def test_a_second_okxscalp_on_the_same_journal_refuses_before_the_console_opens(
    tmp_path: Path, first_instance: tuple[subprocess.Popen[str], Path]
) -> None:
    first, journal = first_instance
    second = subprocess.run(
        okxscalp("--journal", str(journal)), capture_output=True, text=True, timeout=START_TIMEOUT_S,
        stdin=subprocess.DEVNULL, env=env_with_state(tmp_path),
    )
    assert second.returncode == 1, second.stderr[-2000:]
    message = second.stderr.strip()
    assert message.startswith(f"okxscalp: cannot start: journal {journal} is in use by another okxscalp (pid {first.pid} ")
    assert f"on host {socket.gethostname()}, since " in message and f"lock file {journal}.lock" in message
    assert "--journal or journal.path" in message and "Traceback" not in second.stderr
    assert first.poll() is None  # the first one is untouched


@pytest.mark.timeout(150)
def test_a_second_okxscalp_on_the_same_account_refuses(tmp_path: Path) -> None:
    env = env_with_state(tmp_path)
    with run_in_thread(seed=3, speed=1.0) as server:
        url = server.rest_url
        lock_file = account_lock_path(tmp_path / "state" / "okxscalp", "sim", url, SIM_CREDENTIALS.api_key)
        first = subprocess.Popen(
            okxscalp("--headless", "--sim-url", url, "--journal", str(tmp_path / "one.sqlite")),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=(tmp_path / "first.log").open("w"), env=env,
        )
        try:
            assert wait_for(lambda: holder_pid(lock_file) == first.pid, START_TIMEOUT_S), (
                (tmp_path / "first.log").read_text()[-2000:]
            )
            second = subprocess.run(
                okxscalp("--headless", "--sim-url", url, "--journal", str(tmp_path / "two.sqlite")),
                capture_output=True, text=True, timeout=START_TIMEOUT_S, stdin=subprocess.DEVNULL, env=env,
            )
        finally:
            first.send_signal(signal.SIGTERM)
            first.wait(timeout=30)
    assert second.returncode == 1, second.stderr[-2000:]
    message = second.stderr.strip()
    assert message.startswith(f"okxscalp: cannot start: exchange account sim at {url} (key digest ")
    assert f"in use by another okxscalp (pid {first.pid} on host " in message
    assert SIM_CREDENTIALS.api_key not in message and "Traceback" not in second.stderr


@pytest.mark.timeout(90)
async def test_a_second_engine_on_a_journal_in_use_fails_without_touching_the_first(
    engine_config: AppConfig,
) -> None:
    async with sim_server(seed=11, speed=5.0) as server:
        async with running_engine(engine_config, server, auto_entries=False) as first:
            server.exchange.open_position_directly("XRP-USDT-SWAP", "long", 10)
            assert first.journal is not None
            second = Engine.for_sim(engine_config, server, auto_entries=False)
            with pytest.raises(JournalError, match=f"is in use by another okxscalp \\(pid {os.getpid()} "):
                await second.run()
            assert not first.journal.write_failure
            first.journal.flush()  # the first engine's journal still takes writes
