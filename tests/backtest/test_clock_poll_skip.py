"""The virtual loop skips an idle poll that cannot find anything: the previous poll found nothing
ready and, since, nothing was written, connected or closed and every socket was quiescent (our
sockets become ready only from our own writes). A write is still read at once, and
`check_meter_skips` polls anyway and fails the run if a skipped poll would have found something."""

from __future__ import annotations

from idle_echo import IDLE_SLEEPS, idle_then_write


def test_idle_polls_are_skipped_and_the_next_write_is_read_at_once() -> None:
    run = idle_then_write()
    assert run.polls_skipped >= IDLE_SLEEPS - 1  # one poll per sleep at most: the first after the last write
    assert (run.reply, run.took) == (b"again", 0.0)


def test_every_skipped_poll_is_checked_when_asked() -> None:
    # check_meter_skips polls where the loop skipped and raises VirtualClockStuck had it found
    # a ready socket: the run completes with the same outcome.
    run = idle_then_write(check_meter_skips=True)
    assert (run.reply, run.took) == (b"again", 0.0)
