"""An MCP server for the tool-content tests (FastMCP): an image, an embedded text resource,
and structured content.

    python content_server.py stdio
    python content_server.py http PORT
"""

from __future__ import annotations

import sys

from mcp.server.fastmcp import FastMCP, Image
from mcp.types import CallToolResult, EmbeddedResource, TextContent, TextResourceContents

# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cfc0f01f0005000201ffa3c5b5f40000000049454e44ae426082"
)


def build(port: int = 8000) -> FastMCP:
    server = FastMCP("wakeful-content", port=port, log_level="WARNING")

    @server.tool(description="Return a tiny picture.")
    def picture() -> list:
        return ["Here is the chart.", Image(data=PNG, format="png")]

    @server.tool(description="Return a document as an embedded resource.")
    def document() -> list:
        resource = TextResourceContents(
            uri="file:///docs/runbook.md", mimeType="text/markdown", text="# Runbook\nRestart it."
        )
        return [
            TextContent(type="text", text="The runbook:"),
            EmbeddedResource(type="resource", resource=resource),
        ]

    @server.tool(description="Measure something; the numbers come as structured content.")
    def measure() -> CallToolResult:
        return CallToolResult(
            content=[TextContent(type="text", text="Measured.")],
            structuredContent={"p95_ms": 412, "errors": 3},
        )

    return server


if __name__ == "__main__":
    if sys.argv[1] == "http":
        build(int(sys.argv[2])).run("streamable-http")
    else:
        build().run("stdio")
