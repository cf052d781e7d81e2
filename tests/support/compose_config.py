"""`docker compose config` offline: interpolate the file's variables as Compose does, then
parse the result with compose-spec (the compose_spec Rust crate: every field typed, unknown
keys rejected), and check what the parser leaves to the engine — that every service another
names, every named volume mounted and every secret used is defined."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from compose_spec import PyCompose

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}; $$ is a dollar.
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


class ComposeError(ValueError):
    """The file does not resolve: the message names the variable, service or key."""


def interpolate(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        found = env.get(name)
        unset = found is None or (found == "" and operator is not None and ":" in operator)
        if operator and operator.endswith("?") and unset:
            raise ComposeError(f"variable {name}: {argument or 'required'}")
        if operator and operator.endswith("-") and unset:
            return argument
        return found or ""

    return _VARIABLE.sub(one, value)


def _numbers(config: dict[str, Any]) -> None:
    """Compose casts interpolated numbers; replicas is the one this project interpolates."""
    for service in config.get("services", {}).values():
        deploy = service.get("deploy") or {}
        if isinstance(deploy.get("replicas"), str):
            deploy["replicas"] = int(deploy["replicas"])


def _references(config: dict[str, Any]) -> None:
    services = config.get("services") or {}
    volumes = set(config.get("volumes") or {})
    secrets = set(config.get("secrets") or {})
    for name, service in services.items():
        depends = service.get("depends_on") or []
        for other in depends if isinstance(depends, list) else depends.keys():
            if other not in services:
                raise ComposeError(f"service {name}: depends_on names no service {other!r}")
        for mount in service.get("volumes") or []:
            source = mount.split(":")[0] if isinstance(mount, str) else mount.get("source", "")
            if source and not source.startswith((".", "/", "~")) and source not in volumes:
                raise ComposeError(f"service {name}: volume {source!r} is not defined")
        for secret in service.get("secrets") or []:
            secret_name = secret if isinstance(secret, str) else secret.get("source")
            if secret_name not in secrets:
                raise ComposeError(f"service {name}: secret {secret_name!r} is not defined")


def resolve(path: Path, env: dict[str, str]) -> dict[str, Any]:
    """The file as `docker compose config` would print it (as a dict); ComposeError or the
    parser's ValueError when it does not resolve."""
    loaded = yaml.safe_load(path.read_text())  # applies the `<<:` merge keys, as Compose does
    config = {k: v for k, v in interpolate(loaded, env).items() if not k.startswith("x-")}
    for service in config.get("services", {}).values():
        for key in [k for k in service if k.startswith("x-")]:
            del service[key]
    _numbers(config)
    _references(config)
    return PyCompose.from_json(json.dumps(config)).to_dict()
