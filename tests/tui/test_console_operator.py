"""Issue 11: the console's keys and panes as an operator meets them at 80×24, against the in-memory
double (fake_engine.py): the real command palette, Pause/Resume in the footer, following events."""

from __future__ import annotations

import pytest
from fake_engine import FakeEngine, screen_text, xrp_position
from textual.command import CommandList, CommandPalette

from okxscalp.tui.app import ConsoleApp
from okxscalp.tui.screens.confirm import ConfirmScreen
from okxscalp.tui.screens.inspector import InspectorScreen
from okxscalp.tui.sim_harness import wait_for

pytestmark = pytest.mark.timeout(60)


async def palette_hits(app: ConsoleApp, pilot, query: str) -> list[str]:
    """Open the real palette (ctrl+p), type `query`, and return the hits it lists."""
    await pilot.press("ctrl+p")
    assert await wait_for(lambda: isinstance(app.screen, CommandPalette), 5)
    await pilot.press(*query)
    commands = app.screen.query_one(CommandList)
    assert await wait_for(lambda: commands.option_count > 0, 5), f"no hit for {query!r}"
    await pilot.pause(0.3)  # the search is debounced: let every provider answer
    return [str(commands.get_option_at_index(i).prompt) for i in range(commands.option_count)]


async def test_the_real_palette_finds_flatten_and_selecting_it_asks_first() -> None:
    engine = FakeEngine(positions=[xrp_position()])
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        hits = await palette_hits(app, pilot, "flat")
        assert any("Flatten (f)" in hit for hit in hits), hits
        await pilot.press("enter")  # highlights the first hit, and selects it when it is the only one
        if isinstance(app.screen, CommandPalette):
            await pilot.press("enter")
        assert await wait_for(lambda: isinstance(app.screen, ConfirmScreen), 5), type(app.screen)
        assert "Flatten all?" in screen_text(app)
        await pilot.press("y")
        await pilot.pause()
    assert ("flatten", None) in engine.calls


async def test_the_palette_lists_reconnect_and_pause_but_not_resume_while_running() -> None:
    app = ConsoleApp(FakeEngine())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert any("Reconnect (r)" in hit for hit in await palette_hits(app, pilot, "reconn"))
        await pilot.press("escape")
        hits = await palette_hits(app, pilot, "Pause")
        assert any("Pause (space)" in hit for hit in hits) and not any("Resume" in hit for hit in hits)


async def test_the_palette_over_a_dialog_offers_no_console_action() -> None:
    """Still one dialog at a time: ctrl+p over the inspector does not flatten."""
    engine = FakeEngine(positions=[xrp_position()])
    app = ConsoleApp(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("p")
        assert isinstance(app.screen, InspectorScreen)
        await pilot.press("ctrl+p")
        assert await wait_for(lambda: isinstance(app.screen, CommandPalette), 5)
        assert app.check_action("flatten", ()) is False
        assert app.check_action("reconnect", ()) is False


async def test_the_footer_says_pause_while_running_and_resume_while_paused() -> None:
    engine = FakeEngine()
    app = ConsoleApp(engine, refresh_hz=20)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        footer = screen_text(app).splitlines()[-1]
        assert "Pause" in footer and "Resume" not in footer
        await pilot.press("space")
        await pilot.pause(0.2)
        footer = screen_text(app).splitlines()[-1]
        assert "Resume" in footer and "Pause" not in footer, footer
        await pilot.press("space")
        await pilot.pause(0.2)
        assert "Pause" in screen_text(app).splitlines()[-1]
    assert [call for call, _ in engine.calls] == ["pause", "resume"]
