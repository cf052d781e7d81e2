"""The HTTP API (REST, SSE, Prometheus) and, mounted beside it, A2A: `create_app(services)`."""
