"""What a config check reports: every problem at once, each with its key path, file and line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    path: str  # dotted key path, list items as [i]: `symbol_profiles.XRP-USDT.choppy.tp_percent`
    message: str
    file: str
    line: int | None = None  # 1-based, where the YAML parser knows it

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path or '<document>'}: {self.message}"


class ConfigError(Exception):
    """An invalid config. `problems` holds all of them, in file order; `str()` lists them all."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        count = len(self.problems)
        head = f"{count} config problem{'s' if count != 1 else ''}:"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])

    def paths(self) -> list[str]:
        return [p.path for p in self.problems]
