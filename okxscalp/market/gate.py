"""The private-stream entry gate (SPEC 3.2; hummingbot#5896, jesse#371).

Entries are allowed only while the private connection is logged in and every required channel
(orders, positions, account) is acknowledged by the exchange, AND the REST reconciliation that
follows its latest (re)connect has completed. A refused subscription is named as the reason.
Each time the private stream comes up a new *generation* starts; a reconciliation result counts
only for the generation it was started for, so a reconcile that finishes after yet another
reconnect cannot open the gate. Reconnect-storm breakers add their own reasons (the feed
coordinator combines them).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from okxscalp.okx.health import ConnectionState

_UP = ConnectionState.UP.value


class PrivateStreamGate:
    def __init__(self, has_private: bool = True, required: Sequence[str] = ()) -> None:
        self._has_private = has_private
        self._required = tuple(required)  # channels that must be acked: e.g. orders, positions, account
        self.private_ready = False
        self.missing_acks: tuple[str, ...] = ()  # required channels the last UP report lacked
        self.generation = 0
        self._reconciled_generation = 0
        self.reconcile_error = ""
        self.reconciling = False
        self.reconcile_cause = "private reconnect"  # what the pending reconciliation follows

    def private_up(self, acked: Collection[str], cause: str = "private reconnect") -> int | None:
        """The private stream reports UP with these channels acked (or, `cause`, its state must be
        re-synced). If every required channel is among them a new generation starts (returned);
        otherwise the gate stays closed naming the missing ones (returns None)."""
        self.missing_acks = tuple(c for c in self._required if c not in acked)
        if self.missing_acks:
            self.private_ready = False
            return None
        self.private_ready = True
        self.generation += 1
        self.reconcile_error = ""
        self.reconciling = True
        self.reconcile_cause = cause
        return self.generation

    def private_down(self) -> None:
        self.private_ready = False
        self.missing_acks = ()

    def reconciled(self, generation: int) -> bool:
        """Reconciliation for `generation` completed; True if it counts (still the latest)."""
        if generation != self.generation:
            return False
        self._reconciled_generation = generation
        self.reconciling = False
        self.reconcile_error = ""
        return True

    def reconcile_failed(self, generation: int, error: str) -> None:
        if generation == self.generation:
            self.reconcile_error = error

    @property
    def is_reconciled(self) -> bool:
        return self.generation > 0 and self._reconciled_generation == self.generation

    @property
    def ready(self) -> bool:
        """The gate's own record lets entries through: logged in with every channel acked (a
        missing ack leaves private_ready False) and the latest generation reconciled. reasons() is
        empty then for an UP stream with nothing refused; this builds nothing (the feed's
        all-clear check reads it several times a second)."""
        return self._has_private and self.private_ready and self.is_reconciled

    def reasons(self, private_state: str, refused: Sequence[str] = ()) -> list[str]:
        """Why entries are closed, from the gate's own record and the private connection's live
        `state` and `refused` reasons (both required to agree before entries open)."""
        if not self._has_private:
            return ["no private stream (no credentials): order state cannot be followed"]
        if refused:
            return [f"private stream: {reason}" for reason in refused]
        if self.missing_acks:
            return [f"private stream up without a subscription ack for {', '.join(self.missing_acks)}"]
        if not self.private_ready or private_state != _UP:
            return [f"private stream not logged in and subscribed ({private_state or 'unknown'})"]
        if not self.is_reconciled:
            if self.reconcile_error:
                return [f"reconciliation after {self.reconcile_cause} failed: {self.reconcile_error}"]
            return [f"reconciliation after {self.reconcile_cause} pending"]
        return []
