"""Our task rows as A2A tasks.

An A2A task is read from the tasks table, never kept elsewhere: its id is ours and its
context id is the same id (the table has no conversation of its own). The goal is the first
user message of its history, the output its one artifact, and a pending approval the agent
message of an `input-required` status, as text and as a data part. Agent, stop reason,
budgets and usage travel in the task's metadata.
"""

from __future__ import annotations

import json
from typing import Any

from a2a.helpers.proto_helpers import new_data_part, new_text_part
from a2a.types.a2a_pb2 import (
    Artifact,
    Message,
    Role,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
    TaskStatus,
    TaskStatusUpdateEvent,
)
from google.protobuf import struct_pb2
from google.protobuf.json_format import ParseDict

from server.a2a.replies import how_to_answer
from stack.task_records import TaskRow

STATE_TO_A2A: dict[str, TaskState] = {
    "submitted": TaskState.TASK_STATE_SUBMITTED,
    "working": TaskState.TASK_STATE_WORKING,
    "input-required": TaskState.TASK_STATE_INPUT_REQUIRED,
    "completed": TaskState.TASK_STATE_COMPLETED,
    "failed": TaskState.TASK_STATE_FAILED,
    "canceled": TaskState.TASK_STATE_CANCELED,
    "rejected": TaskState.TASK_STATE_REJECTED,
}
A2A_TO_STATE: dict[int, str] = {value: key for key, value in STATE_TO_A2A.items()}


def output_artifact_id(task_id: str) -> str:
    return f"{task_id}-output"


def to_struct(data: dict[str, Any]) -> struct_pb2.Struct:
    # Through JSON so that datetimes and other non-JSON values become strings.
    return ParseDict(json.loads(json.dumps(data, default=str)), struct_pb2.Struct())


def goal_message(row: TaskRow, message_id: str | None = None) -> Message:
    """The goal as the first user message; with the client's own id when it came over A2A."""
    return Message(
        message_id=message_id or f"{row.id}-goal",
        context_id=row.id,
        task_id=row.id,
        role=Role.ROLE_USER,
        parts=[new_text_part(row.goal)],
    )


def approval_message(row: TaskRow, approval: dict[str, Any]) -> Message:
    text = (
        f"{'Outcome unknown' if approval.get('kind') == 'unknown_outcome' else 'Approval needed'}"
        f": {approval.get('tool')} with arguments "
        f"{json.dumps(approval.get('args') or {}, default=str)}"
        + (f" ({approval['rationale']})" if approval.get("rationale") else "")
        + f". To answer, {how_to_answer(approval)}."
    )
    return Message(
        message_id=f"{row.id}-approval-{approval.get('id') or approval.get('tool_call_id')}",
        context_id=row.id,
        task_id=row.id,
        role=Role.ROLE_AGENT,
        parts=[
            new_text_part(text),
            # top-level names only: the tool's arguments keep their own names
            new_data_part(
                {camel_case(k): v for k, v in json.loads(json.dumps(approval, default=str)).items()}
            ),
        ],
    )


def stopped_message(row: TaskRow) -> Message:
    return Message(
        message_id=f"{row.id}-{row.state}",
        context_id=row.id,
        task_id=row.id,
        role=Role.ROLE_AGENT,
        parts=[new_text_part(f"The task {row.state}: {row.stop_reason or 'no reason recorded'}")],
    )


def task_status(row: TaskRow, approval: dict[str, Any] | None = None) -> TaskStatus:
    status = TaskStatus(state=STATE_TO_A2A[row.state])
    status.timestamp.FromDatetime(row.updated_at)
    if row.state == "input-required" and approval:
        status.message.CopyFrom(approval_message(row, approval))
    elif row.state in ("failed", "canceled", "rejected"):
        status.message.CopyFrom(stopped_message(row))
    return status


def output_artifact(row: TaskRow) -> Artifact | None:
    if not row.output:
        return None
    return Artifact(
        artifact_id=output_artifact_id(row.id),
        name="output",
        description="the agent's final answer",
        parts=[new_text_part(row.output, media_type="text/markdown")],
    )


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def camel_keys(value: Any) -> Any:
    """A2A's JSON names are camelCase, inside metadata too (`stopReason`, `maxTokens`)."""
    if isinstance(value, dict):
        return {camel_case(str(k)): camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def task_metadata(row: TaskRow) -> struct_pb2.Struct:
    return to_struct(
        camel_keys(
            {
                "agent": row.agent,
                "stop_reason": row.stop_reason,
                "budgets": row.budgets,
                "usage": row.usage,
            }
        )
    )


def a2a_task(
    row: TaskRow, approval: dict[str, Any] | None = None, *, goal_id: str | None = None
) -> Task:
    task = Task(
        id=row.id,
        context_id=row.id,
        status=task_status(row, approval),
        history=[goal_message(row, goal_id)],
        metadata=task_metadata(row),
    )
    artifact = output_artifact(row)
    if artifact is not None:
        task.artifacts.append(artifact)
    return task


def status_update(row: TaskRow, approval: dict[str, Any] | None = None) -> TaskStatusUpdateEvent:
    return TaskStatusUpdateEvent(
        task_id=row.id,
        context_id=row.id,
        status=task_status(row, approval),
        metadata=task_metadata(row),
    )


def updates_for(row: TaskRow, approval: dict[str, Any] | None = None) -> list[Any]:
    """The stream events announcing `row`'s state: its output first when it has one."""
    events: list[Any] = []
    artifact = output_artifact(row)
    if artifact is not None and row.terminal:
        events.append(
            TaskArtifactUpdateEvent(
                task_id=row.id, context_id=row.id, artifact=artifact, last_chunk=True
            )
        )
    events.append(status_update(row, approval))
    return events
