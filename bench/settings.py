"""Settings of the HTTP bench server: the product's, plus the bare comparison view of bench/urls.py."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
ALLOWED_HOSTS = ["*"]
