"""Child process for crash tests: runs one write_report call through the ledger.

    python tests/tools/crash_child.py DATABASE_URL DATA_DIR TASK_ID CALL_ID

With WAKEFUL_CRASH_DURING_TOOL / WAKEFUL_CRASH_AFTER_TOOL set to write_report it is
killed by SIGKILL at that point; otherwise it prints the outcome as JSON.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from psycopg_pool import AsyncConnectionPool

from tools.builtins import build_builtin_registry
from tools.execution import execute_tool_call
from tools.ledger import ToolLedger
from tools.policy import ToolPolicyConfig

CALL_ARGS = {"title": "Crash test", "body": "written once"}


async def main(url: str, data_dir: str, task_id: str, call_id: str) -> None:
    registry = build_builtin_registry(Path(data_dir))
    toolset = registry.toolset(ToolPolicyConfig(allow=["write_report"]), continuous=False)
    async with AsyncConnectionPool(url, kwargs={"autocommit": True}, open=False) as pool:
        outcome = await execute_tool_call(
            {"name": "write_report", "args": CALL_ARGS, "id": call_id},
            toolset,
            task_id=task_id,
            ledger=ToolLedger(pool),
        )
    print(outcome.model_dump_json())


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
