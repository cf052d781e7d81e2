"""An MCP stdio server that fails to start its first N times (a transient start failure).

    python flaky_start.py COUNTER_FILE FAILURES

Each start adds one to COUNTER_FILE; while it holds no more than FAILURES, the process exits
at once with an error; afterwards it becomes the MCP test server (tests/tools/mcp_servers).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SERVER = Path(__file__).resolve().parents[1] / "tools" / "mcp_servers" / "test_server.py"

counter, failures = Path(sys.argv[1]), int(sys.argv[2])
starts = int(counter.read_text() or 0) + 1 if counter.exists() else 1
counter.write_text(str(starts))
if starts <= failures:
    sys.stderr.write(f"start {starts}: not ready yet\n")
    sys.exit(1)
os.execv(sys.executable, [sys.executable, str(SERVER), "stdio"])
