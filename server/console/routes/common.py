"""What every console router shares: the prefix, the error-to-page route class, and the
redirect after a form post (Post/Redirect/Get, with a one-line notice)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from server.console.pages import ConsoleRoute


def console_router() -> APIRouter:
    return APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)


def back_to(path: str, notice: str) -> RedirectResponse:
    joiner = "&" if "?" in path else "?"
    return RedirectResponse(f"{path}{joiner}{urlencode({'notice': notice})}", status_code=303)
