"""The error body every 4xx/5xx of the API has (see errors.py), for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    detail: str = Field(description="what went wrong, and what to do about it")


class ValidationProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(ErrorOut):
    errors: list[ValidationProblem] = Field(default_factory=list)


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these status codes, each with our error body."""
    return {
        code: {"model": ValidationErrorOut if code == 422 else ErrorOut, "description": text}
        for code, text in descriptions.items()
    }


NO_TOKEN = "no bearer token, or an unknown one"
INVALID = "invalid input; `detail` names each problem"
