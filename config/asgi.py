import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from config.patches.django_asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()  # must run before importing consumers (app registry)

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from config.runtime import freeze_startup_heap  # noqa: E402
from config.ws_auth import BrowserOriginValidator, PrincipalMiddleware  # noqa: E402
from threads.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": BrowserOriginValidator(PrincipalMiddleware(URLRouter(websocket_urlpatterns))),
    }
)

get_resolver().url_patterns  # noqa: B018 - import every view now, so the freeze below covers them
freeze_startup_heap()
