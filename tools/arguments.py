"""Tool-call arguments: their stable hash, and checking them against the tool's schema."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jsonschema
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ValidationError


def args_hash(args: Any) -> str:
    """sha256 of the arguments as canonical JSON (sorted keys), the same across runs."""
    canonical = json.dumps(args, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def validate_args(tool: BaseTool, args: Any) -> str | None:
    """None if `args` fit the tool's schema, else a message telling the model what to fix."""
    if not isinstance(args, dict):
        problems = [f"arguments must be a JSON object, got {type(args).__name__}"]
    else:
        schema = tool.tool_call_schema
        if isinstance(schema, dict):
            problems = _json_schema_problems(schema, args)
        else:
            problems = _model_problems(schema, args)
    if not problems:
        return None
    expected = json.dumps(tool.args, sort_keys=True, default=str)
    return (
        f"Error: invalid arguments for tool {tool.name!r}: {'; '.join(problems)}. "
        f"Expected arguments (JSON schema properties): {expected}"
    )


def _model_problems(model: type[BaseModel], args: dict[str, Any]) -> list[str]:
    problems = []
    if model.model_config.get("extra") != "allow":
        known = set(model.model_fields)
        known |= {f.alias for f in model.model_fields.values() if f.alias}
        problems += [f"{name}: unexpected argument" for name in sorted(set(args) - known)]
    try:
        model.model_validate(args)
    except ValidationError as exc:
        problems += [
            f"{'.'.join(str(p) for p in err['loc']) or '(arguments)'}: {err['msg']}"
            for err in exc.errors()
        ]
    return problems


def _json_schema_problems(schema: dict[str, Any], args: dict[str, Any]) -> list[str]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"{'.'.join(str(p) for p in err.absolute_path) or '(arguments)'}: {err.message}"
        for err in sorted(validator.iter_errors(args), key=lambda e: list(e.absolute_path))
    ]
