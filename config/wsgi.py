import os

from touchline.core.wsgi import application_build

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = application_build()
