"""The agent card over HTTP with cache validators: clients may keep it for a while
(Cache-Control), revalidate it cheaply (ETag, If-None-Match → 304) and see when it last
changed (Last-Modified: when this process started serving it, as it is built from the
code and the settings of this process)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

CACHE_CONTROL = "public, max-age=300"
_STARTED = datetime.now(UTC).replace(microsecond=0)


def card_response(request: Request, card: dict[str, Any]) -> Response:
    body = json.dumps(card, sort_keys=True, separators=(",", ":")).encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {
        "Cache-Control": CACHE_CONTROL,
        "ETag": etag,
        "Last-Modified": format_datetime(_STARTED, usegmt=True),
    }
    wanted = {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}
    if etag in wanted or "*" in wanted:
        return Response(status_code=304, headers=headers)
    return JSONResponse(card, headers=headers)
