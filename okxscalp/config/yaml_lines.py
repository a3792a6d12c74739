"""YAML → plain Python data plus the line of every key, by walking PyYAML's node tree.

PyYAML's constructed objects carry no positions; its nodes do. We compose the node tree with
SafeLoader (safe tags only), build plain dicts/lists/scalars ourselves and record, for each key
path, the 1-based line of the key. Duplicate keys, which PyYAML silently resolves to the last one,
are reported as problems (a duplicate is almost always a paste error).
"""

from __future__ import annotations

from typing import Any

import yaml

from okxscalp.config.problems import Problem

Lines = dict[str, int]


def join_path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def parse_yaml(text: str, file: str) -> tuple[Any, Lines, list[Problem]]:
    """Parse one YAML document. Returns (data, lines by key path, problems). On a syntax error
    data is None and the only problem names the line."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: Lines = {}
        problems: list[Problem] = []
        data = None if node is None else _build(loader, node, "", lines, problems, file)
        return data, lines, problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        return None, {}, [Problem("", f"YAML syntax error: {what}", file, line)]
    except yaml.YAMLError as exc:
        return None, {}, [Problem("", f"YAML error: {exc}", file, None)]
    finally:
        loader.dispose()


def _build(
    loader: yaml.SafeLoader, node: yaml.Node, path: str, lines: Lines, problems: list[Problem], file: str
) -> Any:
    if isinstance(node, yaml.MappingNode):
        merged_count = _flatten(loader, node)
        out: dict[str, Any] = {}
        own: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            line = key_node.start_mark.line + 1
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                problems.append(
                    Problem(path, f"key {key!r} is not a string (write it in quotes)", file, line)
                )
                continue
            child = join_path(path, key)
            is_own = index >= merged_count
            if is_own and key in own:
                problems.append(Problem(child, f"duplicate key (first at line {lines[child]})", file, line))
                continue
            if is_own:
                own.add(key)  # an own key overrides a merged one, as YAML merge keys define
            lines[child] = line
            out[key] = _build(loader, value_node, child, lines, problems, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            child = join_path(path, index)
            lines[child] = item.start_mark.line + 1
            items.append(_build(loader, item, child, lines, problems, file))
        return items
    return loader.construct_object(node, deep=True)


def _flatten(loader: yaml.SafeLoader, node: yaml.MappingNode) -> int:
    """Resolve `<<: *anchor` merge keys the way SafeLoader does (merged pairs first, own keys
    after, last wins); returns how many leading pairs came from merges. An aliased node is
    flattened once and remembers the count."""
    known = getattr(node, "_okxscalp_merged", None)
    if known is not None:
        return known
    own_count = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
    loader.flatten_mapping(node)
    merged = len(node.value) - own_count
    node._okxscalp_merged = merged  # type: ignore[attr-defined]
    return merged


def line_for(lines: Lines, path: str) -> int | None:
    """The line of `path`, else of its nearest ancestor that has one (a missing key is reported at
    the section that should hold it)."""
    while path:
        if path in lines:
            return lines[path]
        cut = max(path.rfind("."), path.rfind("["))
        path = path[:cut] if cut > 0 else ""
    return None
