"""The CRM's REST API on merges and the merge review list (supervisors and admins): merge,
read and undo a merge, list the pairs the automatic merge left to a person, decide them.
Its operations end `contactcenter.crm.api.customers.OPERATIONS`.
"""

from __future__ import annotations

from typing import Any

from contactcenter.crm import events as ce
from contactcenter.crm.api import schemas as s
from contactcenter.crm.api.common import E404, E409, _op, publish, recompute, stores
from contactcenter.crm.merges import Merge
from contactcenter.web.openapi import Call, Operation


async def _merged(call: Call, merge: Merge, undone: bool = False) -> Any:
    await recompute(call, merge.survivor_id, *([merge.merged_id] if undone else []))
    await publish(
        call,
        ce.CustomersUnmerged if undone else ce.CustomersMerged,
        customer_id=merge.survivor_id,
        merge_id=merge.merge_id,
        merged_id=merge.merged_id,
    )
    return merge.wire()


async def merge_customers(call: Call) -> Any:
    body = call.body_as(s.MergeIn)
    merge = await stores(call).merges.merge(
        str(body.survivor_id), str(body.merged_id), actor_id=call.agent.agent_id, reason=body.reason
    )
    return await _merged(call, merge)


async def get_merge(call: Call) -> Any:
    return (await stores(call).merges.get(call.path("merge_id"))).wire()


async def undo_merge(call: Call) -> Any:
    merge = await stores(call).merges.unmerge(call.path("merge_id"), actor_id=call.agent.agent_id)
    return await _merged(call, merge, undone=True)


async def list_reviews(call: Call) -> Any:
    q = call.query_as(s.ReviewListQuery)
    page = await stores(call).reviews.reviews(q.status, q.window())
    return page.wire(lambda r: r.wire())


async def decide_review(call: Call) -> Any:
    body = call.body_as(s.DecisionIn)
    review, merge = await stores(call).reviews.decide(
        call.path("review_id"),
        body.decision,
        actor_id=call.agent.agent_id,
        survivor_id=str(body.survivor_id) if body.survivor_id else None,
    )
    return {"review": review.wire(), "merge": await _merged(call, merge) if merge else None}


MERGE_OPERATIONS: tuple[Operation, ...] = (
    _op("POST", "/api/merges", merge_customers, "Merge a customer into another", "supervisor",
        "merges", body=s.MergeIn, response=s.MergeOut, status=201, errors=E409),
    _op("GET", "/api/merges/{merge_id}", get_merge, "A merge", "supervisor", "merges",
        response=s.MergeOut, errors=E404),
    _op("POST", "/api/merges/{merge_id}/undo", undo_merge, "Undo a merge exactly",
        "supervisor", "merges", response=s.MergeOut, errors=E409),
    _op("GET", "/api/merge-reviews", list_reviews, "Pairs the automatic merge left to a"
        " person, oldest first", "supervisor", "merges", query=s.ReviewListQuery,
        response=s.ReviewPage),
    _op("POST", "/api/merge-reviews/{review_id}/decision", decide_review, "Merge or dismiss a"
        " pending review", "supervisor", "merges", body=s.DecisionIn, response=s.DecisionOut,
        errors=E409),
)  # fmt: skip
