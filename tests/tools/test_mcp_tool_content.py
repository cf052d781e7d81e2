"""What MCP tools return reaches the model whole: images as image content for a model that
reads images (placeholders otherwise), embedded text resources with their URI, structured
content; and an HTTP server dying mid-call is noticed at once, not at the call's timeout."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from langchain_core.messages import ToolMessage
from langchain_openai import ChatOpenAI
from langchain_openai.chat_models.base import _convert_message_to_dict

from graphs.scripted_model import ScriptedChatModel
from graphs.tool_content import TEXT_ONLY_NOTE, accepts_images, with_images
from tools.mcp.config import McpServerConfig
from tools.mcp.content import collect_images
from tools.mcp.toolbox import McpToolbox
from tools.policy import ToolPolicyConfig

pytestmark = pytest.mark.slow
ALL = ToolPolicyConfig(allow=["*"])
CONTENT_SERVER = Path(__file__).with_name("mcp_servers") / "content_server.py"


@pytest.fixture
async def content_toolset(builtins):
    config = McpServerConfig(
        name="c", transport="stdio", command=sys.executable,
        args=[str(CONTENT_SERVER), "stdio"], timeout_s=20,
    )  # fmt: skip
    async with await McpToolbox.open([config], pins=None) as toolbox:
        yield toolbox.toolset(builtins, ALL, continuous=False)


async def test_images_are_collected_with_a_placeholder(content_toolset, call) -> None:
    with collect_images() as images:
        outcome = await call(content_toolset, "c__picture")
    assert outcome.status == "ok"
    assert outcome.content == "Here is the chart.\n[image 1: image/png, 71 bytes]"
    [image] = images
    assert image.mime_type == "image/png" and image.base64.startswith("iVBORw0KGgo")


async def test_embedded_text_keeps_its_uri_and_structured_content_is_kept(
    content_toolset, call
) -> None:
    document = await call(content_toolset, "c__document")
    assert document.content == (
        "The runbook:\n[resource file:///docs/runbook.md (text/markdown)]\n# Runbook\nRestart it."
    )
    measured = await call(content_toolset, "c__measure")
    assert measured.content == 'Measured.\nstructured content:\n{"p95_ms": 412, "errors": 3}'


async def test_an_image_reading_model_gets_image_content(content_toolset, call) -> None:
    with collect_images() as images:
        outcome = await call(content_toolset, "c__picture")
    vision = ChatOpenAI(model="gpt-4o", api_key="sk-test-not-used")  # never called
    assert accepts_images(vision)
    message, shown = with_images(outcome.to_message(), images, vision)
    assert shown is not None and message.content == outcome.to_message().content
    # What langchain-openai would send: a user message with a data-URL image part.
    parts = _convert_message_to_dict(shown)["content"]
    [url] = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert url == f"data:image/png;base64,{images[0].base64}"
    assert any("c.picture" in p.get("text", "") for p in parts if p["type"] == "text")


def test_a_text_only_model_gets_the_placeholder_and_a_note() -> None:
    from tools.mcp.content import ToolImage

    scripted = ScriptedChatModel(role="worker")
    assert not accepts_images(scripted)
    image = ToolImage(base64="iVBORw0KGgo=", mime_type="image/png", label="[image 1: image/png]")
    message = ToolMessage(content="chart\n[image 1: image/png]", tool_call_id="x", name="c__p")
    plain, shown = with_images(message, [image], scripted)
    assert shown is None and plain.content == f"chart\n[image 1: image/png]{TEXT_ONLY_NOTE}"


async def test_an_http_server_dying_mid_call_is_noticed_at_once(
    http_server, builtins, call, counter
) -> None:
    config = http_server.config(timeout_s=120, scopes={"echo": "read"})
    async with await McpToolbox.open([config], pins=None) as toolbox:
        toolset = toolbox.toolset(builtins, ALL, continuous=False)
        started = time.monotonic()
        crashed = await call(toolset, "web__crash")
        took = time.monotonic() - started
        assert http_server.wait_exit() != 0
        http_server.start()
        back = await call(toolset, "web__echo", {"text": "back"})

    assert crashed.status == "unknown_outcome" and crashed.unknown_reason == "connection_lost"
    assert "was lost during the call" in crashed.content
    assert took < 30, f"noticed only after {took:.1f}s"  # the call's timeout is 120 s
    assert counter("crash-calls") == 1
    assert (back.status, back.content) == ("ok", "echo: back")
