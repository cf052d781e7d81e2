"""Our errors as HTTP answers: a status code and a `detail` a person can act on.

Every error a caller can cause is a WakefulError subclass, mapped here once; the handlers
for FastAPI's own validation errors rewrite its list of problems into one readable line.
Nothing a caller sends should reach the catch-all 500.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg import DataError

from stack.errors import (
    ConfigError,
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    WakefulError,
)

log = logging.getLogger(__name__)

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


async def unstorable_value(request: Request, exc: Exception) -> JSONResponse:
    """A value the database refuses as data (a NUL character, a number out of range): the
    caller sent it, so it is their 422, not our 500."""
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(WakefulError, wakeful_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(DataError, unstorable_value)
    app.add_exception_handler(Exception, unexpected_error)
