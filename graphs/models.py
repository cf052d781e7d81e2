"""One factory for every model role: ChatOpenAI (any OpenAI-compatible endpoint) or scripted."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from graphs.model_faults import model_name
from graphs.script import ROLES
from graphs.scripted_model import ScriptedChatModel
from graphs.spec import AgentSpec
from stack.errors import ConfigError
from stack.settings import Settings

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"  # the openai client's own default


@dataclass(frozen=True)
class RoleModel:
    role: str
    model: BaseChatModel
    label: str  # "scripted" or "openai:<name>", shown to people
    temperature: float
    endpoint: str | None = None  # the base URL it is asked at (None: scripted, in-process)

    def describe(self) -> str:
        """How errors name this model: role, label and endpoint."""
        return model_name(self.role, self.label, self.endpoint)

    @property
    def scripted(self) -> bool:
        return isinstance(self.model, ScriptedChatModel)


@dataclass(frozen=True)
class RoleModels:
    by_role: dict[str, RoleModel]
    # Runnables with tools / schemas bound, reused across calls and tasks (see model_calls).
    bound: dict[tuple, Any] = field(default_factory=dict, compare=False, hash=False)

    def __getitem__(self, role: str) -> RoleModel:
        return self.by_role[role]

    def describe(self) -> dict[str, str]:
        return {role: m.label for role, m in self.by_role.items()}


_CACHE: OrderedDict[str, RoleModels] = OrderedDict()
_CACHE_SIZE = 32


def build_models(
    spec: AgentSpec, settings: Settings, *, spec_dir: Path | None = None
) -> RoleModels:
    """The role models for a spec, shared by every task with the same model settings.

    Models are stateless between calls (the scripted one reads its cursor from the call's
    metadata), so sharing them saves rebuilding clients and re-binding tool schemas.
    """
    key = json.dumps(
        [
            spec.model.model_dump(mode="json"),
            str(spec_dir),
            settings.openai_api_key is not None,
            settings.openai_base_url,
            [settings.model_for(role) for role in ROLES],
        ],
        sort_keys=True,
        default=str,
    )
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    models = _build_models(spec, settings, spec_dir=spec_dir)
    _CACHE[key] = models
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return models


def _build_models(
    spec: AgentSpec, settings: Settings, *, spec_dir: Path | None = None
) -> RoleModels:
    """Resolve provider and model name per role.

    Precedence for the model name: WAKEFUL_MODEL_<ROLE>, the spec's role override,
    WAKEFUL_MODEL, the spec's model name, then a default.
    """
    script = spec.script(spec_dir)
    by_role: dict[str, RoleModel] = {}
    for role in ROLES:
        override = spec.model.roles.get(role)
        provider = (override.provider if override else None) or spec.model.provider
        if provider == "auto":
            provider = "openai" if settings.openai_api_key else "scripted"
        temperature = (
            override.temperature
            if override and override.temperature is not None
            else spec.model.temperature
        )
        if provider == "scripted":
            model: BaseChatModel = ScriptedChatModel(role=role, script=script.get(role))
            by_role[role] = RoleModel(role, model, "scripted", temperature)
            continue
        if settings.openai_api_key is None:
            raise ConfigError(
                f"agent {spec.name}: role {role} uses provider openai but OPENAI_API_KEY is not set"
            )
        name = (
            getattr(settings, f"model_{role}", None)
            or (override.name if override else None)
            or settings.model
            or spec.model.name
            or DEFAULT_OPENAI_MODEL
        )
        by_role[role] = RoleModel(
            role,
            _chat_openai(settings, name, temperature),
            f"openai:{name}",
            temperature,
            endpoint=settings.openai_base_url or DEFAULT_OPENAI_BASE_URL,
        )
    return RoleModels(by_role)


def _chat_openai(settings: Settings, name: str, temperature: float) -> BaseChatModel:
    from graphs.openai_chat import CheckedChatOpenAI

    assert settings.openai_api_key is not None
    return CheckedChatOpenAI(
        model=name,
        api_key=settings.openai_api_key,
        base_url=settings.openai_base_url,
        temperature=temperature,
        max_retries=2,  # the openai client retries 408/409/429/5xx and lost connections
        stream_usage=True,
    )
