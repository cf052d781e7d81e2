"""Another wakeful process for the stack tests: uses one embedded service and says what it saw.

    python stack_child.py pg|graph|qdrant DATA_DIR hold|exit

Prints one JSON line. With `hold` it then keeps its handle until stdin closes (or it is
killed); with `exit` it exits normally at once.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from stack.settings import Settings

# Each service's modules are imported only when that service is used: the child starts
# faster (qdrant-client alone takes about a second to import).


def embedded(data_dir: str, **extra: Any) -> Settings:
    """Embedded services only, whatever the environment says."""
    return Settings(data_dir=Path(data_dir), database_url=None, qdrant_url=None,
                    neo4j_uri=None, **extra)  # fmt: skip


def postmaster_pid(url: str) -> int:
    """The postmaster's pid as the server itself reports it."""
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT split_part(pg_read_file('postmaster.pid'), E'\\n', 1)")
        return int(row.fetchone()[0])  # type: ignore[index]


def use_postgres(data_dir: str) -> dict[str, Any]:
    from stack.postgres import ensure_postgres

    url = ensure_postgres(embedded(data_dir))
    return {"postmaster_pid": postmaster_pid(url)}


def use_graph(data_dir: str) -> dict[str, Any]:
    from stack.graphdb import embedded_server_pid, ensure_graphdb

    settings = embedded(data_dir)
    endpoint = ensure_graphdb(settings)
    driver = endpoint.driver()
    try:
        driver.execute_query(
            "CREATE (:Mark {by: $by})", by=f"child-{os.getpid()}", database_=endpoint.database
        )
        marks = driver.execute_query(
            "MATCH (m:Mark) RETURN m.by AS by ORDER BY by", database_=endpoint.database
        ).records
    finally:
        endpoint.close_driver(driver)
    return {"uri": endpoint.uri, "server_pid": embedded_server_pid(settings),
            "marks": [r["by"] for r in marks]}  # fmt: skip


def use_qdrant(data_dir: str) -> dict[str, Any]:
    from stack.errors import ServiceUnavailable
    from stack.qdrant import open_qdrant

    try:
        client = open_qdrant(embedded(data_dir, service_start_timeout_s=1.0))
    except ServiceUnavailable as exc:
        return {"error": str(exc)}
    return {"points": client.count("episodes").count}


def main() -> None:
    service, data_dir, mode = sys.argv[1:4]
    use = {"pg": use_postgres, "graph": use_graph, "qdrant": use_qdrant}[service]
    print(json.dumps({"pid": os.getpid(), **use(data_dir)}), flush=True)
    if mode == "hold":
        sys.stdin.read()


if __name__ == "__main__":
    main()
