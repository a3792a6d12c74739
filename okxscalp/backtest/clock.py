"""The clock the engine reads: live (the OS clocks) or virtual (a backtest's simulated time).

One code path for live and backtest (DESIGN.md): the engine reads time through a `Clock` and waits
through asyncio. In a backtest the asyncio loop is a `VirtualTimeEventLoop`: `loop.time()` is
simulated time, and when nothing is runnable, nothing is ready on any socket, and nothing is in
flight (bytes between two of our sockets, a connect under way, work in a thread the loop awaits),
the loop jumps straight to its next timer instead of sleeping. Every `asyncio.sleep`, `wait_for`,
`call_later` and aiohttp timeout (REST and WebSocket alike) therefore runs in simulated time, and
computation and loopback I/O take no simulated time at all.

Determinism: virtual time only moves to a timer's own deadline; I/O is collected only once nothing
is in flight, and ready sockets are handed to the loop in registration order (not the kernel's
readiness order); work awaited from threads (run_in_executor, to_thread, Clock.wait_thread: the
journal writer) is resolved when the loop is idle at the current instant, in submission order. So
the same inputs run the same callbacks in the same order.

Prior art: looptime (nolar/looptime) and aiotools' VirtualClock fast-forward `loop.time()` from
the selector's timeout; neither waits for loopback bytes in flight, which matters here because the
engine and the simulator may talk over TCP sockets in one process (Linux may defer loopback
delivery to ksoftirqd under load, so "select(0) saw nothing" alone does not mean "nothing is
coming"). A backtest connects them over a Unix socket instead (okx/transport.py): Linux delivers a
Unix stream write, connect or close to the other end before the call returns, so those sockets are
never in flight and the meter has nothing to read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fcntl
import selectors
import socket
import struct
import termios
import time
from asyncio import selector_events
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

from okxscalp.clock import Clock, LiveClock

__all__ = ["Clock", "LiveClock", "VirtualClock", "VirtualClockStuck", "VirtualTimeEventLoop", "clock_of", "run_virtual"]

T = TypeVar("T")

# Virtual loop.time() starts here, not at 0: code that treats a falsy timestamp as "never" must
# not misread the first instant of a backtest.
VIRTUAL_MONO_ORIGIN_S = 1_000_000.0
# While something is in flight, the loop waits for it in real time in slices this long, then
# checks again (a slice ends early as soon as anything becomes ready).
REAL_POLL_S = 0.0005
# With callbacks waiting, the loop polls I/O only on every this-many-th iteration (and whenever it
# is idle): deterministic either way, since the count is.
BUSY_POLLS_SKIPPED = 32
# Loopback bytes land within microseconds (a delayed ACK of a FIN within 200 ms): waiting longer
# than this for them means the in-flight reading is wrong, and the run stops rather than hangs.
SETTLE_LIMIT_S = 5.0
# A thread job the loop awaits (a journal commit) finishing later than this is treated as stuck.
THREAD_WAIT_LIMIT_S = 60.0

# struct tcp_info offsets (linux/include/uapi/linux/tcp.h); bytes_sent/bytes_retrans need Linux >= 4.19.
_TCP_INFO_LEN = 232
_TCPI_STATE = 0
_TCPI_BYTES_RECEIVED = 128  # u64: payload bytes received in order (rcv_nxt)
_TCPI_NOTSENT_BYTES = 144  # u32: written by us, not yet handed to IP (window, Nagle, cork)
_TCPI_BYTES_SENT = 200  # u64: payload bytes transmitted, retransmits included
_TCPI_BYTES_RETRANS = 208  # u64
# The five fields above in one unpack (native order, no alignment): state, bytes_received,
# notsent_bytes, bytes_sent, bytes_retrans.
_TCPI_FIELDS = struct.Struct(
    f"=B{_TCPI_BYTES_RECEIVED - 1}xQ{_TCPI_NOTSENT_BYTES - _TCPI_BYTES_RECEIVED - 8}xI"
    f"{_TCPI_BYTES_SENT - _TCPI_NOTSENT_BYTES - 4}xQQ"
)
assert _TCPI_FIELDS.size == _TCPI_BYTES_RETRANS + 8
_TCPI_SIZE = _TCPI_FIELDS.size
_IPPROTO_TCP, _TCP_INFO = socket.IPPROTO_TCP, socket.TCP_INFO  # read on every reading: module constants
# TCP states whose next step is a packet already on its way on loopback (tcp_states.h).
_TCP_SYN_SENT, _TCP_SYN_RECV, _TCP_FIN_WAIT1, _TCP_CLOSING, _TCP_LAST_ACK = 2, 3, 4, 11, 9
_TCP_LISTEN = 10
_STATES_IN_FLIGHT = frozenset({_TCP_SYN_SENT, _TCP_SYN_RECV, _TCP_FIN_WAIT1, _TCP_CLOSING, _TCP_LAST_ACK})


class VirtualClockStuck(RuntimeError):
    """The virtual loop saw bytes in flight that never arrived."""


class VirtualClock:
    """The simulated time of a `VirtualTimeEventLoop` (a backtest)."""

    def __init__(self, loop: VirtualTimeEventLoop) -> None:
        self._loop = loop
        # The loop's own bound methods (no extra call per read: the engine reads the clock on
        # every push), as LiveClock's reads are time.time and time.monotonic themselves.
        self.wall_s: Callable[[], float] = loop.wall_s
        self.mono_s: Callable[[], float] = loop.time

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait_thread(self, future: concurrent.futures.Future[T]) -> T:
        return await self._loop.await_thread(future)


class _TcpProbe:
    """A non-owning view of one TCP socket the loop registered (by fd), for reading TCP_INFO.
    The socket object is only a handle: it is detached, never closed, when dropped."""

    __slots__ = ("fd", "key", "local", "peer", "peer_key", "sock")

    def __init__(self, fd: int, sock: socket.socket) -> None:
        self.fd = fd
        self.sock = sock
        self.local: Any = sock.getsockname()
        self.peer: Any = None
        # Once paired (peer known): this end's (local, peer) and the other end's (peer, local).
        self.key: tuple[Any, Any] | None = None
        self.peer_key: tuple[Any, Any] | None = None

    def pair(self, peer: Any) -> None:
        self.peer = peer
        self.key = (self.local, peer)
        self.peer_key = (peer, self.local)

    def drop(self) -> None:
        self.sock.detach()  # idempotent; the fd stays its owner's

    def __del__(self) -> None:
        self.sock.detach()  # before the socket object's own finaliser could close the fd


def _fd_of(fileobj: Any) -> int:
    """The fd of what add_reader/add_writer accept: an fd, or an object with fileno()."""
    return fileobj if isinstance(fileobj, int) else int(fileobj.fileno())


def _unread_bytes(sock: socket.socket) -> int:
    """Bytes in a socket's receive queue (FIONREAD)."""
    buf = fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")
    return int(struct.unpack("i", buf)[0])


def _tcp_probe(fd: int) -> _TcpProbe | None:
    """A probe when `fd` is a TCP socket (the self-pipe, files and UDP are not)."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError:  # not a socket: nothing of ours can be in flight on it
        return None
    if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
        sock.detach()
        return None
    try:
        return _TcpProbe(fd, sock)
    except OSError:  # closed between the two calls
        sock.detach()
        return None


class InFlightMeter:
    """Whether bytes between two TCP sockets of this process are still on their way.

    For a connected pair (a, b) both registered here, a's payload is in flight while a has
    transmitted more than b has received in order (bytes_sent - bytes_retrans > b's
    bytes_received), or holds written bytes back (notsent, e.g. Nagle) while b has read
    everything (with unread data in b, they wait for b to read: not in flight, or we would
    deadlock). Unacknowledged bytes are not used:
    loopback delays ACKs (up to 40 ms) long after the peer holds the data. A connect or close
    whose packets are still travelling counts too (SYN_SENT, SYN_RECV, FIN_WAIT1, CLOSING,
    LAST_ACK). A socket whose peer is not ours (a real exchange) is never waited on: virtual time
    is only for runs whose every socket is in this loop."""

    def __init__(self) -> None:
        self._probes: dict[int, _TcpProbe] = {}
        self._by_pair: dict[tuple[Any, Any], _TcpProbe] = {}  # (local, peer) -> probe, once paired
        # Set by each reading: nothing in flight AND nothing held back (notsent) anywhere, so no
        # byte can be put on its way again until this process writes, connects or closes.
        self.quiescent = False
        self.readings = 0

    def __len__(self) -> int:
        return len(self._probes)

    def track(self, fd: int) -> None:
        self._forget([fd])  # the fd may now be another socket: probe it afresh
        probe = _tcp_probe(fd)
        if probe is not None:
            self._probes[fd] = probe

    def close(self) -> None:
        for probe in self._probes.values():
            probe.drop()
        self._probes.clear()
        self._by_pair.clear()

    def in_flight(self) -> bool:
        """Whether anything is in flight between any two of our sockets (reads every one)."""
        if not self._probes:  # no TCP socket (Unix sockets only): nothing can be
            self.quiescent = True
            return False
        return self._read(self._probes.values())

    def in_flight_of(self, written: Collection[int]) -> bool:
        """As in_flight, when only the fds `written` wrote since a reading found every socket
        quiescent: then only they and their peers can have bytes on their way (reads those)."""
        probes = self._probes
        if not probes:  # no TCP socket (Unix sockets only): nothing can be
            self.quiescent = True
            return False
        chosen: dict[int, _TcpProbe] = {}
        for fd in written:
            probe = probes.get(fd)
            if probe is None:
                continue  # not a metered TCP socket
            if probe.peer is None:
                return self.in_flight()  # not paired yet: read everything
            chosen[fd] = probe
            peer = self._by_pair.get(probe.peer_key)
            if peer is not None:
                chosen[peer.fd] = peer
        return self._read(chosen.values())

    def _read(self, probes: Iterable[_TcpProbe]) -> bool:
        self.readings += 1
        self.quiescent = False
        # A connection's two ends: (local, peer) of one is (peer, local) of the other. Accepted
        # sockets share their listener's local address, so the pair is the key, not the address.
        received_by: dict[tuple[Any, Any], tuple[_TcpProbe, int]] = {}
        sends: list[tuple[tuple[Any, Any], int, int]] = []  # (peer's key, payload sent, held back)
        gone: list[int] = []
        unpack = _TCPI_FIELDS.unpack_from
        for probe in probes:
            try:
                info = probe.sock.getsockopt(_IPPROTO_TCP, _TCP_INFO, _TCP_INFO_LEN)
            except OSError:  # closed (EBADF) or reused by a non-socket: forget it
                gone.append(probe.fd)
                continue
            if len(info) < _TCPI_SIZE:
                raise VirtualClockStuck("this kernel's TCP_INFO has no bytes_sent (Linux >= 4.19 needed): "
                                        "the virtual clock cannot tell whether loopback bytes are in flight")
            state, received, notsent, sent, retrans = unpack(info)
            if state in _STATES_IN_FLIGHT:
                self._forget(gone)
                return True
            if state == _TCP_LISTEN:
                continue
            if probe.key is None:
                try:
                    probe.pair(probe.sock.getpeername())
                except OSError:  # not connected (closed by its peer): nothing to send
                    continue
                self._by_pair[probe.key] = probe  # type: ignore[index]
            received_by[probe.key] = (probe, received)  # type: ignore[index]
            sends.append((probe.peer_key, sent - retrans, notsent))  # type: ignore[arg-type]
        if gone:
            self._forget(gone)
        held_back = False
        for peer_key, sent, notsent in sends:
            if notsent:
                held_back = True  # released by an ACK or a read, not by a write of ours
            peer = received_by.get(peer_key)
            if peer is None:
                continue  # the other end is not ours
            if sent > peer[1]:
                return True
            # Bytes TCP holds back (Nagle waiting for an ACK) are on their way unless the peer
            # has unread data: then they wait for a full window, i.e. for the peer to read.
            if notsent and not _unread_bytes(peer[0].sock):
                return True
        self.quiescent = not held_back
        return False

    def _forget(self, fds: list[int]) -> None:
        for fd in fds:
            probe = self._probes.pop(fd, None)
            if probe is not None:
                if probe.key is not None and self._by_pair.get(probe.key) is probe:
                    del self._by_pair[probe.key]
                probe.drop()


class _VirtualTimeSelector(selectors.BaseSelector):
    """The loop's selector: real I/O readiness, virtual waiting (see VirtualTimeEventLoop)."""

    def __init__(self) -> None:
        self._inner = selectors.DefaultSelector()
        self._order: dict[int, int] = {}  # fd -> registration sequence (the order events are handed out)
        self._next_seq = 0
        self.meter = InFlightMeter()
        self.loop: VirtualTimeEventLoop | None = None
        self.fast_forwards = 0
        self.real_waits = 0
        self._busy_polls_skipped = 0
        # TCP_INFO is read only where something can have been put on its way since a reading
        # found every socket quiescent: the fds in `written_fds` (each write or EOF of this loop's
        # transports, each write readiness handed out: a buffered write about to be sent) and
        # their peers; every socket after `changed` (a connect, close or registration change,
        # a sock_* send); none when neither happened (VirtualTimeEventLoop sets both). Sockets
        # the loop cannot see written (fds given to the public add_reader/add_writer: `raw_fds`;
        # TLS transports: `always_meter`) keep every reading.
        self.changed = True
        self.written_fds: set[int] = set()
        self.raw_fds: set[int] = set()
        self.always_meter = False
        self.check_skips = False  # tests: take the skipped reading anyway and fail if it was needed
        self.skipped_readings = 0
        # An idle poll is skipped when the previous one found nothing ready and, since, nothing was
        # written, connected or closed and every socket was found quiescent: readiness on our
        # sockets comes only from our own writes (level-triggered: data left unread is reported
        # again, so only a poll that found nothing counts). `check_skips` polls anyway and fails
        # if something was ready.
        self._last_poll_empty = False
        self.skipped_polls = 0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        key = self._inner.register(fileobj, events, data)
        self._order[key.fd] = self._next_seq
        self._next_seq += 1
        self.meter.track(key.fd)
        self.changed = True  # a new socket: connecting, or just accepted
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        # The fd stays metered: a transport that paused reading still has bytes coming to it.
        self.changed = True
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        self.changed = True
        return self._inner.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self.meter.close()
        self._inner.close()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout == 0 and self._busy_polls_skipped < BUSY_POLLS_SKIPPED:
            # Callbacks are waiting: run them first and poll I/O once the loop has caught up at
            # this instant (no simulated time passes either way; polling less often is what
            # makes the settled poll below affordable). Every BUSY_POLLS_SKIPPED-th busy
            # iteration polls anyway, so a task spinning on sleep(0) for I/O still gets it.
            self._busy_polls_skipped += 1
            return []
        self._busy_polls_skipped = 0
        # Settle first: collect I/O only once every byte sent has landed, so one run and the
        # next see the same set of ready sockets in one poll. Bytes in flight land on their own.
        meter = self.meter
        if (
            timeout != 0
            and self._last_poll_empty
            and not self.changed
            and not self.written_fds
            and meter.quiescent
            and not self.raw_fds
            and not self.always_meter
        ):
            return self._idle_without_poll(timeout)
        if self.changed or not meter.quiescent or self.raw_fds or self.always_meter:
            self.changed = False  # cleared before the reading: a write after it sets it again
            self.written_fds.clear()
            if meter.in_flight():
                self._settle(None)
        elif self.written_fds:
            written, self.written_fds = self.written_fds, set()
            if meter.in_flight_of(written):
                self._settle(written)
            elif self.check_skips:
                self._check_skipped("a reading of the written sockets")
        else:
            self.skipped_readings += 1
            if self.check_skips:
                self._check_skipped("a skipped reading")
        events = self._inner.select(0)
        self._last_poll_empty = not events
        if events or timeout == 0:
            return self._ordered(events)
        return self._idle(timeout)

    def _idle_without_poll(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        """Idle with nothing that could have become ready since the last (empty) poll: straight
        to the idle step (thread results, or the jump to the next timer)."""
        self.skipped_readings += 1
        self.skipped_polls += 1
        if self.check_skips:
            self._check_skipped("a skipped reading")
            if self._inner.select(0):
                raise VirtualClockStuck("a skipped poll missed a ready socket (a write this loop did not count)")
        return self._idle(timeout)

    def _idle(self, timeout: float | None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self.loop
        assert loop is not None
        if loop._ready:  # type: ignore[attr-defined]
            # A callback arrived from another thread or a signal after the loop chose to wait
            # (call_soon_threadsafe): run it before any time passes, as its self-pipe byte would.
            self._last_poll_empty = False
            return []
        if loop.deliver_thread_results():
            # Idle at this instant with thread work awaited: it finished (in real time, no
            # simulated time), and its results are now ready callbacks, in submission order.
            self.real_waits += 1
            self._last_poll_empty = False  # their callbacks may write
            return self._ordered(self._inner.select(0))
        if timeout is None:
            # No timer and nothing in flight: only another thread (call_soon_threadsafe) can
            # wake the loop, exactly as in a live loop.
            self._last_poll_empty = False
            return self._ordered(self._inner.select(None))
        loop.fast_forward(timeout)
        self.fast_forwards += 1
        return []

    def _check_skipped(self, what: str) -> None:
        if self.meter.in_flight():
            raise VirtualClockStuck(f"{what} missed bytes in flight (a write this loop did not count)")

    def _settle(self, written: set[int] | None) -> None:
        """Wait (real time) until no byte between our sockets is on its way (see select for
        `written`); raise if that never happens rather than spin: a wrong reading must not hang
        a backtest."""
        give_up = time.monotonic() + SETTLE_LIMIT_S
        meter = self.meter
        while meter.in_flight() if written is None else meter.in_flight_of(written):
            if time.monotonic() > give_up:
                raise VirtualClockStuck(f"bytes between this loop's sockets still in flight after "
                                        f"{SETTLE_LIMIT_S:.0f} s of real time")
            self._inner.select(REAL_POLL_S)
            self.real_waits += 1

    def _ordered(self, events: list[tuple[selectors.SelectorKey, int]]) -> list[tuple[selectors.SelectorKey, int]]:
        for key, mask in events:
            if mask & selectors.EVENT_WRITE:
                self.written_fds.add(key.fd)  # its callback sends a buffered write (or ends a connect)
        if len(events) < 2:
            return events
        order = self._order
        return sorted(events, key=lambda event: order.get(event[0].fd, -1))


class _MeteredSocketTransport(selector_events._SelectorSocketTransport):  # type: ignore[name-defined,misc]
    """asyncio's socket transport, telling the loop's selector whenever it may put bytes on the
    wire (write, EOF, close), so the in-flight meter is read only when something was sent."""

    def __init__(self, loop: VirtualTimeEventLoop, *args: Any, **kwargs: Any) -> None:
        self._metered_selector = loop._virtual_selector
        super().__init__(loop, *args, **kwargs)

    def write(self, data: Any) -> None:
        self._metered_selector.written_fds.add(self._sock_fd)
        super().write(data)

    def writelines(self, list_of_data: Any) -> None:
        self._metered_selector.written_fds.add(self._sock_fd)
        super().writelines(list_of_data)

    def write_eof(self) -> None:
        self._metered_selector.written_fds.add(self._sock_fd)
        super().write_eof()

    def close(self) -> None:
        self._metered_selector.changed = True
        super().close()

    def abort(self) -> None:
        self._metered_selector.changed = True
        super().abort()

    def _call_connection_lost(self, exc: BaseException | None) -> None:
        super()._call_connection_lost(exc)
        self._metered_selector.changed = True  # the socket was closed just now (FIN or RST sent)


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """An asyncio loop on simulated time. `time()` starts at VIRTUAL_MONO_ORIGIN_S and
    `wall_s()` at `start_wall_s`; both move only when the loop jumps to its next timer.

    Its socket transports and sock_* methods tell the selector of every write, connect and close,
    so the in-flight reading covers only the sockets written since every socket was last found
    quiescent, and is skipped when none was (most idle iterations of a backtest). `check_meter_skips` (tests) takes the skipped
    reading anyway and raises VirtualClockStuck if it found bytes in flight."""

    def __init__(self, start_wall_s: float, *, check_meter_skips: bool = False) -> None:
        self._now = VIRTUAL_MONO_ORIGIN_S
        self._start_wall_s = float(start_wall_s)
        self._thread_jobs: list[tuple[concurrent.futures.Future[Any], asyncio.Future[Any]]] = []
        selector = _VirtualTimeSelector()
        selector.check_skips = check_meter_skips
        super().__init__(selector)
        selector.loop = self
        self._virtual_selector = selector
        self.clock = VirtualClock(self)

    # ------------------------------------------------------------------ writes the meter must see
    def _make_socket_transport(self, sock: Any, protocol: Any, waiter: Any = None, *, extra: Any = None,
                               server: Any = None) -> Any:
        return _MeteredSocketTransport(self, sock, protocol, waiter, extra, server)

    def _make_ssl_transport(self, *args: Any, **kwargs: Any) -> Any:
        self._virtual_selector.always_meter = True  # its raw transport is built without the hook above
        return super()._make_ssl_transport(*args, **kwargs)

    def add_reader(self, fd: Any, callback: Callable[..., object], *args: Any) -> None:
        super().add_reader(fd, callback, *args)
        self._virtual_selector.raw_fds.add(_fd_of(fd))  # written behind the loop's back, maybe

    def add_writer(self, fd: Any, callback: Callable[..., object], *args: Any) -> None:
        super().add_writer(fd, callback, *args)
        self._virtual_selector.raw_fds.add(_fd_of(fd))

    def remove_reader(self, fd: Any) -> bool:
        removed = super().remove_reader(fd)
        self._forget_raw(fd)
        return removed

    def remove_writer(self, fd: Any) -> bool:
        removed = super().remove_writer(fd)
        self._forget_raw(fd)
        return removed

    def _forget_raw(self, fd: Any) -> None:
        number = _fd_of(fd)
        if number not in self._virtual_selector.get_map():
            self._virtual_selector.raw_fds.discard(number)

    async def sock_sendall(self, sock: socket.socket, data: Any) -> None:
        self._virtual_selector.changed = True
        await super().sock_sendall(sock, data)

    async def sock_sendto(self, sock: socket.socket, data: Any, address: Any) -> int:
        self._virtual_selector.changed = True
        return await super().sock_sendto(sock, data, address)  # type: ignore[misc]

    async def sock_sendfile(self, sock: socket.socket, file: Any, offset: int = 0, count: int | None = None,
                            *, fallback: bool = True) -> int:
        self._virtual_selector.changed = True
        return await super().sock_sendfile(sock, file, offset, count, fallback=fallback)

    async def sock_connect(self, sock: socket.socket, address: Any) -> None:
        self._virtual_selector.changed = True
        await super().sock_connect(sock, address)

    @property
    def meter_readings(self) -> int:
        """In-flight readings taken (each reads TCP_INFO of every metered socket)."""
        return self._virtual_selector.meter.readings

    @property
    def meter_readings_skipped(self) -> int:
        """Readings skipped because nothing was written since every socket was last quiescent."""
        return self._virtual_selector.skipped_readings

    @property
    def polls_skipped(self) -> int:
        """Idle polls skipped because nothing could have become ready since an empty one."""
        return self._virtual_selector.skipped_polls

    # ------------------------------------------------------------------ time
    def time(self) -> float:
        return self._now

    def wall_s(self) -> float:
        return self._start_wall_s + (self._now - VIRTUAL_MONO_ORIGIN_S)

    def fast_forward(self, timeout: float) -> None:
        """Jump to the earliest timer (exactly its deadline), at most `timeout` ahead."""
        target = self._now + timeout
        scheduled = self._scheduled  # asyncio's timer heap; its head is the next deadline
        if scheduled:
            target = min(target, scheduled[0].when())
        if target > self._now:
            self._now = target

    # ------------------------------------------------------------------ work outside the loop
    @property
    def held(self) -> int:
        """Thread jobs the loop awaits and has not delivered yet."""
        return len(self._thread_jobs)

    def await_thread(self, job: concurrent.futures.Future[T]) -> asyncio.Future[T]:
        """An asyncio future for work in another thread, delivered deterministically: when the
        loop is next idle at the current simulated instant, it waits (real time) for every such
        job and resolves them in submission order, so thread timing never reorders the run."""
        result: asyncio.Future[T] = self.create_future()
        result.add_done_callback(lambda done: job.cancel() if done.cancelled() else None)
        self._thread_jobs.append((job, result))
        return result

    def deliver_thread_results(self) -> bool:
        """Resolve every awaited thread job (see await_thread); False when there were none."""
        jobs, self._thread_jobs = self._thread_jobs, []
        if not jobs:
            return False
        _, still_running = concurrent.futures.wait([job for job, _ in jobs], timeout=THREAD_WAIT_LIMIT_S)
        if still_running:
            raise VirtualClockStuck(f"{len(still_running)} thread job(s) the loop awaits still running after "
                                    f"{THREAD_WAIT_LIMIT_S:.0f} s of real time")
        for job, result in jobs:
            if result.cancelled():
                continue
            if job.cancelled():
                result.cancel()
            elif (error := job.exception()) is not None:
                result.set_exception(error)
            else:
                result.set_result(job.result())
        return True

    def run_in_executor(self, executor: Any, func: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """As asyncio's, with the result delivered through await_thread (asyncio.to_thread too)."""
        self._check_closed()
        if executor is None:
            executor = self._default_executor
            if executor is None:
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")
                self._default_executor = executor
        return self.await_thread(executor.submit(func, *args))

    # ------------------------------------------------------------------ counters
    @property
    def fast_forwards(self) -> int:
        return self._virtual_selector.fast_forwards

    @property
    def real_waits(self) -> int:
        return self._virtual_selector.real_waits


def run_virtual(main: Callable[[], Awaitable[T]], start_wall_s: float, *, check_meter_skips: bool = False) -> T:
    """`asyncio.run` on a fresh VirtualTimeEventLoop whose wall clock starts at `start_wall_s`
    (`check_meter_skips`: tests, see VirtualTimeEventLoop)."""
    loop_factory = lambda: VirtualTimeEventLoop(start_wall_s, check_meter_skips=check_meter_skips)  # noqa: E731
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main())  # type: ignore[arg-type]


def clock_of(loop: asyncio.AbstractEventLoop) -> Clock:
    """The clock matching a loop: virtual on a VirtualTimeEventLoop, live otherwise."""
    return loop.clock if isinstance(loop, VirtualTimeEventLoop) else LiveClock()
