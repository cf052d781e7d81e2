"""The agent graph's nodes, one per file."""
