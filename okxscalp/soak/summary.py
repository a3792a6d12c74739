"""The soak's summary table (markdown, so it pastes into the README as is)."""

from __future__ import annotations

from collections import Counter

from okxscalp.soak.scenario import SoakResult


def render(result: SoakResult) -> str:
    s = result.settings
    lines = [
        f"Soak: {s.minutes:g} min planned, {result.wall_s / 60:.1f} min wall, {result.sim_hours:.1f} h of simulated time "
        f"(speed ×{s.speed:g}), seed {s.seed}; {len(result.kills)} kill -9 + restart, {result.drops_done} connection drops",
        "",
        "| audit | result | figure |",
        "|---|---|---|",
    ]
    for a in result.audits:
        lines.append(f"| {a.name} | {'PASS' if a.passed else 'FAIL'} | {a.figure} |")
    lines += ["", "Kills by where they landed:", ""]
    landed = Counter(k.landed or "not done" for k in result.kills)
    lines += [f"- {n} × {where}" for where, n in landed.most_common()]
    orphans = [k.orphan_opened for k in result.kills if k.orphan_opened]
    if orphans:
        lines.append(f"- positions opened behind the engine's back while it was down: {', '.join(orphans)}")
    lines += ["", "Faults injected: " + ", ".join(f"{k} {n}" for k, n in sorted(result.faults_done.items()))]
    if result.machinery:
        lines += ["", "Engine-machinery faults (first bite per engine run; judged on the wall clock, 2 s):", ""]
        lines += machinery_lines(result)
    lines.append("Figures: " + ", ".join(f"{k} {v}" for k, v in result.figures.items()))
    failed = [a for a in result.audits if not a.passed and a.detail]
    if failed:
        lines += ["", "Failures:"] + [f"- {a.name}: {a.detail}" for a in failed]
    notes = [a for a in result.audits if a.passed and a.detail]
    if notes:
        lines += ["", "Notes:"] + [f"- {a.name}: {a.detail}" for a in notes]
    lines.append(f"\nWork dir (journal, config, one log per engine run): {result.workdir}")
    return "\n".join(lines)


def kill_lines(result: SoakResult) -> str:
    return "\n".join(
        f"kill {k.number:2d} {k.phase:<20} → {k.landed}; {k.detail}"
        + (f"; orphan opened {k.orphan_opened}" if k.orphan_opened else "")
        + f"; restart: {k.restart_positions} positions checked" + (f", UNKNOWN {k.restart_unknown}" if k.restart_unknown else "")
        for k in result.kills
    )


def machinery_lines(result: SoakResult) -> list[str]:
    out = []
    for fault in result.machinery:
        params = " ".join(f"{k}={v}" for k, v in fault.params.items())
        bites = [(b, ok, text) for b, ok, text in result.bites if b.fault == fault.label]
        if not bites:
            why = "; ".join(fault.notes) or "no bite observed"
            out.append(f"- {fault.label} ({params}): never bit ({why})")
        for bite, ok, text in bites:
            verdict = {True: "PASS", False: "FAIL", None: "not judged"}[ok]
            out.append(f"- {fault.label} ({params}), run {bite.run}: {bite.what}: {verdict}: {text}")
        out += [f"  - problem: {p}" for p in fault.problems]
    return out
