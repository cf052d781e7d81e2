"""schemathesis over the served OpenAPI document: a few generated requests per operation
(valid and invalid ones), with no server error, no response outside its documented schema,
status code or content type. JSON-RPC (/a2a) is left to the A2A TCK (tests/a2a_tck), and
the event stream (an endless SSE response) to the SSE tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CHECKS = (
    "not_a_server_error,response_schema_conformance,content_type_conformance,"
    "status_code_conformance"
)
EXCLUDED = r"^/(a2a|mcp|console|docs)|/events$"
EXAMPLES_PER_OPERATION = 3


def test_the_openapi_document_holds_for_generated_requests(api, tmp_path):
    token = api.tokens["local/installation-admin"]
    command = [
        str(Path(sys.executable).with_name("st")), "run", f"{api.base_url}/openapi.json",
        "-H", f"Authorization: Bearer {token}", "-c", CHECKS,
        "-n", str(EXAMPLES_PER_OPERATION), "--phases", "examples,fuzzing",
        "--generation-deterministic", "--exclude-path-regex", EXCLUDED,
        "--request-timeout", "20", "--report-dir", str(tmp_path),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert " passed" in output and "failed" not in output.split("SUMMARY")[-1], output[-3000:]
