"""Tools: specs, permission policy, registry, built-ins, and safe execution with a ledger."""

from tools.execution import execute_tool_call
from tools.ledger import ToolLedger
from tools.outcome import ToolOutcome
from tools.policy import PolicyDecision, ToolPolicyConfig
from tools.registry import ToolRegistry, Toolset
from tools.retry import RetryableToolError
from tools.spec import Policy, RegisteredTool, Scope, ToolSpec

__all__ = [
    "Policy",
    "PolicyDecision",
    "RegisteredTool",
    "RetryableToolError",
    "Scope",
    "ToolLedger",
    "ToolOutcome",
    "ToolPolicyConfig",
    "ToolRegistry",
    "ToolSpec",
    "Toolset",
    "execute_tool_call",
]
