"""Accounts (tenants), memberships, and the base class every tenant-owned table derives from.

Scoping: `AccountOwned.objects` is a django-scopes manager. Any query through it raises `ScopeError`
unless an account scope is active (`with scope(account=...)`); inside one it is filtered to that account.
Requests get their scope from `AccountScopeMiddleware`; commands and tasks open one explicitly. So reading
another account's rows cannot happen by forgetting a filter. `all_accounts` exists for the admin and for
system code that must cross accounts (it is never used from request code).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django_scopes import ScopedManager


class Plan(models.TextChoices):
    STARTER = "starter", "Starter"
    PROFESSIONAL = "professional", "Professional"
    ENTERPRISE = "enterprise", "Enterprise"


class Account(models.Model):
    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.PROFESSIONAL)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. Europe/Berlin")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_click_metrics(self) -> bool:
        return self.plan in {Plan.PROFESSIONAL, Plan.ENTERPRISE}


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "account"], name="membership_unique_user_account")]

    def __str__(self) -> str:
        return f"{self.user} in {self.account} ({self.role})"


class AccountOwned(models.Model):
    """Base of every tenant table: carries the account and the scoped manager."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")

    objects = ScopedManager(account="account")
    all_accounts = models.Manager()

    class Meta:
        abstract = True
