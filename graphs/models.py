"""One factory for every model role: ChatOpenAI (any OpenAI-compatible endpoint) or scripted."""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from graphs.model_faults import model_name
from graphs.script import ROLES, Script, script_key
from graphs.scripted_model import ScriptedChatModel
from graphs.spec import AgentSpec, ModelChoice, ModelPrice
from stack.errors import ConfigError
from stack.settings import Settings

DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"  # the openai client's own default


@dataclass(frozen=True)
class RoleModel:
    role: str
    model: BaseChatModel
    label: str  # "scripted", "scripted:<name>" (in a cascade) or "openai:<name>"
    temperature: float
    endpoint: str | None = None  # the base URL it is asked at (None: scripted, in-process)
    price: ModelPrice | None = None  # from the spec's model.prices, for cost reports

    def describe(self) -> str:
        """How errors name this model: role, label and endpoint."""
        return model_name(self.role, self.label, self.endpoint)

    @property
    def scripted(self) -> bool:
        return isinstance(self.model, ScriptedChatModel)


@dataclass(frozen=True)
class RoleModels:
    by_role: dict[str, RoleModel]  # the role's (first) model
    # Roles with a cascade of two or more models: all of them, cheapest first.
    cascades: dict[str, tuple[RoleModel, ...]] = field(default_factory=dict)
    # Runnables with tools / schemas bound, reused across calls and tasks (see model_calls).
    bound: dict[tuple, Any] = field(default_factory=dict, compare=False, hash=False)

    def __getitem__(self, role: str) -> RoleModel:
        return self.by_role[role]

    def cascade(self, role: str) -> tuple[RoleModel, ...]:
        """The role's models in the order they are tried (one, without a cascade)."""
        return self.cascades.get(role) or (self.by_role[role],)

    def describe(self) -> dict[str, str]:
        return {role: " → ".join(m.label for m in self.cascade(role)) for role in self.by_role}


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
    """Resolve provider and model name per role (per model, for a role's cascade).

    Precedence for the model name: a cascade entry's own name, WAKEFUL_MODEL_<ROLE>, the
    spec's role override, WAKEFUL_MODEL, the spec's model name, then a default.
    """
    script = spec.script(spec_dir)
    by_role: dict[str, RoleModel] = {}
    cascades: dict[str, tuple[RoleModel, ...]] = {}
    for role in ROLES:
        override = spec.model.roles.get(role)
        if override is None or override.cascade is None:
            by_role[role] = _role_model(spec, settings, script, role, override, None)
            continue
        chain = tuple(
            _role_model(spec, settings, script, role, override, (index, choice))
            for index, choice in enumerate(override.cascade)
        )
        by_role[role] = chain[0]
        if len(chain) > 1:
            cascades[role] = chain
    return RoleModels(by_role, cascades)


def _role_model(
    spec: AgentSpec,
    settings: Settings,
    script: Script,
    role: str,
    override: ModelChoice | None,
    entry: tuple[int, ModelChoice] | None,
) -> RoleModel:
    """One model of a role: the role's only one (`entry` None), or a cascade's entry."""
    choice = entry[1] if entry else override
    provider = (choice.provider if choice else None) or spec.model.provider
    if provider == "auto":
        provider = "openai" if settings.openai_api_key else "scripted"
    temperature = next(
        (c.temperature for c in (choice, override) if c and c.temperature is not None),
        spec.model.temperature,
    )
    if provider == "scripted":
        name = choice.name if entry and choice else None
        own = script.get(script_key(role, name)) if name else None
        first = entry is None or entry[0] == 0  # the cascade's first model: the role's script
        model: BaseChatModel = ScriptedChatModel(
            role=role, script=own or (script.get(role) if first else None)
        )
        label = f"scripted:{name}" if name else "scripted"
        return RoleModel(role, model, label, temperature, price=_price(spec, label, name))
    if settings.openai_api_key is None:
        raise ConfigError(
            f"agent {spec.name}: role {role} uses provider openai but OPENAI_API_KEY is not set"
        )
    name = (
        (choice.name if entry and choice else None)
        or getattr(settings, f"model_{role}", None)
        or (override.name if override else None)
        or settings.model
        or spec.model.name
        or DEFAULT_OPENAI_MODEL
    )
    label = f"openai:{name}"
    return RoleModel(
        role,
        _chat_openai(settings, name, temperature),
        label,
        temperature,
        endpoint=settings.openai_base_url or DEFAULT_OPENAI_BASE_URL,
        price=_price(spec, label, name),
    )


def _price(spec: AgentSpec, label: str, name: str | None) -> ModelPrice | None:
    prices = spec.model.prices
    return prices.get(label) or (prices.get(name) if name else None)


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
