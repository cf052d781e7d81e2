-- Pins of MCP tool descriptions and input schemas (tools/mcp/pinning.py): one row per
-- (server, tool, digest) ever discovered. A digest may be used once a person (or, with
-- `pin: auto`, the first discovery of the tool) approved it; any other digest of the same
-- tool is a changed tool and is denied until approved.
CREATE TABLE IF NOT EXISTS tool_pins (
    server        text        NOT NULL,
    tool          text        NOT NULL,
    digest        text        NOT NULL,
    description   text        NOT NULL,
    input_schema  jsonb       NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    approved_by   text,
    approved_at   timestamptz,
    PRIMARY KEY (server, tool, digest),
    CHECK ((approved_by IS NULL) = (approved_at IS NULL))
);
