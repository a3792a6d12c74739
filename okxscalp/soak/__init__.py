"""The chaos/soak harness (issue 7, SPEC 3.7): the whole engine as a subprocess against the
simulator, faults on a seeded schedule, `kill -9` at chosen moments, then audits of the journal,
the simulator's counters and the engine's log lines.

It lives in the product package (not under bench/) because it is a claim about the product that
anyone can re-run with the product alone (`python3 bench/soak.py`, `pytest -m soak`): it imports
only okxscalp and drives the simulator that ships with it. Nothing in the engine imports it.
"""
