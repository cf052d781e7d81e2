"""A2A push-notification configs (TaskPushNotificationConfig) kept in Postgres, per tenant.

A config says where to POST a task's updates and how to authenticate there: the client's
`token` comes back as `X-A2A-Notification-Token`, `authentication` as an `Authorization:
<scheme> <credentials>` header (A2A v1.0, 4.3). Deleting a config also drops its undelivered
notifications. Webhook URLs must be http(s); private, loopback and link-local addresses are
refused (SSRF, A2A 13.2) unless WAKEFUL_PUSH_ALLOW_PRIVATE=1 (tests, a trusted network).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from a2a.server.context import ServerCallContext
from a2a.server.tasks import PushNotificationConfigStore
from a2a.server.tasks.push_notification_config_store import normalize_push_notification_config
from a2a.types.a2a_pb2 import AuthenticationInfo, TaskPushNotificationConfig
from a2a.utils.errors import InvalidParamsError
from psycopg_pool import AsyncConnectionPool

from server.a2a.auth import principal_of
from stack.sql import load_queries

_QUERIES = Path(__file__).with_suffix(".sql")
ALLOW_PRIVATE_ENV = "WAKEFUL_PUSH_ALLOW_PRIVATE"
MAX_CONFIGS_PER_TASK = 10


def _q(name: str) -> str:
    return load_queries(_QUERIES)[name]


class WakefulPushConfigStore(PushNotificationConfigStore):
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def set_info(
        self, task_id: str, notification_config: TaskPushNotificationConfig,
        context: ServerCallContext,
    ) -> TaskPushNotificationConfig:
        tenant = principal_of(context).tenant
        config = normalize_push_notification_config(task_id, notification_config)
        check_webhook_url(config.url)
        auth = config.authentication if config.HasField("authentication") else None
        params = {
            "task_id": task_id, "id": config.id, "tenant": tenant, "url": config.url,
            "token": config.token or None,
            "auth_scheme": auth.scheme if auth else None,
            "auth_credentials": auth.credentials if auth else None,
            "max": MAX_CONFIGS_PER_TASK,
        }
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_q("upsert_config"), params)).fetchone()
        if row is None:
            raise InvalidParamsError(
                message=f"task {task_id} has {MAX_CONFIGS_PER_TASK} push configs already"
            )
        return config

    async def get_info(
        self, task_id: str, context: ServerCallContext
    ) -> list[TaskPushNotificationConfig]:
        params = {"task_id": task_id, "tenant": principal_of(context).tenant}
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(_q("list_configs"), params)).fetchall()
        return [as_config(row) for row in rows]

    async def delete_info(
        self, task_id: str, context: ServerCallContext, config_id: str | None = None
    ) -> None:
        params = {"task_id": task_id, "tenant": principal_of(context).tenant, "id": config_id}
        async with self.pool.connection() as conn:
            await conn.execute(_q("delete_configs"), params)


def as_config(row: dict[str, Any]) -> TaskPushNotificationConfig:
    config = TaskPushNotificationConfig(
        task_id=row["task_id"], id=row["id"], url=row["url"], token=row["token"] or ""
    )
    if row["auth_scheme"]:
        config.authentication.CopyFrom(
            AuthenticationInfo(scheme=row["auth_scheme"], credentials=row["auth_credentials"] or "")
        )
    return config


def check_webhook_url(url: str) -> None:
    """InvalidParamsError unless `url` is an http(s) URL this server may call."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParamsError(message=f"push url {url!r} must be an http(s) URL with a host")
    if os.environ.get(ALLOW_PRIVATE_ENV) == "1":
        return
    for address in _addresses(parts.hostname):
        if address.is_private or address.is_loopback or address.is_link_local \
                or address.is_reserved or address.is_multicast or address.is_unspecified:
            raise InvalidParamsError(
                message=f"push url {url!r} points at a private address ({address}); set "
                f"{ALLOW_PRIVATE_ENV}=1 to allow that"
            )


def _addresses(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return []  # unresolvable now: delivery will fail and be retried, never reach inside
    return [ipaddress.ip_address(info[4][0]) for info in infos]
