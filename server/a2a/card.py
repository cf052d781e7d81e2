"""The agent card at /.well-known/agent-card.json.

wakeful answers A2A as one agent: a message runs the default agent unless its metadata (or
a data part) names an applied agent of the caller's tenant. The card's skills are the
default agent's tools, so a client sees what a plain message can do; the card is public,
so it names no tenant's agents. The interface URL is built from the request, so the card
is right behind whatever host and port the server is reached at.
"""

from __future__ import annotations

from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentProvider,
    AgentSkill,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from a2a.utils.constants import PROTOCOL_VERSION_1_0, TransportProtocol

from graphs.context import builtin_registry
from graphs.spec import AgentSpec, default_agent_spec
from stack.settings import Settings

RPC_PATH = "/a2a"
BEARER = "bearer"
VERSION = "0.1.0"
DESCRIPTION = (
    "Autonomous agents run as durable LangGraph graphs. Send a goal as a text message; a "
    "task runs on a worker until it completes, fails, runs out of budget or is canceled. "
    "A risky tool call puts the task in input-required: reply with a data part "
    '{"action": "approve" | "reject" | "edit", "args": {...}, "comment": "..."} (the approver '
    "role is needed); a text reply rejects the call, with the text as guidance. Name another "
    'agent with message metadata {"agent": "<name>"}; override budgets with '
    '{"budgets": {"max_tokens": 1000}}.'
)


def tool_skills(spec: AgentSpec, settings: Settings) -> list[AgentSkill]:
    registry = builtin_registry(spec, settings)
    toolset = registry.toolset(spec.tools, continuous=False)
    skills = []
    for name in toolset.usable_names():
        tool = registry.get(name).spec
        skills.append(
            AgentSkill(
                id=name,
                name=name.replace("_", " "),
                description=tool.description,
                tags=[tool.scope, f"agent:{spec.name}"],
                input_modes=["text/plain"],
                output_modes=["text/markdown"],
            )
        )
    return skills


def agent_card(base_url: str, settings: Settings) -> AgentCard:
    """The card for a server reached at `base_url` (no trailing slash)."""
    spec = default_agent_spec()
    return AgentCard(
        name="wakeful",
        description=DESCRIPTION,
        version=VERSION,
        provider=AgentProvider(organization="wakeful", url=base_url),
        supported_interfaces=[
            AgentInterface(
                url=base_url + RPC_PATH,
                protocol_binding=TransportProtocol.JSONRPC,
                protocol_version=PROTOCOL_VERSION_1_0,
            )
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=True),
        security_schemes={
            BEARER: SecurityScheme(
                http_auth_security_scheme=HTTPAuthSecurityScheme(
                    scheme="bearer", description="a wakeful API token (tenant and role)"
                )
            )
        },
        security_requirements=[SecurityRequirement(schemes={BEARER: StringList()})],
        default_input_modes=["text/plain", "application/json"],
        default_output_modes=["text/markdown", "application/json"],
        skills=tool_skills(spec, settings),
    )
