"""PII masking around the tools node: arguments restored before a call, output masked after.

On for an agent whose spec says `pii: {enabled: true}`. The model sees `<EMAIL_1>` where a
tool returned an address, and a call it writes with `<EMAIL_1>` reaches the tool with the
address. The tool_call event (and so the trace) gets the counts: {"masked": {"EMAIL": 2},
"restored": 1}; the values live only in the task's vault (tools/pii_vault.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from langchain_core.messages import ToolMessage

from stack.errors import ConfigError
from tools.pii_vault import PiiVault

if TYPE_CHECKING:
    from graphs.context import AgentDeps

NOTE = (
    "\n[personal data in this output is replaced by placeholders such as <EMAIL_1>; "
    "write a placeholder as it is where a tool argument needs that value]"
)


class ToolMasking:
    """Masks and restores for one task with the agent's `pii:` settings."""

    def __init__(self, vault: PiiVault, deps: AgentDeps) -> None:
        self._vault = vault
        self._task_id = deps.task_id
        self._kinds = tuple(deps.spec.pii.kinds)

    @classmethod
    def for_run(cls, deps: AgentDeps) -> ToolMasking | None:
        """The masking for this run, or None when the agent does not mask."""
        if not deps.spec.pii.enabled:
            return None
        vault = deps.extras.get("pii_vault")
        if vault is None and deps.ledger is not None:
            vault = PiiVault(deps.ledger.pool)
        if vault is None:
            raise ConfigError(
                f"agent {deps.spec.name!r} masks PII (pii.enabled), which needs the "
                "Postgres vault; run it with a database, or set pii.enabled: false"
            )
        return cls(vault, deps)

    async def restore(self, call: dict[str, Any]) -> tuple[dict[str, Any], int]:
        """The call with the values of the placeholders in its arguments put back."""
        args, restored = await self._vault.unmask(self._task_id, call.get("args", {}))
        return ({**call, "args": args} if restored else call), restored

    async def mask(self, message: ToolMessage) -> tuple[ToolMessage, dict[str, int]]:
        """The message with personal data in its text replaced by placeholders."""
        if not isinstance(message.content, str):
            return message, {}
        masked = await self._vault.mask(self._task_id, message.content, self._kinds)
        if not masked.counts:
            return message, {}
        return message.model_copy(update={"content": masked.text + NOTE}), masked.counts
