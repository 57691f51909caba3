from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from touchline.core.accounts import account_switch


@login_required
def home(request):
    return render(request, "core/home.html")


@login_required
@require_POST
def account_switch_view(request):
    try:
        account_id = int(request.POST.get("account_id", ""))
    except ValueError:
        account_id = -1
    account = account_switch(request=request, account_id=account_id)
    if account is None:
        messages.error(request, "You are not a member of that account.")
    return redirect("home")

