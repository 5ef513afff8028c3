from django.urls import path

from .consumers import ThreadConsumer

websocket_urlpatterns = [
    path("ws/threads/", ThreadConsumer.as_asgi()),
    path("ws/threads/<uuid:thread_id>/", ThreadConsumer.as_asgi()),
]
