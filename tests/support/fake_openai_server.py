"""A tiny OpenAI-compatible chat-completions endpoint on loopback, for wiring tests.

It stands in for a remote model provider (not for one of our stores): `POST
/v1/chat/completions` answers from a queue of canned replies per role and records every
request body it was sent, with the usage it reported back. Like OpenAI, it refuses (400)
a history in which an assistant's tool call has no tool message answering it. Both plain
JSON and streamed (server-sent events) answers are served, whichever the client asks for.

The role is read from the request the way the graph builds it: a structured-output call
forces its single function tool with `tool_choice` ("Plan" = planner, "StepVerdict" =
critic); anything else is the worker.
"""

from __future__ import annotations

import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import SecretStr

from stack.settings import Settings

STRUCTURED_ROLES = {"Plan": "planner", "StepVerdict": "critic"}


@dataclass
class Reply:
    """One canned answer: text and/or tool calls, or the arguments of a forced function.

    Faults a real provider shows: `raw_tool_calls` / a string `structured` send arguments
    as given (broken JSON, say); `usage=False` reports no usage; `empty_choices` answers
    200 with `choices: []`; `status` other than 200 answers with that HTTP error.
    """

    text: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    structured: dict[str, Any] | str | None = None
    prompt_tokens: int = 50
    completion_tokens: int = 10
    raw_tool_calls: list[tuple[str, str]] = field(default_factory=list)
    usage: bool = True
    empty_choices: bool = False
    status: int = 200


@dataclass
class Recorded:
    role: str
    body: dict[str, Any]
    tool_call_ids: list[str]  # ids of the tool calls in the reply
    total_tokens: int  # usage reported to the client


def role_of(body: dict[str, Any]) -> str:
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        name = choice.get("function", {}).get("name")
        return STRUCTURED_ROLES.get(name, f"unknown:{name}")
    return "worker"


def history_problem(messages: list[dict[str, Any]]) -> str | None:
    """What OpenAI says about a history whose tool calls and tool messages do not pair."""
    open_ids: set[str] = set()
    for message in messages:
        if message.get("role") == "tool":
            if message.get("tool_call_id") not in open_ids:
                return (
                    "Invalid parameter: messages with role 'tool' must be a response to a "
                    "preceeding message with 'tool_calls'."
                )
            open_ids.discard(message["tool_call_id"])
            continue
        if open_ids:
            break
        open_ids = {c["id"] for c in message.get("tool_calls") or []}
    if open_ids:
        return (
            "An assistant message with 'tool_calls' must be followed by tool messages "
            "responding to each 'tool_call_id'. The following tool_call_ids did not have "
            f"response messages: {', '.join(sorted(open_ids))}"
        )
    return None


def openai_settings(settings: Settings, base_url: str) -> Settings:
    """`settings` pointed at `base_url`, with no model names from the environment."""
    return settings.model_copy(
        update={
            "openai_api_key": SecretStr("test"),
            "openai_base_url": base_url,
            "model": None,
            "model_planner": None,
            "model_worker": None,
            "model_critic": None,
        }
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeOpenAI:
    """Serve canned replies per role on 127.0.0.1; use as a context manager."""

    def __init__(self, replies: dict[str, list[Reply]]) -> None:
        self.replies = {role: deque(queue) for role, queue in replies.items()}
        self.requests: list[Recorded] = []
        self.port = free_port()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        config = uvicorn.Config(self._app(), host="127.0.0.1", port=self.port, log_level="error")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="fake-openai", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the fake OpenAI server did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def by_role(self, role: str) -> list[Recorded]:
        return [r for r in self.requests if r.role == role]

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions", response_model=None)
        async def completions(request: Request) -> JSONResponse | StreamingResponse:
            body = await request.json()
            role = role_of(body)
            if problem := history_problem(body.get("messages") or []):
                with self._lock:
                    self.requests.append(Recorded(role, body, [], 0))
                return JSONResponse(
                    {"error": {"message": problem, "type": "invalid_request_error"}},
                    status_code=400,
                )
            with self._lock:
                queue = self.replies.get(role)
                if not queue:
                    self.requests.append(Recorded(role, body, [], 0))
                    message = f"fake server: no canned reply left for role {role}"
                    return JSONResponse(
                        {"error": {"message": message, "type": "invalid_request_error"}},
                        status_code=400,
                    )
                reply = queue.popleft()
                if reply.status != 200:
                    self.requests.append(Recorded(role, body, [], 0))
                    message = f"fake server: canned HTTP {reply.status}"
                    return JSONResponse(
                        {"error": {"message": message, "type": "server_error"}},
                        status_code=reply.status,
                    )
                message_out, finish = self._message(reply, body)
                ids = [c["id"] for c in message_out.get("tool_calls", [])]
                usage = {
                    "prompt_tokens": reply.prompt_tokens,
                    "completion_tokens": reply.completion_tokens,
                    "total_tokens": reply.prompt_tokens + reply.completion_tokens,
                }
                reported = usage["total_tokens"] if reply.usage else 0
                self.requests.append(Recorded(role, body, ids, reported))
                completion_id = f"chatcmpl-{next(self._ids)}"
            if body.get("stream"):
                include_usage = reply.usage and bool(
                    (body.get("stream_options") or {}).get("include_usage")
                )
                chunks = _chunks(completion_id, body["model"], message_out, finish, usage)
                lines = (
                    f"data: {json.dumps(c)}\n\n" for c in chunks if include_usage or c["choices"]
                )
                done = iter(["data: [DONE]\n\n"])
                return StreamingResponse(
                    itertools.chain(lines, done), media_type="text/event-stream"
                )
            answer: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [{"index": 0, "message": message_out, "finish_reason": finish}],
            }
            if reply.empty_choices:
                answer["choices"] = []
            if reply.usage:
                answer["usage"] = usage
            return JSONResponse(answer)

        return app

    def _message(self, reply: Reply, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        calls = [(name, json.dumps(args)) for name, args in reply.tool_calls]
        calls += reply.raw_tool_calls
        if reply.structured is not None:
            raw = reply.structured
            arguments = raw if isinstance(raw, str) else json.dumps(raw)
            calls.append((body["tool_choice"]["function"]["name"], arguments))
        message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
        if not calls:
            return message, "stop"
        message["tool_calls"] = [
            {
                "id": f"call_fake_{next(self._ids)}",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            for name, arguments in calls
        ]
        return message, "tool_calls"


def _chunks(
    completion_id: str,
    model: str,
    message: dict[str, Any],
    finish: str,
    usage: dict[str, int],
) -> Iterator[dict[str, Any]]:
    """The streamed form of one answer: role, content, tool calls, finish, then usage."""

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": choices,
            **extra,
        }

    delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
    yield chunk([{"index": 0, "delta": delta, "finish_reason": None}])
    for index, call in enumerate(message.get("tool_calls", [])):
        tool_delta = {"index": index, **call}
        yield chunk([{"index": 0, "delta": {"tool_calls": [tool_delta]}, "finish_reason": None}])
    yield chunk([{"index": 0, "delta": {}, "finish_reason": finish}])
    yield chunk([], usage=usage)
