from django.apps import AppConfig


class ChatSessionsConfig(AppConfig):
    # `sessions` is django.contrib.sessions' label; ours must differ.
    name = "sessions"
    label = "chat_sessions"
    verbose_name = "Chat sessions"
