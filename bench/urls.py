"""The product's URLs plus one bare view doing a single SQLite insert: the yardstick the tracking pixel is
measured against, side by side, through the same server."""

import time

from django.db import connection
from django.http import HttpResponse
from django.urls import path

from config.urls import urlpatterns as product_urlpatterns


def bare_insert(request):
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO bench_hit (at) VALUES (%s)", [time.time()])
    return HttpResponse(b"ok", content_type="text/plain")


# The same view twice: through the whole middleware stack, and through the collector's slim one (bench/wsgi.py).
urlpatterns = [*product_urlpatterns, path("bench/insert", bare_insert), path("bench/insert-public", bare_insert)]
