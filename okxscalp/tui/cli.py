"""`okxscalp screenshots`: regenerate the console's SVG screenshots in `screenshots/`."""

from __future__ import annotations

import argparse

DEFAULT_DIRECTORY = "screenshots"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "screenshots",
        help="regenerate the console's SVG screenshots (drives the real engine against the simulator)",
        description=(
            "Run the engine and the console headless against an in-process simulator with injected "
            "faults and save SVG screenshots of: the normal state, a stalled symbol with fallback "
            "events, a reconnect in progress, the parameter inspector and the flatten confirmation."
        ),
    )
    parser.add_argument("--out", default=DEFAULT_DIRECTORY, help="output directory (default: screenshots/)")
    parser.add_argument("--width", type=int, default=120, help="terminal columns (default 120)")
    parser.add_argument("--height", type=int, default=36, help="terminal rows (default 36)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio
    from pathlib import Path

    from okxscalp.tui.screenshots import SCREENSHOT_FILES, take_screenshots

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = asyncio.run(take_screenshots(out, size=(args.width, args.height), config_path=args.config))
    for path in written:
        print(path)
    return 0 if len(written) == len(SCREENSHOT_FILES) else 1
