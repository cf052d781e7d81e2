"""Process settings: environment variables first, then an optional YAML file, then defaults.

Nothing is read at import time; call `load_settings()` (or build `Settings(...)` in tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from stack.errors import ConfigError

Durability = Literal["sync", "async", "exit"]


class Settings(BaseSettings):
    """Everything an operator can configure. Unset service URLs mean "start it embedded"."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default=Path(".wakeful"), alias="WAKEFUL_DATA_DIR")
    config_file: Path | None = Field(default=None, alias="WAKEFUL_CONFIG")

    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    qdrant_url: str | None = Field(default=None, alias="QDRANT_URL")
    qdrant_api_key: SecretStr | None = Field(default=None, alias="QDRANT_API_KEY")
    neo4j_uri: str | None = Field(default=None, alias="NEO4J_URI")
    neo4j_user: str = Field(default="neo4j", alias="NEO4J_USER")
    neo4j_password: SecretStr = Field(default=SecretStr(""), alias="NEO4J_PASSWORD")
    neo4j_database: str = Field(default="wakeful", alias="NEO4J_DATABASE")

    openai_api_key: SecretStr | None = Field(default=None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(default=None, alias="OPENAI_BASE_URL")
    model: str | None = Field(default=None, alias="WAKEFUL_MODEL")
    model_planner: str | None = Field(default=None, alias="WAKEFUL_MODEL_PLANNER")
    model_worker: str | None = Field(default=None, alias="WAKEFUL_MODEL_WORKER")
    model_critic: str | None = Field(default=None, alias="WAKEFUL_MODEL_CRITIC")
    model_summarizer: str | None = Field(default=None, alias="WAKEFUL_MODEL_SUMMARIZER")
    model_consolidator: str | None = Field(default=None, alias="WAKEFUL_MODEL_CONSOLIDATOR")

    durability: Durability = Field(default="sync", alias="WAKEFUL_DURABILITY")
    embedding_model: str | None = Field(default=None, alias="WAKEFUL_EMBEDDING_MODEL")
    service_start_timeout_s: float = Field(default=60.0, alias="WAKEFUL_SERVICE_START_TIMEOUT")
    # A run's lease on its task: renewed every third of this by a heartbeat thread; a run
    # silent for this long (its process gone) may be taken over by another.
    lease_seconds: float = Field(default=30.0, gt=0.5, le=3600, alias="WAKEFUL_LEASE_SECONDS")
    # Host names (comma-separated) a loopback-bound server also answers to at /mcp, and
    # origins it accepts calls from, besides loopback ones (DNS-rebinding protection).
    allowed_hosts: str = Field(default="", alias="WAKEFUL_ALLOWED_HOSTS")
    # How long a task waiting for a person keeps its MCP servers running in the process
    # that ran it (graphs/toolboxes.py); after that its next run starts them afresh.
    mcp_keep_seconds: float = Field(
        default=900.0, ge=0, le=86400, alias="WAKEFUL_MCP_KEEP_SECONDS"
    )
    # Connections in this process's engine pool; unset: sized from the worker concurrency
    # (stack.postgres.pool_size_for), so five 256-task workers fit Postgres's 100.
    db_pool_size: int | None = Field(default=None, ge=2, le=500, alias="WAKEFUL_DB_POOL_SIZE")
    # Retention (stack/retention.py; `wakeful db prune`): ended tasks only, never one that
    # waits for a person or has an open ledger row. Checkpoint history of an ended task is
    # compacted to its final checkpoint after retain_history_hours; its events go after
    # retain_events_days (at most retain_tasks_days), the task itself after retain_tasks_days.
    retain_history_hours: float = Field(default=24.0, ge=0, alias="WAKEFUL_RETAIN_HISTORY_HOURS")
    retain_events_days: float | None = Field(default=None, ge=0, alias="WAKEFUL_RETAIN_EVENTS_DAYS")
    retain_tasks_days: float = Field(default=30.0, ge=0, alias="WAKEFUL_RETAIN_TASKS_DAYS")
    retain_ledger_days: float = Field(default=30.0, ge=0, alias="WAKEFUL_RETAIN_LEDGER_DAYS")
    retain_alerts_days: float = Field(default=30.0, ge=0, alias="WAKEFUL_RETAIN_ALERTS_DAYS")

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Absolute so that subprocesses and a changed cwd see the same services.
        return value.expanduser().resolve()

    @property
    def allowed_host_names(self) -> frozenset[str]:
        return frozenset(
            name.strip().lower() for name in self.allowed_hosts.split(",") if name.strip()
        )

    def model_for(self, role: str) -> str | None:
        """The configured model name for a role, falling back to WAKEFUL_MODEL."""
        return getattr(self, f"model_{role}", None) or self.model

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by WAKEFUL_CONFIG; keys are the environment variable names."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        import os

        path = os.environ.get("WAKEFUL_CONFIG")
        if not path:
            return {}
        file = Path(path)
        if not file.is_file():
            raise ConfigError(f"WAKEFUL_CONFIG points to {path}, which is not a file")
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"WAKEFUL_CONFIG file {path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"WAKEFUL_CONFIG file {path} must hold a mapping of settings")
        return {str(k).upper(): v for k, v in data.items()}


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment (and WAKEFUL_CONFIG), with explicit overrides."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc
