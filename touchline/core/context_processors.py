from touchline.core.accounts import memberships_of


def account(request):
    return {
        "current_account": getattr(request, "account", None),
        "current_membership": getattr(request, "membership", None),
        "account_memberships": memberships_of(request.user) if hasattr(request, "user") else [],
    }
