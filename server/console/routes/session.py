"""/console/login and /console/logout: sign in with an API token (kept in an HttpOnly
cookie), sign out (the cookie is cleared; the token itself stays valid)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request, Response
from fastapi.responses import RedirectResponse

from server.api.deps import ServicesDep
from server.console.pages import render
from server.console.routes.common import console_router
from server.console.session import COOKIE, COOKIE_PATH, PostingUserDep

router = console_router()


def safe_next(target: str | None) -> str:
    """Only a console path: never send a signed-in browser to another site."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return "/console/"


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", None, next=safe_next(next), problem=None)


@router.post("/login")
async def login(
    request: Request,
    services: ServicesDep,
    token: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str | None, Form()] = None,
) -> Response:
    principal = await services.auth.authenticate(token.strip())
    if principal is None:
        problem = "That token is unknown, revoked or expired." if token.strip() else (
            "Paste an API token (wakeful token create prints one).")
        return render(request, "login.html", None, status_code=401, next=safe_next(next),
                      problem=problem)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        COOKIE, token.strip(), httponly=True, samesite="strict", path=COOKIE_PATH,
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
async def logout(_user: PostingUserDep) -> Response:
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response
