"""The real URL conf plus two views that exist only to exercise error handling."""

from django.urls import path
from rest_framework.decorators import api_view
from rest_framework.response import Response

from config.urls import urlpatterns as real_patterns


@api_view(["POST"])
def echo(request):
    return Response({"received": request.data})


@api_view(["GET"])
def explode(request):
    raise RuntimeError("boom: secret internals")


def plain_explode(request):
    raise RuntimeError("plain boom")


urlpatterns = [
    path("api/test/echo", echo),
    path("api/test/explode", explode),
    path("api/test/plain-explode", plain_explode),
    *real_patterns,
]

handler404 = "config.errors.handler404"
handler500 = "config.errors.handler500"
