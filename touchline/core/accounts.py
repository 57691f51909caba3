"""Which account a request acts for, and the services that manage accounts and memberships."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from touchline.core.models import Account, Membership, Plan, Role

SESSION_KEY = "account_id"


def memberships_of(user) -> list[Membership]:
    if not user.is_authenticated:
        return []
    return list(Membership.objects.filter(user=user).select_related("account").order_by("account__name"))


def resolve_request_account(request) -> tuple[Account | None, Membership | None]:
    """The account of the session if the user belongs to it, else the user's first account, else None."""
    from touchline.api.tokens import authenticate_bearer  # API tokens carry their own account

    token_membership = authenticate_bearer(request)
    if token_membership is not None:
        return token_membership.account, token_membership
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None, None
    wanted = request.session.get(SESSION_KEY)
    memberships = memberships_of(user)
    chosen = next((m for m in memberships if m.account_id == wanted), memberships[0] if memberships else None)
    if chosen is not None and chosen.account_id != wanted:
        request.session[SESSION_KEY] = chosen.account_id
    return (chosen.account, chosen) if chosen else (None, None)


def account_switch(*, request, account_id: int) -> Account | None:
    """Make `account_id` the session's account if the user is a member; returns it, or None if refused."""
    membership = Membership.objects.filter(user=request.user, account_id=account_id).select_related("account").first()
    if membership is None:
        return None
    request.session[SESSION_KEY] = membership.account_id
    return membership.account


@transaction.atomic
def account_create(*, name: str, plan: str = Plan.PROFESSIONAL, time_zone: str = "UTC", admin=None) -> Account:
    account = Account.objects.create(name=name, plan=plan, time_zone=time_zone)
    if admin is not None:
        Membership.objects.create(user=admin, account=account, role=Role.ADMIN)
    return account


@transaction.atomic
def user_create(*, username: str, email: str, password: str, account: Account, role: str = Role.MEMBER,
                first_name: str = "", last_name: str = ""):
    """Create a user (password hashed with argon2) and make them a member of `account`."""
    user = get_user_model().objects.create_user(
        username=username, email=email, password=password, first_name=first_name, last_name=last_name
    )
    Membership.objects.create(user=user, account=account, role=role)
    return user


def account_by_reference(ref: str | None) -> Account:
    """The account a command line names by id or exact name; with no name, the only account there is.
    Raises LookupError with a message for the user."""
    if ref is None:
        accounts = list(Account.objects.order_by("id")[:2])
        if len(accounts) != 1:
            raise LookupError("there are several accounts (or none); name one with --account NAME")
        return accounts[0]
    found = (Account.objects.filter(pk=int(ref)).first() if ref.isdigit() else None) or \
        Account.objects.filter(name=ref).first()
    if found is None:
        raise LookupError(f"no account named {ref!r}")
    return found


def accounts_by_reference(ref: str | None) -> list[Account]:
    """The account a maintenance command names by id or exact name, or every account when it names none (the
    rebuild commands). Raises LookupError with a message for the user."""
    return [account_by_reference(ref)] if ref else list(Account.objects.all())
