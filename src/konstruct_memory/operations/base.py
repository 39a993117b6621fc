"""What every request and result of the contract is, and how a failed validation is reported."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from konstruct_memory.errors import InvalidInput


class Result(BaseModel):
    """An operation's answer: plain data, the same from the library, HTTP and the client."""

    model_config = ConfigDict(frozen=True)


R = TypeVar("R", bound=Result)


class Request(BaseModel, Generic[R]):
    """An operation's input, validated on construction; ``R`` is the result it yields.

    Unknown fields are refused (a misspelt parameter must not be silently ignored).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


M = TypeVar("M", bound=BaseModel)


def build(model: type[M], /, **fields: Any) -> M:
    """``model(**fields)``, with a validation failure raised as InvalidInput naming the field."""
    try:
        return model(**fields)
    except ValidationError as exc:
        raise invalid_input(exc.errors()) from None


def arguments(local_names: dict[str, Any]) -> dict[str, Any]:
    """A face method's ``locals()`` as request fields: faces name their parameters after the
    fields, so nothing is renamed (or dropped) on the way. None means "not given": the
    model's default applies (and an agent or user comes from the key's binding)."""
    return {k: v for k, v in local_names.items() if k != "self" and v is not None}


def result_type(request: type[Request[Any]]) -> type[Result]:
    """The result model an operation's request class yields (its ``Request[R]`` argument)."""
    for base in request.__mro__:
        metadata = getattr(base, "__pydantic_generic_metadata__", None)
        if metadata and metadata["origin"] is Request:
            answer: type[Result] = metadata["args"][0]
            return answer
    raise TypeError(f"{request.__name__} does not derive from Request[...]")


def field_path(loc: tuple[int | str, ...]) -> str:
    """('turns', 3, 'content') -> 'turns[3].content'."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def invalid_input(
    errors: list[ErrorDetails] | list[dict[str, Any]], *, located: bool = False
) -> InvalidInput:
    """The first validation error, as InvalidInput: ``turns[3].content: must not be empty``.

    ``located``: the error locations start with where the value came from, as FastAPI's do
    (``('body', 'turns', 3, 'content')``, ``('query', 'limit')``); that part is dropped.
    """
    first = errors[0]
    kind = first.get("type")
    # Rules of our own carry their words; pydantic's messages describe rules, never values.
    message = {
        "missing": "is required",
        "extra_forbidden": "unknown field",
        "json_invalid": "is not valid JSON",
    }.get(str(kind), str(first.get("msg", "invalid")))
    # A JSON syntax error's location is a character offset, not a field.
    loc = tuple(first.get("loc", ()))
    if located and len(loc) > 1:
        loc = loc[1:]
    where = "body" if kind == "json_invalid" else field_path(loc)
    return InvalidInput(where, message)
