"""Our errors as HTTP answers: a status code and a `detail` a person can act on.

Every error a caller can cause is a WakefulError subclass, mapped here once; the handlers
for FastAPI's own validation errors rewrite its list of problems into one readable line.
Nothing a caller sends should reach the catch-all 500.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from procrastinate.exceptions import ConnectorException
from psycopg import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from stack.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    WakefulError,
)

log = logging.getLogger(__name__)
UNPARSABLE_BODY = "There was an error parsing the body"  # FastAPI's words for it
HTTP = frozenset({"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"})

STATUS_BY_ERROR: tuple[tuple[type[WakefulError], int], ...] = (
    (ConfigError, status.HTTP_422_UNPROCESSABLE_CONTENT),
    (NotFound, status.HTTP_404_NOT_FOUND),
    (Conflict, status.HTTP_409_CONFLICT),
    (Forbidden, status.HTTP_403_FORBIDDEN),
    (ServiceUnavailable, status.HTTP_503_SERVICE_UNAVAILABLE),
)


def status_for(exc: WakefulError) -> int:
    for error_type, code in STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return code
    return status.HTTP_400_BAD_REQUEST


def error_body(detail: str, **extra: Any) -> dict[str, Any]:
    return {"detail": detail, **extra}


async def wakeful_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WakefulError)
    code = status_for(exc)
    if code >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(error_body(str(exc)), status_code=code)


def unstorable_cause(exc: BaseException) -> DataError | None:
    """The DataError behind `exc`: itself, or the one procrastinate wraps when deferring a job
    whose arguments the database refuses (a NUL character in an approval comment, say)."""
    if isinstance(exc, DataError):
        return exc
    if isinstance(exc, ConnectorException) and isinstance(exc.__cause__, DataError):
        return exc.__cause__
    return None


async def unstorable_value(request: Request, exc: Exception) -> JSONResponse:
    """A value the database refuses as data (a NUL character, a number out of range): the
    caller sent it, so it is their 422, not our 500."""
    cause = unstorable_cause(exc)
    if cause is None:
        return await unexpected_error(request, exc)
    message = str(cause).splitlines()[0] if str(cause) else type(cause).__name__
    return JSONResponse(
        error_body(f"the request holds a value that cannot be stored: {message}"),
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def describe_location(loc: tuple[Any, ...] | list[Any]) -> str:
    """`("body", "budgets", "max_tokens")` → `budgets.max_tokens`; the source stays for params."""
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def describe_validation(errors: list[dict[str, Any]]) -> str:
    problems = []
    for err in errors:
        if err.get("type") == "json_invalid":
            problems.append(f"the request body is not valid JSON ({err.get('msg')})")
            continue
        problems.append(f"{describe_location(err.get('loc', ()))}: {err.get('msg')}")
    return "; ".join(problems) or "the request is invalid"


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
        for e in exc.errors()
    ]
    return JSONResponse(
        error_body(describe_validation(list(exc.errors())), errors=errors),
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        error_body("internal error; the server log has the details"),
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method the API documents at this path (Starlette names only the first matching
    route's). Read from the OpenAPI document, which lists each path's operations."""
    methods: set[str] = set()
    for template, operations in request.app.openapi().get("paths", {}).items():
        pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, request.url.path):
            methods.update(method.upper() for method in operations if method.upper() in HTTP)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def http_error(request: Request, exc: Exception) -> Any:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        allowed = allowed_methods(request)
        return JSONResponse(
            error_body(f"{request.method} is not allowed here; use {', '.join(allowed)}"),
            status_code=exc.status_code,
            headers={"Allow": ", ".join(allowed)},
        )
    if exc.detail == UNPARSABLE_BODY and "json" in request.headers.get("content-type", "json"):
        # FastAPI's answer to a JSON body it cannot even decode (bytes that are not UTF-8,
        # say) is a bare 400; it is the same mistake as malformed JSON, so the same 422.
        problem = {"loc": ["body"], "msg": str(exc.__cause__), "type": "json_invalid"}
        return JSONResponse(
            error_body(describe_validation([problem]), errors=[problem]),
            status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
        )
    return await http_exception_handler(request, exc)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(WakefulError, wakeful_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DataError, unstorable_value)
    app.add_exception_handler(ConnectorException, unstorable_value)
    app.add_exception_handler(Exception, unexpected_error)
