"""MCP tools: servers declared in an agent spec, reached through langchain-mcp-adapters.

- config.py: `McpServerConfig`, the `mcp_servers:` entries of an agent spec.
- connection.py: one live session per server, reopened after a crash, hang or disconnect.
- pinning.py: tool descriptions and schemas pinned by hash in Postgres, approved by people.
- toolbox.py: `McpToolbox`, which starts an agent's servers, discovers their tools and
  builds the agent's Toolset with unapproved tools denied.
- demo_server.py: a small FastMCP server for agents/mcp-demo.yaml.

Naming: the spec and the events call a tool `server.tool`; the model sees `server__tool`
(OpenAI function names allow only [A-Za-z0-9_-]); see `tools.policy.model_tool_name`.
Importing this package loads nothing; import the modules (the MCP SDK is slow to import).
"""
