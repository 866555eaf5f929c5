"""A YAML document read with ruamel.yaml, as plain data plus the line of every key and item,
so that an error found in the data can name the line it came from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

Location = tuple[str | int, ...]


def key_lines(node: Any, path: Location = ()) -> Iterator[tuple[Location, int]]:
    """(path, 1-based line) of every key and item under ``node``."""
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            yield (*path, str(key)), node.lc.key(key)[0] + 1
            yield from key_lines(value, (*path, str(key)))
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            yield (*path, i), node.lc.item(i)[0] + 1
            yield from key_lines(value, (*path, i))


def plain(node: Any) -> Any:
    """The document as dicts, lists and scalars, keys as strings."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def dotted(path: Location) -> str:
    """A path as written in messages: ``stages[3].exit[1]``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top)"
