"""Rendering console pages: the templates, the filters they share, and the route class
that turns errors into pages (a sign-in redirect, or the error with its HTTP status)."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates

from server.api.errors import status_for
from server.console.session import ConsoleUser, SignInNeeded
from stack.errors import WakefulError

TEMPLATES = Jinja2Templates(directory=Path(__file__).with_name("templates"))


def when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else "—"


def short(text: str | None, limit: int = 120) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def percent(used: float, limit: float) -> int:
    return min(100, round(100 * used / limit)) if limit else 0


TEMPLATES.env.filters.update(when=when, short=short, pretty=pretty)
TEMPLATES.env.globals.update(percent=percent)


def render(
    request: Request, name: str, user: ConsoleUser | None, status_code: int = 200, **context: Any
) -> Response:
    return TEMPLATES.TemplateResponse(
        request, name, {"user": user, **context}, status_code=status_code
    )


class ConsoleRoute(APIRoute):
    """A console route: no token sends the browser to the sign-in form; our errors become
    an error page with the status the API would answer (403, 404, 409, 422…)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded:
                target = quote(request.url.path + (f"?{request.url.query}" if
                                                   request.url.query else ""))
                return RedirectResponse(f"/console/login?next={target}", status_code=303)
            except WakefulError as exc:
                return render(request, "error.html", None, status_code=status_for(exc),
                              message=str(exc))

        return console_handler
