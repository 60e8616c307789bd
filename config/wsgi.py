import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
# Import the URLconf and every view module now, as the worker starts: otherwise the first request each
# worker serves pays for it (about half a second of CPU on two cores) while other requests wait.
get_resolver().url_patterns  # noqa: B018 (the import is the point)
