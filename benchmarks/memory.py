"""Memory benchmark: L3 write/query, L4 2-hop, embedding throughput. JSON on stdout.

    .venv/bin/python benchmarks/memory.py [--sizes 1000 10000] [--samples 200]

Runs on the real stores the way wakeful does by default: Qdrant local mode and embedded
FalkorDB over Bolt (Neo4j if NEO4J_URI is set), in a temporary data dir. Texts are
synthetic agent episodes and facts (services, hosts, incidents), all distinct; templated
episodes are often near-duplicates, so some measured writes are merges (write_outcomes).
The machine's load average is recorded: other processes share these cores.

What each number measures:
- l3.<n>.write_ms: EpisodicMemory.write into an agent's collection of n episodes, text
  embedding already cached, so it is the store path: id lookup, near-duplicate query,
  upsert.
- l3.<n>.query_ms: EpisodicMemory.search (formula query over a prefetch + access bump),
  query embedding cached; query_without_access_bump_ms is the same with touch=False;
  query_with_embedding_ms adds embedding an unseen query.
- l3.<n>.numpy_baseline_ms: brute-force cosine top-k with numpy over the same vectors.
- l4.<n>.two_hop_ms: KnowledgeGraph.neighbourhood(hops=2, default limit 100) from random
  services in a graph of n facts (status values are shared entities, so hubs exist, as in
  real graphs); two_hop_dependencies_only_ms filters to depends_on/calls/runs_on. The
  *_with_tcp_quickack variants (FalkorDB only) repeat them with TCP_QUICKACK set on the
  driver's sockets: a diagnostic for a proposed stack fix, not the default path
  (FalkorDB's Bolt replies over ~4 KB otherwise wait ~40 ms for a delayed ACK).
- embeddings.sentences_per_s: batched encoding of unseen sentences.
Targets (reported, not enforced): L3 query p99 <= 50 ms at 10k, L4 2-hop p99 <= 20 ms at
10k facts, embeddings >= 400 sentences/s.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Run as a script, this file's directory comes first on sys.path, and `import memory`
# would import this very file (benchmarks/memory.py). Put the repository root first.
_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(_ROOT)] + [
    p for p in sys.path if Path(p or ".").resolve() != _ROOT / "benchmarks"
]

import numpy as np  # noqa: E402
from qdrant_client import QdrantClient, models  # noqa: E402

from memory.embeddings import Embedder, shared_embedder  # noqa: E402
from memory.episode import Episode, NewEpisode, content_hash  # noqa: E402
from memory.episodic import EpisodicConfig, EpisodicMemory, episode_point_id  # noqa: E402
from memory.facts import EntityRef, FactInput  # noqa: E402
from memory.knowledge_graph import KnowledgeGraph  # noqa: E402
from stack.graphdb import ensure_graphdb, release_graphdb  # noqa: E402
from stack.settings import load_settings  # noqa: E402

TENANT, AGENT = "bench", "agent-0"
TARGETS = {
    "l3_query_p99_ms_at_10k": 50.0,
    "l4_two_hop_p99_ms_at_10k": 20.0,
    "embeddings_sentences_per_s": 400.0,
}


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    values = np.asarray(samples_ms)
    return {
        "p50": round(float(np.percentile(values, 50)), 3),
        "p99": round(float(np.percentile(values, 99)), 3),
        "n": len(samples_ms),
    }


def embed_chunked(embedder: Embedder, texts: list[str], chunk: int = 1024) -> np.ndarray:
    """Embedder.embed in chunks: one call with more texts than its cache holds (4096)
    raises KeyError (reported to the lead)."""
    parts = [embedder.embed(texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, embedder.dim), np.float32)


def timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


# -- synthetic texts ---------------------------------------------------------------------

SERVICES = [
    "billing",
    "payments",
    "search",
    "auth",
    "ledger",
    "notifier",
    "ingest",
    "export",
    "reports",
    "catalog",
    "checkout",
    "pricing",
    "inventory",
    "gateway",
    "scheduler",
]
KINDS = ["api", "worker", "cron", "proxy", "db", "cache", "queue"]
EVENTS = [
    "restarted {svc} on {host} after an OOM kill at {n} MB resident memory",
    "deploy of {svc} version 1.{n}.{m} failed: migration {m} timed out after {n} seconds",
    "{svc} p99 latency rose to {n} ms while {host} swapped heavily",
    "health check of {svc} on {host} turned green after {n} seconds of warm-up",
    "disk usage on {host} reached {m} percent on /var; rotated {n} log files of {svc}",
    "{svc} lost its connection to {dep} {n} times in the last hour; retries succeeded",
    "rolled back {svc} to 1.{m}.{n} after error rate hit {m} percent",
    "certificate for {svc} expires in {m} days; renewal ticket {n} opened",
    "scaled {svc} from {m} to {n} replicas because queue depth passed {n}00",
    "tool http_get on {svc}/status returned {code} in {n} ms",
    "user asked why {svc} invoices were late; traced it to {dep} lag of {n} seconds",
    "{dep} failover moved {svc} traffic to {host} at iteration {n}",
]


def service_name(rng: random.Random) -> str:
    return f"{rng.choice(SERVICES)}-{rng.choice(KINDS)}-{rng.randint(1, 40)}"


def episode_texts(count: int, seed: int) -> list[str]:
    rng, texts, seen = random.Random(seed), [], set()
    while len(texts) < count:
        text = rng.choice(EVENTS).format(
            svc=service_name(rng),
            dep=service_name(rng),
            host=f"host-{rng.randint(1, 300)}",
            n=rng.randint(2, 9999),
            m=rng.randint(2, 99),
            code=rng.choice([200, 500, 502, 503]),
        )
        text = f"Iteration {rng.randint(1, 50000)}: {text}."
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


QUERIES = [
    "why did the {svc} deploy fail?",
    "memory problems on {host}",
    "which services depend on {dep}?",
    "latency spikes of {svc}",
    "certificate renewals pending",
    "rollbacks after error spikes of {svc}",
]


def query_texts(count: int, seed: int) -> list[str]:
    rng, queries = random.Random(seed), []
    for i in range(count):
        template = rng.choice(QUERIES)
        host = f"host-{rng.randint(1, 300)}"
        text = template.format(svc=service_name(rng), dep=service_name(rng), host=host)
        queries.append(f"{text} ({i})")
    return queries


# -- embeddings ------------------------------------------------------------------------


def bench_embeddings(embedder: Embedder, count: int) -> dict[str, Any]:
    texts = episode_texts(count, seed=99)
    embedder.embed(episode_texts(64, seed=98))  # warm-up (threads, allocator)
    start = time.perf_counter()
    embedder.embed(texts)
    elapsed = time.perf_counter() - start
    single = [timed(lambda t=t: embedder.embed([t])) for t in query_texts(50, seed=97)]
    return {
        "sentences": count,
        "backend": embedder.backend,  # onnx when setup exported it (benchmarks/embeddings.py)
        "sentences_per_s": round(count / elapsed, 1),
        "single_sentence_ms": percentiles(single),
        "torch_threads": _torch_threads(),
    }


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


# -- L3 --------------------------------------------------------------------------------


def populate_l3(
    client: QdrantClient, collection: str, texts: list[str], vectors: np.ndarray, start: datetime
) -> None:
    """Bulk-load episodes with the payload EpisodicMemory writes (bypassing dedup)."""
    points = []
    for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
        created = start + timedelta(minutes=i)
        sha = content_hash(text)
        episode = Episode(
            id=episode_point_id(TENANT, AGENT, sha),
            tenant=TENANT,
            agent=AGENT,
            kind="tool_result",
            text=text,
            sha256=sha,
            created_at=created,
            last_accessed_at=created,
            importance=1 + i % 10,
        )
        points.append(
            models.PointStruct(id=episode.id, vector=vector.tolist(), payload=episode.to_payload())
        )
    for chunk in range(0, len(points), 512):
        client.upsert(collection, points[chunk : chunk + 512])


def bench_l3(embedder: Embedder, sizes: list[int], samples: int, data_dir: Path) -> dict:
    client = QdrantClient(path=str(data_dir / "qdrant"))
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    now = [epoch]
    store = EpisodicMemory(
        client,
        embedder=embedder,
        clock=lambda: now[0],
        config=EpisodicConfig(collection_prefix="bench-episodes"),
    )
    collection = store.ensure_collection(TENANT, AGENT)
    pool = episode_texts(max(sizes), seed=1)
    taken = set(pool)
    fresh = [t for t in episode_texts(samples * len(sizes) * 2, seed=2) if t not in taken]
    progress(f"L3: embedding {len(pool) + len(fresh)} episode texts")
    pool_vectors = embed_chunked(embedder, pool)
    results, loaded = {}, 0
    for stage, size in enumerate(sizes):
        progress(f"L3: loading to {size} episodes")
        populate_l3(
            client,
            collection,
            pool[loaded:size],
            pool_vectors[loaded:size],
            epoch + timedelta(minutes=loaded),
        )
        loaded = size
        now[0] = epoch + timedelta(minutes=size)
        queries = query_texts(samples, seed=size)
        query_vectors = embedder.embed(queries)  # cached: the store path is measured
        progress(f"L3 @ {size}: {samples} queries")
        query_ms = [timed(lambda q=q: store.search(TENANT, AGENT, q, limit=5)) for q in queries]
        no_touch_ms = [
            timed(lambda q=q: store.search(TENANT, AGENT, q, limit=5, touch=False)) for q in queries
        ]
        unseen = query_texts(samples // 2, seed=size + 1)
        query_embed_ms = [
            timed(lambda q=q: store.search(TENANT, AGENT, q, limit=5)) for q in unseen
        ]
        matrix = pool_vectors[:size]
        numpy_ms = [timed(lambda v=v, m=matrix: _numpy_topk(m, v, 5)) for v in query_vectors]
        progress(f"L3 @ {size}: {samples} writes")
        write_ms, outcomes, created = [], {}, []
        stage_texts = fresh[stage * samples : (stage + 1) * samples]
        embedder.embed(stage_texts)  # cached: the store path is measured
        for text in stage_texts:
            episode = NewEpisode(tenant=TENANT, agent=AGENT, text=text, kind="tool_result")
            start = time.perf_counter()
            result = store.write(episode)
            write_ms.append((time.perf_counter() - start) * 1000)
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
            if result.outcome == "created":
                created.append(result.episode_id)
        results[str(size)] = {
            "episodes": client.count(collection).count - len(created),
            "write_ms": percentiles(write_ms),
            "write_outcomes": outcomes,
            "query_ms": percentiles(query_ms),
            "query_without_access_bump_ms": percentiles(no_touch_ms),
            "query_with_embedding_ms": percentiles(query_embed_ms),
            "numpy_baseline_ms": percentiles(numpy_ms),
        }
        # Back to exactly `size` episodes before the next stage loads more.
        client.delete(collection, models.PointIdsList(points=created))
    client.close()
    return results


def _numpy_topk(matrix: np.ndarray, vector: np.ndarray, k: int) -> np.ndarray:
    scores = matrix @ vector
    top = np.argpartition(-scores, k)[:k]
    return top[np.argsort(-scores[top])]


# -- L4 --------------------------------------------------------------------------------

DEPENDENCIES = ["depends_on", "calls", "runs_on"]
PREDICATES = [
    "depends_on",
    "depends_on",
    "depends_on",
    "calls",
    "runs_on",
    "owned_by",
    "stores_data_in",
    "status",
]


def synthetic_facts(count: int, seed: int) -> list[FactInput]:
    """A service graph: ~count/4 services with dependencies, hosts, owners, stores, status."""
    rng = random.Random(seed)
    services = [f"svc-{i}" for i in range(max(count // 4, 10))]
    hosts = [f"host-{i}" for i in range(max(count // 20, 5))]
    teams = [f"team-{i}" for i in range(max(count // 200, 3))]
    stores = [f"db-{i}" for i in range(max(count // 50, 3))]
    facts = []
    for i in range(count):
        svc = EntityRef(name=rng.choice(services), type="service")
        predicate = rng.choice(PREDICATES)
        target = {
            "depends_on": lambda: EntityRef(name=rng.choice(services), type="service"),
            "calls": lambda: EntityRef(name=rng.choice(services), type="service"),
            "runs_on": lambda: EntityRef(name=rng.choice(hosts), type="host"),
            "owned_by": lambda: EntityRef(name=rng.choice(teams), type="team"),
            "stores_data_in": lambda: EntityRef(name=rng.choice(stores), type="database"),
            "status": lambda: EntityRef(
                name=rng.choice(["healthy", "degraded", "failing"]), type="status"
            ),
        }[predicate]()
        facts.append(
            FactInput(
                subject=svc,
                predicate=predicate,
                object=target,
                fact=f"{svc.name} {predicate.replace('_', ' ')} {target.name} (observation {i})",
                exclusive=predicate == "status",
                episodes=[str(uuid.UUID(int=i))],
            )
        )
    return facts


def bench_l4(embedder: Embedder, sizes: list[int], samples: int, data_dir: Path) -> dict:
    settings = load_settings(data_dir=data_dir)
    endpoint = ensure_graphdb(settings)
    driver = endpoint.driver()
    try:
        graph = KnowledgeGraph(
            driver, database=endpoint.database, dialect=endpoint.dialect, embedder=embedder
        )
        results, loaded = {}, 0
        tenant = f"bench-{uuid.uuid4().hex[:8]}"
        all_facts = synthetic_facts(max(sizes), seed=7)
        names = sorted({f.subject.name for f in all_facts} | {f.object.name for f in all_facts})
        progress(f"L4: embedding {len(names)} entity names")
        embed_chunked(embedder, names)
        for size in sizes:
            progress(f"L4: loading to {size} facts ({endpoint.dialect})")
            upsert_ms = []
            for chunk in range(loaded, size, 50):
                batch = all_facts[chunk : min(chunk + 50, size)]
                upsert_ms.append(
                    timed(lambda b=batch: graph.upsert_facts(tenant, AGENT, b)) / len(batch)
                )
            loaded = size
            rng = random.Random(size)
            starts = [f"svc-{rng.randrange(max(size // 4, 10))}" for _ in range(samples)]
            sizes_seen = []

            def two_hop(name: str, seen: list[int] = sizes_seen) -> None:
                seen.append(len(graph.neighbourhood(tenant, AGENT, name, hops=2).facts))

            def two_hop_deps(name: str) -> None:
                graph.neighbourhood(tenant, AGENT, name, hops=2, predicates=DEPENDENCIES)

            progress(f"L4 @ {size}: {samples} two-hop queries")
            two_hop_ms = [timed(lambda n=n: two_hop(n)) for n in starts]
            deps_ms = [timed(lambda n=n: two_hop_deps(n)) for n in starts]
            about_ms = [timed(lambda n=n: graph.facts_about(tenant, AGENT, n)) for n in starts]
            results[str(size)] = {
                "facts": size,
                "two_hop_ms": percentiles(two_hop_ms),
                "two_hop_facts_returned_mean": round(float(np.mean(sizes_seen)), 1),
                "two_hop_dependencies_only_ms": percentiles(deps_ms),
                "facts_about_ms": percentiles(about_ms),
                "upsert_ms_per_fact_mean": round(float(np.mean(upsert_ms)), 3),
            }
            if endpoint.dialect == "falkordb":
                tcp_quickack(True)
                try:
                    quick = [timed(lambda n=n: two_hop(n)) for n in starts]
                    quick_deps = [timed(lambda n=n: two_hop_deps(n)) for n in starts]
                finally:
                    tcp_quickack(False)
                results[str(size)]["two_hop_ms_with_tcp_quickack"] = percentiles(quick)
                results[str(size)]["two_hop_dependencies_only_ms_with_tcp_quickack"] = percentiles(
                    quick_deps
                )
        return {"dialect": endpoint.dialect, **results}
    finally:
        endpoint.close_driver(driver)
        release_graphdb(settings)


# -- diagnostics -----------------------------------------------------------------------


def tcp_quickack(enabled: bool) -> None:
    """Set (or stop setting) TCP_QUICKACK after every Bolt socket read.

    Diagnostic only: FalkorDB writes Bolt replies in ~4 KB pieces without TCP_NODELAY, so
    the second piece waits for the client's delayed ACK (~40 ms on Linux). This patches a
    neo4j driver internal and is not how wakeful runs.
    """
    import socket

    from neo4j._async_compat.network import _bolt_socket

    base = _bolt_socket.BoltSocketBase
    original = getattr(base, "_wakeful_original_recv_into", None)
    if original is None:
        original = base.recv_into
        base._wakeful_original_recv_into = original  # type: ignore[attr-defined]
    if not enabled:
        base.recv_into = original
        return

    def recv_into(self: Any, buffer: Any, nbytes: int) -> int:
        received = original(self, buffer, nbytes)
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        return received

    base.recv_into = recv_into


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# -- recall node -----------------------------------------------------------------------


def bench_recall_node(samples: int, episodes: int = 1000, facts: int = 200) -> dict[str, Any]:
    """Latency of the graph's recall step (L2 summary from the Postgres store, L3 search,
    L4 entity search + facts) over an agent with `episodes` episodes and `facts` facts,
    on the embedded stack (or DATABASE_URL / QDRANT_URL / NEO4J_URI when set)."""
    import asyncio

    from graphs.agent_memory import AgentMemory
    from graphs.engine import Engine
    from graphs.events import LogChannel
    from graphs.spec import MemoryConfig
    from memory.episode import NewEpisode
    from memory.facts import EntityRef, FactInput
    from stack.settings import load_settings

    class _Deps:  # what recall reads from the run's dependencies
        channel = LogChannel("bench")
        task_id = "bench"

    async def run(data_dir: Path) -> dict[str, Any]:
        settings = load_settings(WAKEFUL_DATA_DIR=str(data_dir))
        engine = await Engine.open(settings)
        try:
            stores = await engine.memory()
            assert stores.episodic is not None and stores.knowledge is not None, stores.problems
            tenant, agent = "bench", f"recall-{uuid.uuid4().hex[:6]}"
            progress(f"recall node: writing {episodes} episodes and {facts} facts")
            stores.episodic.write_many(
                [
                    NewEpisode(
                        tenant=tenant,
                        agent=agent,
                        text=f"service svc-{i % 97} on host "
                        f"web-{i % 31} answered slowly at check {i}",
                        importance=1 + i % 10,
                    )
                    for i in range(episodes)
                ]
            )
            stores.knowledge.upsert_facts(
                tenant,
                agent,
                [
                    FactInput(
                        subject=EntityRef(name=f"svc-{i}", type="service"),
                        predicate="runs_on",
                        object=EntityRef(name=f"web-{i % 31}", type="host"),
                        fact=f"svc-{i} runs on web-{i % 31}",
                    )
                    for i in range(facts)
                ],
            )
            memory = AgentMemory(stores, tenant=tenant, agent=agent, config=MemoryConfig())
            await memory.save_summary("Earlier: web-3 was slow twice last week.")
            timings: list[float] = []
            for i in range(samples + 5):
                state = {"goal": f"Why is svc-{i % 97} on web-{i % 31} slow?", "summary": ""}
                started = time.perf_counter()
                await memory.recall(state, _Deps())  # type: ignore[arg-type]
                if i >= 5:  # the first calls warm caches
                    timings.append((time.perf_counter() - started) * 1000)
            await stores.drain()
            return {"episodes": episodes, "facts": facts, "recall_ms": percentiles(timings)}
        finally:
            await engine.close()

    with tempfile.TemporaryDirectory(prefix="wakeful-bench-recall-") as tmp:
        return asyncio.run(run(Path(tmp)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--embed-sentences", type=int, default=1024)
    args = parser.parse_args()
    progress("loading the embedding model")
    embedder = shared_embedder()
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_average_at_start": load_average()},
        "targets": TARGETS,
    }
    with tempfile.TemporaryDirectory(prefix="wakeful-bench-") as tmp:
        progress("embedding throughput")
        report["embeddings"] = bench_embeddings(embedder, args.embed_sentences)
        report["l3"] = bench_l3(embedder, args.sizes, args.samples, Path(tmp))
        report["l4"] = bench_l4(embedder, args.sizes, args.samples, Path(tmp))
    progress("recall node")
    report["recall_node"] = bench_recall_node(min(args.samples, 100))
    report["machine"]["load_average_at_end"] = load_average()
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
