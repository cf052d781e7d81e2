"""/console/memory: an agent's L2 summary, L3 episodes (searchable, with their scores),
L4 facts with their history and a small graph; forgetting one episode or fact (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Query, Request, Response

from server.api.deps import ServicesDep
from server.api.schemas.tasks import AGENT_NAME
from server.console.memory_view import GRAPH_SIZE, forget, memory_view
from server.console.pages import render
from server.console.routes.common import back_to, console_router
from server.console.session import PostingUserDep, UserDep

router = console_router()
IdField = Annotated[str | None, Form(max_length=128)]


@router.get("/memory")
async def memory(
    request: Request, user: UserDep, services: ServicesDep,
    agent: Annotated[str | None, Query(max_length=63)] = None,  # "" from the form: any
    q: Annotated[str | None, Query(max_length=500)] = None,
    history: bool = False,
    notice: str | None = None,
) -> Response:
    agents = [a.name for a in await services.agents.list(user.tenant)]
    chosen = agent or (agents[0] if agents else None)
    view = None
    if chosen:
        view = await memory_view(services, user.tenant, chosen, query=(q or "").strip() or None,
                                 history=history)
    return render(request, "memory.html", user, agents=agents, agent=chosen, view=view,
                  q=q or "", history=history, notice=notice, size=GRAPH_SIZE)


@router.post("/memory/{agent}/forget")
async def forget_one(
    agent: Annotated[str, Path(pattern=AGENT_NAME)], user: PostingUserDep, services: ServicesDep,
    episode: IdField = None, fact: IdField = None,
) -> Response:
    user.require("admin")
    done = await forget(services, user.tenant, agent, episode=episode, fact=fact)
    return back_to(f"/console/memory?agent={agent}", done)
