"""The private-stream entry gate (SPEC 3.2; hummingbot#5896, jesse#371).

Entries are allowed only while the private connection is logged in and subscribed AND the REST
reconciliation that follows its latest (re)connect has completed. Each time the private stream
comes up a new *generation* starts; a reconciliation result counts only for the generation it
was started for, so a reconcile that finishes after yet another reconnect cannot open the gate.
Reconnect-storm breakers add their own reasons (the feed coordinator combines them).
"""

from __future__ import annotations


class PrivateStreamGate:
    def __init__(self, has_private: bool = True) -> None:
        self._has_private = has_private
        self.private_ready = False
        self.generation = 0
        self._reconciled_generation = 0
        self.reconcile_error = ""
        self.reconciling = False

    def private_up(self) -> int:
        """The private stream is UP (logged in, subscribed): a new generation; returns it."""
        self.private_ready = True
        self.generation += 1
        self.reconcile_error = ""
        self.reconciling = True
        return self.generation

    def private_down(self) -> None:
        self.private_ready = False

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

    def reasons(self, private_state: str = "") -> list[str]:
        if not self._has_private:
            return ["no private stream (no credentials): order state cannot be followed"]
        reasons: list[str] = []
        if not self.private_ready:
            state = f" ({private_state})" if private_state else ""
            reasons.append(f"private stream not logged in and subscribed{state}")
        elif not self.is_reconciled:
            if self.reconcile_error:
                reasons.append(f"reconciliation after private reconnect failed: {self.reconcile_error}")
            else:
                reasons.append("reconciliation after private reconnect pending")
        return reasons
