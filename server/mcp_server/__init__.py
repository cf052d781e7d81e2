"""wakeful's agents as MCP tools over streamable HTTP at /mcp (as LangGraph's server offers
its assistants): each of the caller's tenant's agents is a tool, a call becomes a task, and
an approval the task waits for is asked of the user through MCP elicitation when the client
supports it. `McpEndpoint(services).mount(app)` adds the endpoint; its `run()` spans the
app's lifespan."""

from server.mcp_server.endpoint import McpEndpoint

__all__ = ["McpEndpoint"]
