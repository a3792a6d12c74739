"""Root fixtures: the embedded OKX simulator over real loopback sockets.

- `sim`: a started `SimServer` (seed 7, speed 1) on 127.0.0.1 and a free port, stopped after the test.
- `sim_factory`: `await sim_factory(**SimServer kwargs)` for custom servers (all stopped afterwards).
- `sim_credentials`: the credentials the simulator accepts.
- `free_port`: a TCP port on 127.0.0.1 that was free a moment ago (for subprocess servers).
Imports of the simulator are lazy so that tests of other areas still collect while it changes.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from okxscalp.okx.auth import Credentials
    from okxscalp.sim.server import SimServer


def unused_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def free_port() -> int:
    return unused_port()


@pytest.fixture
def sim_credentials() -> Credentials:
    from okxscalp.sim.server import SIM_CREDENTIALS

    return SIM_CREDENTIALS


@pytest.fixture
async def sim_factory() -> AsyncIterator[Callable[..., Awaitable[SimServer]]]:
    from okxscalp.sim.server import SimServer

    started: list[SimServer] = []

    async def make(**kwargs: Any) -> SimServer:
        server = SimServer(**kwargs)
        await server.start()
        started.append(server)
        return server

    yield make
    for server in reversed(started):
        await server.stop()


@pytest.fixture
async def sim(sim_factory: Callable[..., Awaitable[SimServer]]) -> SimServer:
    return await sim_factory(seed=7, speed=1.0)


def okx_fixtures_dir() -> str | None:
    """shared/okx-fixtures: at /work/shared, or beside the repository in some checkouts."""
    import os

    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in ("/work/shared/okx-fixtures", os.path.join(here, "..", "..", "shared", "okx-fixtures")):
        if os.path.isdir(candidate):
            return candidate
    return None


def same_wire_shape(ours: Any, reference: Any, where: str = "$") -> None:
    """Assert `ours` has `reference`'s shape: every key of a reference object present with the same
    JSON type (string / number / bool / object / array); rows of arrays compared element-wise.
    Extra keys in `ours` are allowed (OKX adds fields over time)."""
    if isinstance(reference, dict):
        assert isinstance(ours, dict), f"{where}: expected an object, got {type(ours).__name__}"
        for key, value in reference.items():
            assert key in ours, f"{where}: missing key {key!r}"
            same_wire_shape(ours[key], value, f"{where}.{key}")
    elif isinstance(reference, list):
        assert isinstance(ours, list), f"{where}: expected an array, got {type(ours).__name__}"
        if reference and ours:
            for index, item in enumerate(ours):
                same_wire_shape(item, reference[min(index, len(reference) - 1)], f"{where}[{index}]")
    else:
        expected = bool if isinstance(reference, bool) else type(reference)
        actual = bool if isinstance(ours, bool) else type(ours)
        assert actual is expected, f"{where}: {ours!r} is {actual.__name__}, OKX sends {expected.__name__}"


@pytest.fixture
def okx_fixture() -> Callable[[str], Any]:
    """Load a sample from shared/okx-fixtures by file name (see its README); skips the test
    when the folder is not there (it lives outside the repository)."""
    import json
    import os

    def load(name: str) -> Any:
        folder = okx_fixtures_dir()
        if folder is None:
            pytest.skip("OKX fixtures folder not present")
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            return json.load(handle)

    return load


@pytest.fixture
def assert_wire_shape() -> Callable[..., None]:
    return same_wire_shape
