"""The WSGI application: Django's handler with the whole middleware stack, and for the collector's path a second
handler with only the middleware a public, cookieless endpoint needs.

The collector takes a request per page view of every tracked site. Sessions, CSRF, authentication, messages,
clickjacking headers, htmx and the account scope do nothing for it (it has no cookie, no user and no page, and
reads sites across accounts), yet together they cost about as much as the collector's own validation (issue #5).
Security (HTTPS redirect, HSTS, nosniff) and Common (allowed hosts) still run.
"""

from __future__ import annotations

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

PUBLIC_PATHS = frozenset({"/t/collect"})
PUBLIC_MIDDLEWARE = ["django.middleware.security.SecurityMiddleware", "django.middleware.common.CommonMiddleware"]


class PublicHandler(WSGIHandler):
    """Django's handler, built with PUBLIC_MIDDLEWARE instead of settings.MIDDLEWARE."""

    def load_middleware(self, is_async=False):
        # BaseHandler reads the list from settings; this runs once, while the application is built, before any
        # request is served.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = PUBLIC_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


def application_build(public_paths=PUBLIC_PATHS):
    """The WSGI callable (what django.core.wsgi.get_wsgi_application makes, plus the slim handler): requests for
    `public_paths` go to the slim handler, every other one to the full one."""
    django.setup(set_prefix=False)
    full, public = WSGIHandler(), PublicHandler()

    def application(environ, start_response):
        handler = public if environ.get("PATH_INFO") in public_paths else full
        return handler(environ, start_response)

    return application
