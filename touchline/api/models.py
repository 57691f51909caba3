from __future__ import annotations

from django.conf import settings
from django.db import models

from touchline.core.models import AccountOwned


class ApiToken(AccountOwned):
    """A per-user API token for one account. Only a SHA-256 of the secret is stored.

    The secret has 256 bits of entropy, so a fast hash is the right tool (a password hash is for guessable
    secrets); the plain token is shown once, at creation.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_id = models.CharField(max_length=16, unique=True)
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_id})"
