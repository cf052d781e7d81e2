"""A2A v1.0 (JSON-RPC, through a2a-sdk) over wakeful's tasks: tasks live in our tasks table
and run on our workers; the SDK's task store, executor and request context builder are
implemented over TaskService. `mount_a2a` adds the card and the endpoint to the app."""

from server.a2a.routes import mount_a2a

__all__ = ["mount_a2a"]
