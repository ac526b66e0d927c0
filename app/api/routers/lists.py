"""Hash lists: create, read, update (thresholds, action, video policy, matcher access), delete.

Any key may read lists' settings (platforms need the names to filter matches); only admins and the
owning curator change them. A curator's new list belongs to the curator's owner name. Every change
goes through index.store, which writes the audit record in the same transaction.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from app.api.auth import ADMIN, ANY_ROLE, CURATOR, ensure_manage, require
from app.api.errors import ApiError
from app.api.schemas import FreeText, ListCreate, ListOut, ListUpdate, errors
from app.api.services import services
from app.keys import ApiKey
from index.lists import HashList
from index.store import Store

router = APIRouter(prefix="/v1", tags=["lists"])


def list_out(store: Store, lst: HashList) -> dict[str, object]:
    return {**lst.to_dict(), "matchers_can_read": store.matcher_access(lst.id)}


@router.get("/lists", response_model=list[ListOut], summary="All lists, with entry counts")
def all_lists(request: Request, _key: ApiKey = Depends(require(*ANY_ROLE))) -> list[dict[str, object]]:
    """Every list that is not deleted, with its settings: platforms need the names to filter matches."""
    store = services(request).store
    return [list_out(store, lst) for lst in store.lists()]


@router.post("/lists", status_code=201, response_model=ListOut, summary="Create a list", responses=errors(409))
def create_list(body: ListCreate, request: Request, key: ApiKey = Depends(require(ADMIN, CURATOR))) -> dict[str, object]:
    """A new, empty list. A curator's list belongs to the curator's owner (403 if `owner` names
    another); an admin names the owner. A name already taken is 409."""
    store = services(request).store
    if key.role == CURATOR and body.owner not in (None, key.owner):
        raise ApiError(403, "forbidden", f"a curator creates lists for its own owner ({key.owner!r})")
    owner = body.owner if key.role == ADMIN and body.owner else key.owner
    created = store.create_list(
        body.name, owner=owner, actor=key.actor, description=body.description, default_action=body.default_action,
        thresholds=body.thresholds, video_policy=body.video_policy,
    )
    if body.matchers_can_read:
        store.set_matcher_access(body.name, True, actor=key.actor)
    services(request).changed()  # matchable by name from the next request on
    return list_out(store, created)


@router.get("/lists/{name}", response_model=ListOut, summary="One list: settings and entry counts",
            responses=errors(404))
def get_list(name: str, request: Request, _key: ApiKey = Depends(require(*ANY_ROLE))) -> dict[str, object]:
    """A list's settings, and how many of its entries are active and revoked."""
    store = services(request).store
    return list_out(store, store.get_list(name, with_counts=True))


@router.patch("/lists/{name}", response_model=ListOut, summary="Change a list's settings (takes effect at once)",
              responses=errors(404))
def update_list(name: str, body: ListUpdate, request: Request,
                key: ApiKey = Depends(require(ADMIN, CURATOR))) -> dict[str, object]:
    """Change what is given (description, default action, thresholds, video policy, whether
    platforms may read the hashes); what is left out stays. For admins and the owning curator."""
    store = services(request).store
    ensure_manage(key, store.get_list(name))
    changed = store.update_list(name, actor=key.actor, description=body.description,
                                default_action=body.default_action, thresholds=body.thresholds,
                                video_policy=body.video_policy)
    if body.matchers_can_read is not None:
        store.set_matcher_access(name, body.matchers_can_read, actor=key.actor)
    services(request).changed()
    return list_out(store, store.get_list(changed.name, with_counts=True))


@router.delete("/lists/{name}", summary="Delete a list (soft: it stops matching, the record stays)",
               responses=errors(404))
def delete_list(name: str, request: Request, reason: Annotated[FreeText, Query(max_length=2000)] = "",
                key: ApiKey = Depends(require(ADMIN, CURATOR))) -> dict[str, object]:
    """Delete a list: it stops matching; its entries, audit trail and match log are kept. For
    admins and the owning curator; `reason` goes to the audit trail."""
    store = services(request).store
    ensure_manage(key, store.get_list(name))
    store.delete_list(name, actor=key.actor, reason=reason)
    services(request).changed()
    return {"deleted": name}
