"""How one declaration of a method serves every face: the library, the blocking client and the
asynchronous one.

A method of ``declared.py`` says what its call asks for: its parameters, its docstring, and
its body, which builds the operation's request and says which part of the result the caller
gets back (a ``Call``). ``@operation`` turns it into a ``Method``, a descriptor that each face
class inherits. Read from a blocking face (``BlockingFace``: the library's ``TenantMemory`` and
``Memory``, ``Client`` and ``AdminClient``), it is a plain method returning that part; read
from an ``AsyncFace`` (``AsyncClient``, ``AsyncAdminClient``), a coroutine method. Each face
says only how a request is run (``_execute``): through the engine, or over HTTP.

The type checker sees the declared parameters on every face (``ParamSpec``) and the result, or
an awaitable result on an asynchronous face, through ``Method.__get__``'s overloads; ``help()``
and ``inspect.signature`` show the declared parameters and docstring.
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from konstruct_memory.errors import KonstructMemoryError
from konstruct_memory.operations import BY_REQUEST, Request, Result, build

P = ParamSpec("P")
R = TypeVar("R", bound=Result)
T = TypeVar("T")


@dataclass(frozen=True)
class Call(Generic[T]):
    """What a method asks for: the operation's request, and the part of its result the caller
    gets (``answer``)."""

    request: Request[Any]
    answer: Callable[[Any], T]

    def finish(self, result: Result | None) -> T:
        """The caller's part of ``result``; None for an operation that answers nothing (HTTP
        204), which no other operation may do."""
        if result is None:
            if BY_REQUEST[type(self.request)].status != 204:
                raise KonstructMemoryError("the service answered with an empty body")
            return self.answer(None)
        return self.answer(result)


def _whole(result: R) -> R:
    return result


@overload
def call(kind: type[Request[R]], fields: Mapping[str, Any]) -> Call[R]: ...


@overload
def call(
    kind: type[Request[R]], fields: Mapping[str, Any], answer: Callable[[R], T]
) -> Call[T]: ...


def call(
    kind: type[Request[Any]],
    fields: Mapping[str, Any],
    answer: Callable[[Any], Any] = _whole,
) -> Call[Any]:
    """The request of type ``kind`` with ``fields`` (validated now: InvalidInput names a bad
    one), and what of its result the caller gets: all of it unless ``answer`` says."""
    return Call(build(kind, **fields), answer)


class BlockingFace:
    """A face whose methods return their results: it runs a request and returns its result
    (None: the operation answered nothing)."""

    def _execute(self, request: Request[R]) -> R | None:
        raise NotImplementedError


class AsyncFace:
    """A face whose methods are coroutines: it runs a request asynchronously."""

    async def _execute(self, request: Request[R]) -> R | None:
        raise NotImplementedError


class Method(Generic[P, T]):
    """A declared method, as each face reads it (see the module's docstring)."""

    def __init__(self, declared: Callable[Concatenate[Any, P], Call[T]]) -> None:
        def blocking(face: BlockingFace, /, *args: P.args, **kwargs: P.kwargs) -> T:
            asked = declared(face, *args, **kwargs)
            return asked.finish(face._execute(asked.request))

        async def asynchronous(face: AsyncFace, /, *args: P.args, **kwargs: P.kwargs) -> T:
            asked = declared(face, *args, **kwargs)
            return asked.finish(await face._execute(asked.request))

        self.blocking = _dressed(blocking, declared)
        self.asynchronous = _dressed(asynchronous, declared)

    @overload
    def __get__(
        self, face: None, owner: type[AsyncFace]
    ) -> Callable[Concatenate[AsyncFace, P], Coroutine[Any, Any, T]]: ...

    @overload
    def __get__(
        self, face: None, owner: type[BlockingFace]
    ) -> Callable[Concatenate[BlockingFace, P], T]: ...

    @overload
    def __get__(self, face: AsyncFace, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, T]]: ...

    @overload
    def __get__(self, face: BlockingFace, owner: type[Any]) -> Callable[P, T]: ...

    def __get__(self, face: object, owner: type[Any]) -> Callable[..., T | Awaitable[T]]:
        function = self.asynchronous if issubclass(owner, AsyncFace) else self.blocking
        return function if face is None else types.MethodType(function, face)


def operation(declared: Callable[Concatenate[Any, P], Call[T]]) -> Method[P, T]:
    """Declare a method of every face (see the module's docstring)."""
    return Method(declared)


F = TypeVar("F", bound=Callable[..., Any])


def _dressed(function: F, declared: Callable[..., Any]) -> F:
    """``function`` under the declared method's name, docstring and parameters; its result is
    the answer's type (``Call[X]`` becomes ``X``), as ``help()`` shows it."""
    signature = inspect.signature(declared)
    returned = signature.return_annotation
    # The declarations postpone their annotations, so the result is the text ``Call[X]``.
    if not (isinstance(returned, str) and returned.startswith("Call[") and returned.endswith("]")):
        raise TypeError(f"{declared.__qualname__} must be annotated to return Call[...]")
    signature = signature.replace(return_annotation=returned.removeprefix("Call[")[:-1])
    function.__name__ = declared.__name__
    function.__qualname__ = declared.__qualname__
    function.__module__ = declared.__module__
    function.__doc__ = declared.__doc__
    function.__signature__ = signature  # type: ignore[attr-defined]
    function.__annotations__ = {
        name: parameter.annotation
        for name, parameter in signature.parameters.items()
        if parameter.annotation is not inspect.Parameter.empty
    } | {"return": signature.return_annotation}
    return function
