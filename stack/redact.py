"""Show a service URL in an error message without its password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import psycopg


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***; key=value DSNs keep only host, port, db."""
    if "://" not in url:
        return _redact_conninfo(url)
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:***@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
        query = "&".join(
            "password=***" if kv.lower().startswith("password=") else kv
            for kv in parts.query.split("&")
            if kv
        )
        return urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    except ValueError:
        return "<unparsable URL>"


def _redact_conninfo(dsn: str) -> str:
    try:
        params = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparsable DSN>"
    shown = {k: v for k, v in params.items() if k in ("host", "port", "dbname", "user")}
    return " ".join(f"{k}={v}" for k, v in shown.items())
