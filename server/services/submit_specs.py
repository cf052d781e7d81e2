"""Agent specs as submits use them: read and built into a task's stored spec once per change
of the agent, not once per POST /tasks.

An entry carries the md5 of the agents row's spec as Postgres prints it; the submit statement
(wakeful_submit_task) checks that hash against the row in the transaction that creates the
task, so a task is never built from a spec that changed meanwhile: on AgentSpecChanged the
caller forgets the entry and builds the task again. The default agent (no name) is not
stored, so it needs no check. A spec that names a script file is read afresh every time (the
file may change without the row changing).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from graphs.runner import self_contained
from graphs.spec import AgentSpec, default_agent_spec
from stack.errors import ConfigError

MAX_ENTRIES = 1024
_SPEC = """
SELECT name, spec, md5(spec::text) AS spec_md5 FROM agents
WHERE tenant = %(tenant)s AND name = %(name)s
"""


@dataclass(frozen=True)
class SubmitSpec:
    spec: AgentSpec
    stored: dict[str, Any]  # the spec as the task row keeps it (self_contained)
    md5: str | None  # of the agents row's spec; None: not checked (the default agent)


class SubmitSpecs:
    def __init__(self, pool: AsyncConnectionPool, *, max_entries: int = MAX_ENTRIES) -> None:
        self.pool = pool
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], SubmitSpec] = OrderedDict()
        self._default: SubmitSpec | None = None

    def default(self) -> SubmitSpec:
        if self._default is None:
            spec = default_agent_spec()
            self._default = SubmitSpec(spec, self_contained(spec, None), None)
        return self._default

    async def get(self, tenant: str, name: str) -> SubmitSpec:
        """The agent's spec (ConfigError when the tenant has no such agent)."""
        key = (tenant, name)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry
        async with self.pool.connection() as conn:
            row = await (await conn.execute(_SPEC, {"tenant": tenant, "name": name})).fetchone()
        if row is None:
            raise ConfigError(f"no agent named {name!r}; apply its spec first")
        spec = AgentSpec.model_validate(row["spec"])
        same_name = spec.name == row["name"]  # the check looks the row up by the spec's name
        entry = SubmitSpec(spec, self_contained(spec, None), row["spec_md5"] if same_name else None)
        if spec.model.script_file is None and same_name:
            self._entries[key] = entry
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return entry

    def forget(self, tenant: str, name: str) -> None:
        self._entries.pop((tenant, name), None)
