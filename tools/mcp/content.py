"""What an MCP tool returned, made fit for the model without losing what matters.

langchain-mcp-adapters turns a CallToolResult into LangChain content blocks, but an
embedded text resource loses its URI, `structuredContent` goes to an artifact that a
plain `ainvoke` drops, audio raises, and images end as "[image content not shown]" in the
text. Before the adapter sees the result (`normalised`, called in the toolbox's
interceptor):

- an embedded text resource becomes text headed by its URI (and MIME type);
- a resource link or a binary resource becomes a line naming its URI, type and size;
- `structuredContent` is added as JSON text unless a text block already says the same;
- an image (or audio) is replaced by a placeholder line, and an image is handed to the
  caller's `collect_images` block, so the tools node can show it to a model that accepts
  images (graphs/tool_content.py). Images over MAX_IMAGE_BYTES stay placeholders only.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from mcp.types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    ContentBlock,
    EmbeddedResource,
    ImageContent,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

MAX_IMAGE_BYTES = 2_000_000
MAX_IMAGES = 4


@dataclass(frozen=True)
class ToolImage:
    """An image a tool returned: base64 data and its MIME type."""

    base64: str
    mime_type: str
    label: str  # the placeholder the text shows for it


_sink: ContextVar[list[ToolImage] | None] = ContextVar("wakeful_tool_images", default=None)


@contextmanager
def collect_images() -> Iterator[list[ToolImage]]:
    """Images returned by MCP tool calls made inside the block end up in the list."""
    images: list[ToolImage] = []
    token = _sink.set(images)
    try:
        yield images
    finally:
        _sink.reset(token)


def normalised(result: CallToolResult) -> CallToolResult:
    """`result` with every block turned into text the model can read (images collected)."""
    blocks = [_block(block) for block in result.content]
    structured = result.structuredContent
    if structured is not None and not _already_said(structured, blocks):
        blocks.append(_text(f"structured content:\n{_json(structured)}"))
    return result.model_copy(update={"content": blocks})


def _block(block: ContentBlock) -> TextContent:
    if isinstance(block, TextContent):
        return block
    if isinstance(block, ImageContent):
        return _text(_image(block.data, block.mimeType))
    if isinstance(block, AudioContent):
        return _text(f"[audio: {block.mimeType}, {_size(block.data)}; not shown]")
    if isinstance(block, ResourceLink):
        kind = f", {block.mimeType}" if block.mimeType else ""
        return _text(f"[resource link: {block.uri} ({block.name}{kind})]")
    if isinstance(block, EmbeddedResource):
        return _resource(block)
    return _text(f"[{getattr(block, 'type', 'unknown')} content not shown]")


def _resource(block: EmbeddedResource) -> TextContent:
    resource = block.resource
    kind = f" ({resource.mimeType})" if resource.mimeType else ""
    if isinstance(resource, TextResourceContents):
        return _text(f"[resource {resource.uri}{kind}]\n{resource.text}")
    assert isinstance(resource, BlobResourceContents)
    if (resource.mimeType or "").startswith("image/"):
        return _text(f"[resource {resource.uri}] {_image(resource.blob, resource.mimeType or '')}")
    return _text(f"[resource {resource.uri}{kind}: {_size(resource.blob)} of binary data]")


def _image(data: str, mime_type: str) -> str:
    """The placeholder for an image; the image itself goes to the collecting block."""
    sink = _sink.get()
    size = _size(data)
    if sink is None or len(sink) >= MAX_IMAGES or _bytes(data) > MAX_IMAGE_BYTES:
        return f"[image: {mime_type}, {size}; not shown]"
    label = f"[image {len(sink) + 1}: {mime_type}, {size}]"
    sink.append(ToolImage(base64=data, mime_type=mime_type, label=label))
    return label


def _already_said(structured: dict[str, Any], blocks: list[TextContent]) -> bool:
    """Servers should also send structured content as JSON text; then it is not repeated.
    FastMCP wraps a plain return value as {"result": value}, next to value as text."""
    said = {block.text for block in blocks}
    wrapped = structured.get("result") if list(structured) == ["result"] else None
    if wrapped is not None and (wrapped in said or _json(wrapped) in said):
        return True
    for block in blocks:
        try:
            if json.loads(block.text) == structured:
                return True
        except ValueError:
            continue
    return False


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _bytes(data: str) -> int:
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return len(data)


def _size(data: str) -> str:
    n = _bytes(data)
    return f"{n} bytes" if n < 10_000 else f"{n // 1000} kB"


def _text(text: str) -> TextContent:
    return TextContent(type="text", text=text)
