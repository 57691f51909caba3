"""The bench server's WSGI application: the product's, with the bare view also served at /bench/insert-public by
the collector's slim handler, so the collector can be compared with a bare view on the same middleware too."""

import os

from touchline.core.wsgi import PUBLIC_PATHS, application_build

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
application = application_build(public_paths=PUBLIC_PATHS | {"/bench/insert-public"})
