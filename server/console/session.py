"""Who is signed in to the console: the API token, kept in an HttpOnly cookie after the
sign-in form, mapped to a tenant and a role exactly as the API maps a bearer token.

POST forms carry a CSRF token derived from the session's API token (an HMAC), so another
site cannot forge a form post: it can neither read the cookie nor compute the value. The
cookie is also SameSite=Strict and scoped to /console.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Form, Header, Request

from server.api.deps import ServicesDep
from server.services import Principal
from server.services.auth import Role
from stack.errors import Forbidden, WakefulError

COOKIE = "wakeful_console"
COOKIE_PATH = "/console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


class SignInNeeded(WakefulError):
    """Sign in to the console with an API token."""


@dataclass(frozen=True)
class ConsoleUser:
    principal: Principal
    csrf: str  # the value every POST form of this session must send back

    @property
    def tenant(self) -> str:
        return self.principal.tenant

    @property
    def name(self) -> str:
        return self.principal.token_name

    def can(self, role: Role) -> bool:
        return self.principal.allows(role)

    def require(self, role: Role) -> None:
        self.principal.require(role)


def csrf_for(token: str) -> str:
    return hmac.new(token.encode(), b"wakeful-console-csrf", hashlib.sha256).hexdigest()


async def current_user(request: Request, services: ServicesDep) -> ConsoleUser:
    token = request.cookies.get(COOKIE, "")
    principal = await services.auth.authenticate(token) if token else None
    if principal is None:
        raise SignInNeeded()
    return ConsoleUser(principal, csrf_for(token))


UserDep = Annotated[ConsoleUser, Depends(current_user)]


async def posting_user(
    user: UserDep,
    csrf: Annotated[str | None, Form(alias=CSRF_FIELD)] = None,
    csrf_header: Annotated[str | None, Header(alias=CSRF_HEADER)] = None,
) -> ConsoleUser:
    """The signed-in user of a POST whose CSRF value matches (403 otherwise)."""
    sent = csrf or csrf_header or ""
    if not hmac.compare_digest(sent, user.csrf):
        raise Forbidden("the form's CSRF token is missing or stale: reload the page and retry")
    return user


PostingUserDep = Annotated[ConsoleUser, Depends(posting_user)]
