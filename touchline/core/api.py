"""The account's people in the JSON API: who the caller is, and the users of the account — the ids that
dashboards share with (`user_ids`), owners (`owner_email`) and enrollments (`enrolled_by`) refer to."""

from __future__ import annotations

from ninja import Router, Schema

from touchline.api.pagination import DEFAULT_LIMIT, paginate
from touchline.core.models import Membership

router = Router(tags=["Account"])


class UserOut(Schema):
    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    role: str  # admin or member, in this account


def _user_row(membership: Membership) -> dict:
    user = membership.user
    return {"id": user.pk, "username": user.username, "email": user.email, "first_name": user.first_name,
            "last_name": user.last_name, "role": membership.role}


class UserPage(Schema):
    items: list[UserOut]
    next_cursor: str | None


@router.get("/me", response=UserOut, summary="The caller: the user the token (or session) belongs to")
def me(request):
    return _user_row(Membership.objects.select_related("user").get(account=request.account, user=request.user))


@router.get("/users", response=UserPage, summary="List the users of the account")
def user_list(request, cursor: str | None = None, limit: int = DEFAULT_LIMIT):
    memberships = Membership.objects.filter(account=request.account).select_related("user")
    page = paginate(memberships, cursor=cursor, limit=limit)
    return {"items": [_user_row(m) for m in page["items"]], "next_cursor": page["next_cursor"]}
