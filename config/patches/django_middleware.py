"""Django's stock middleware, and WhiteNoise, without a thread hop per hook on the async path.

Under daphne every request is async. Django's ``MiddlewareMixin.__acall__`` then runs each
process_request and process_response through ``sync_to_async``, and WhiteNoise, being sync-only,
turns the chain around it into sync code that calls back into the loop: a dozen thread hops before
a view starts. These subclasses run the hooks inline on the event loop where they do no I/O, and
still hop where they may (a session to save, messages to store, a static file to open). On the sync
path (WSGI, Django's test client) they are the stock classes.

Checked against Django 5.2.19 and whitenoise 6.12.0 (pinned in pyproject.toml; ``CHECKED_AGAINST``
below, which tests/config/test_patches.py compares with what is installed). Measured gain: 1.4-1.9
ms of CPU per request in process (an in-process ASGI loop over ``GET /ok``, 5 rounds of 1,000,
medians: with Django's handler 3.95 -> 2.06 ms, with config.patches.django_asgi 2.30 -> 0.90 ms); both patches together, paired bench/opengpts_runs.py: web CPU per thread + run (two requests)
17.1 -> 11.9 ms (see config/patches/__init__.py).
Tests that fail when Django or WhiteNoise change under it: tests/config/test_inline_middleware.py
(the same answers as the stock chain, no hop for a request whose hooks do no I/O, a hop where they
may write, static files off the loop) and the version check in tests/config/test_patches.py.

Patches, one per non-public thing used:

1. ``InlineHooks.__acall__`` overrides ``django.utils.deprecation.MiddlewareMixin.__acall__``
   (internal) for Security, Session, Common, Csrf, Authentication, Message and XFrameOptions
   middleware; it relies on which of their hooks do I/O: none for Security, Common, Authentication
   (lazy user), XFrameOptions and Csrf with its token in a cookie; Session's and Message's
   process_response only when something changed (``response_hook_may_do_io``).
2. ``CsrfViewMiddleware`` sets ``process_view`` to a coroutine, which Django's handler calls as is
   (``BaseHandler._get_response_async`` adapts only sync process_view methods).
3. ``WhiteNoiseMiddleware`` makes WhiteNoise's sync-only middleware async-capable, reading its
   ``autorefresh``, ``files``, ``find_file`` and ``serve`` (internal).
"""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as StockAuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware as StockMessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware as StockSessionMiddleware
from django.middleware.clickjacking import XFrameOptionsMiddleware as StockXFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware as StockCommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware as StockCsrfViewMiddleware
from django.middleware.security import SecurityMiddleware as StockSecurityMiddleware
from whitenoise.middleware import WhiteNoiseMiddleware as StockWhiteNoiseMiddleware

# The versions these overrides were read against; tests/config/test_patches.py fails on any other.
CHECKED_AGAINST = {"django": "5.2.19", "whitenoise": "6.12.0"}


class InlineHooks:
    """For MiddlewareMixin subclasses whose hooks are pure header and attribute work."""

    async def __acall__(self, request):
        response = self.process_request(request) if hasattr(self, "process_request") else None
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self.response_hook_may_do_io(request, response):
                response = await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
            else:
                response = self.process_response(request, response)
        return response

    def response_hook_may_do_io(self, request, response) -> bool:
        return False


class SecurityMiddleware(InlineHooks, StockSecurityMiddleware):
    pass


class SessionMiddleware(InlineHooks, StockSessionMiddleware):
    # process_request only builds a lazy session; process_response saves it when it changed.
    def response_hook_may_do_io(self, request, response) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class CommonMiddleware(InlineHooks, StockCommonMiddleware):
    pass


class CsrfViewMiddleware(InlineHooks, StockCsrfViewMiddleware):
    """With the token in a cookie (CSRF_USE_SESSIONS off, the default) no hook does I/O."""

    async def __acall__(self, request):
        if settings.CSRF_USE_SESSIONS:
            return await StockCsrfViewMiddleware.__acall__(self, request)
        return await super().__acall__(request)

    def __init__(self, get_response):
        super().__init__(get_response)
        if self.async_mode and not settings.CSRF_USE_SESSIONS:
            # Django wraps a sync process_view in sync_to_async on the async path; a coroutine it calls as is.
            self.process_view = self._process_view_inline

    async def _process_view_inline(self, request, callback, callback_args, callback_kwargs):
        return StockCsrfViewMiddleware.process_view(self, request, callback, callback_args, callback_kwargs)


class AuthenticationMiddleware(InlineHooks, StockAuthenticationMiddleware):
    pass  # sets lazy request.user / request.auser; the user is read when a view asks


class MessageMiddleware(InlineHooks, StockMessageMiddleware):
    # Storing messages may read or write the session; a request that neither read nor added any does nothing.
    def response_hook_may_do_io(self, request, response) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class XFrameOptionsMiddleware(InlineHooks, StockXFrameOptionsMiddleware):
    pass


class WhiteNoiseMiddleware(StockWhiteNoiseMiddleware):
    """Serves static files as WhiteNoise does, and passes every other request on without leaving the loop."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response=None, settings=settings):
        super().__init__(get_response, settings)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request):
        if self.autorefresh:
            static_file = await sync_to_async(self.find_file, thread_sensitive=False)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)
