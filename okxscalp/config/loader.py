"""`load_config(path)`: read YAML with line numbers, check the schema and the cross-field rules,
report every problem at once (ConfigError), then build the typed sections of schema.py."""

from __future__ import annotations

import copy
import types
import typing
from dataclasses import fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from okxscalp.config.problems import ConfigError, Problem
from okxscalp.config.rules import check_rules
from okxscalp.config.schema import (
    AppConfig,
    ExchangeSettings,
    FreshnessSettings,
    OrderEntrySettings,
    RestSettings,
    ScalpingSettings,
    WebSocketSettings,
)
from okxscalp.config.spec import Collector, check_document
from okxscalp.config.yaml_lines import Lines, line_for, parse_yaml


def load_config(path: str | Path) -> AppConfig:
    """Load and validate a config file; raises ConfigError listing every problem."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem("", f"cannot read config: {exc.strerror or exc}", file, None)]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem("", f"not UTF-8 text: {exc.reason}", file, None)]) from None
    document, lines, problems = parse_yaml(text, file)
    if problems and document is None:
        raise ConfigError(problems)
    return load_document(document, file, lines, parse_problems=problems)


def validate_document(document: Any, file: str, lines: Lines | None = None) -> list[Problem]:
    """Every schema and rule problem of a parsed document, sorted by line then path."""
    lines = lines or {}
    collect = Collector()
    collect.items.extend(check_document(document))
    if isinstance(document, dict):
        check_rules(document, collect)
    seen: set[tuple[str, str]] = set()
    problems: list[Problem] = []
    for path, message in collect.items:
        if (path, message) not in seen:
            seen.add((path, message))
            problems.append(Problem(path, message, file, line_for(lines, path)))
    problems.sort(key=lambda p: (p.line if p.line is not None else 10**9, p.path))
    return problems


def load_document(
    document: Any, file: str, lines: Lines | None = None, *, parse_problems: list[Problem] | None = None
) -> AppConfig:
    """Validate an already parsed document (tests, generated configs) and build AppConfig."""
    problems = [*(parse_problems or []), *validate_document(document, file, lines)]
    if problems:
        raise ConfigError(problems)
    return build_config(document, file)


def build_config(document: dict[str, Any], file: str) -> AppConfig:
    """Typed sections from a validated document. Keys the document omits keep the dataclass
    defaults; trading parameters are not copied here (they are read via ParameterProvider)."""
    frozen = copy.deepcopy(document)
    exchange = document["exchange"]
    return AppConfig(
        source_file=file,
        exchange=_fill(ExchangeSettings, exchange),
        symbols=tuple(document["symbols"]),
        freshness=_fill(FreshnessSettings, document["freshness"]),
        websocket=_fill(WebSocketSettings, document.get("websocket", {})),
        rest=_fill(RestSettings, document.get("rest", {})),
        scalping=_fill(ScalpingSettings, document["scalping"]),
        journal_path=document["journal"]["path"],
        order_entry=_fill(OrderEntrySettings, document.get("order_entry", {})),
        document=frozen,
    )


def _fill(cls: Any, section: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in section:
            continue
        raw = section[f.name]
        hint = _concrete(hints[f.name])
        if is_dataclass(hint):
            values[f.name] = _fill(hint, raw)
        elif isinstance(hint, type) and issubclass(hint, Enum):
            values[f.name] = hint(raw)
        elif hint is float and isinstance(raw, int):
            values[f.name] = float(raw)
        else:
            values[f.name] = raw
    return cls(**values)


def _concrete(hint: Any) -> Any:
    """`X | None` → X."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint
