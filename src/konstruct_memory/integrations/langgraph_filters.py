"""What LangGraph's match conditions and search filters mean, applied to what the store read:
namespace prefixes and suffixes with ``*`` wildcards, and value filters with equality, nested
objects and the comparison operators."""

from __future__ import annotations

from collections.abc import Mapping
from operator import eq, ge, gt, le, lt, ne
from typing import Any

from langgraph.store.base import MatchCondition

from konstruct_memory.errors import InvalidInput


def namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(path) > len(namespace):
        return False
    part = namespace[: len(path)] if condition.match_type == "prefix" else namespace[-len(path) :]
    return all(want in ("*", have) for want, have in zip(path, part, strict=True))


def value_matches(value: Mapping[str, Any], condition: Mapping[str, Any] | None) -> bool:
    return all(_equals(value.get(k), want) for k, want in (condition or {}).items())


_COMPARE = {"$eq": eq, "$ne": ne, "$gt": gt, "$gte": ge, "$lt": lt, "$lte": le}


def _equals(have: Any, want: Any) -> bool:
    """A value field against a filter: nested objects field by field, operators by their
    meaning (a comparison with a missing or mismatched type is no match)."""
    if isinstance(want, Mapping) and want and all(str(k).startswith("$") for k in want):
        try:
            return all(_COMPARE[op](have, operand) for op, operand in want.items())
        except KeyError as exc:
            raise InvalidInput("filter", f"unknown operator {exc.args[0]!r}") from None
        except TypeError:
            return False
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and value_matches(have, want)
    return bool(have == want)
