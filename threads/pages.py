"""Pages for people: the chat page at `/` and the sign-in/sign-out pages it links to."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@ensure_csrf_cookie  # the page's fetch() calls send the cookie's token back as X-CSRFToken
def index(request):
    # Whether a session (or development auth) already signs the page in: without one, and without
    # an API key in the tab, the page shows the sign-in form without asking /ui/me for a 401.
    signed_in = settings.DEV_AUTH or request.user.is_authenticated
    return render(request, "index.html", {"embedded": settings.EMBEDDED, "signed_in": signed_in})


login_view = auth_views.LoginView.as_view(template_name="registration/login.html", next_page="/", redirect_authenticated_user=True)
logout_view = auth_views.LogoutView.as_view(next_page="/")
