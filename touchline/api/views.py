"""Settings → API tokens: list, create (the plain token is shown once, in the answer to the POST), revoke."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from touchline.api.models import ApiToken
from touchline.api.selectors import api_token_get, api_tokens_of
from touchline.api.tokens import api_token_create, api_token_revoke


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “Nightly export”.")


@login_required
def api_token_list(request):
    form, plain_token = ApiTokenForm(), None
    if request.method == "POST":
        form = ApiTokenForm(request.POST)
        if form.is_valid():
            _, plain_token = api_token_create(user=request.user, account=request.account,
                                              name=form.cleaned_data["name"])
            form = ApiTokenForm()
    return render(request, "api/token_list.html", {
        "form": form, "plain_token": plain_token, "tokens": api_tokens_of(request.account, request.user)})


@login_required
@require_POST
def api_token_revoke_view(request, token_id: int):
    try:
        token = api_token_get(request.account, request.user, token_id)
    except ApiToken.DoesNotExist:
        raise Http404("No such token") from None
    api_token_revoke(token=token)
    messages.success(request, f"Revoked “{token.name}”; it no longer works.")
    return redirect("api:token-list")
