from django.urls import path

from . import apis


def both(route, view, name=None):
    return [path(route, view, name=name), path(route + "/", view)]


urlpatterns = [
    *both("assistants", apis.AssistantListApi.as_view(), "assistants"),
    *both("assistants/public", apis.PublicAssistantListApi.as_view(), "assistants-public"),
    *both("assistants/<uuid:assistant_id>", apis.AssistantDetailApi.as_view(), "assistant"),
]
