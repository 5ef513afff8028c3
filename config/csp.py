"""Content-Security-Policy on every response (Django 5.2 has none built in).

The chat page and the sign-in page get the strict policy, which their own files satisfy: scripts
and styles only from this origin (no inline script, no style attribute), no plugins, no <base>,
never framed, and network access only to this origin and its websocket endpoint. Two kinds of
pages need a laxer *style* policy and only that: the Django admin (Querent's admin columns write
`style` attributes) and the Swagger UI at /api/docs/ (an inline
<style> block and data: icons). Neither gets inline script: the docs page loads its start-up code
from /api/docs/?script= (drf-spectacular's split view). Responses that are not HTML (JSON, static
files, SVG) get `default-src 'none'`: nothing they contain may load or run anything.
"""

from django.conf import settings
from django.core.exceptions import DisallowedHost

from .middleware import InlineMiddleware

HEADER = "Content-Security-Policy"

_COMMON = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
PAGE = _COMMON
# The admin: style attributes only (style-src-attr, CSP Level 3; a browser without it keeps
# style-src 'self' and loses only those few colours and widths). Scripts stay same-origin files.
ADMIN = {**_COMMON, "style-src-attr": "'unsafe-inline'"}
# Swagger UI: the <style> block of drf-spectacular's template and data: icons.
DOCS = {**_COMMON, "style-src": "'self' 'unsafe-inline'", "img-src": "'self' data:"}
NOT_HTML = "default-src 'none'; frame-ancestors 'none'"

# Laxer policies by path prefix; every other HTML page gets PAGE.
LAX_PREFIXES = (("/admin/", ADMIN), ("/api/docs", DOCS))


def policy_text(policy: dict, websocket_origin: str | None = None) -> str:
    directives = dict(policy)
    if websocket_origin:
        # CSP Level 3 lets 'self' match ws(s) on the same host, but not every browser in use does.
        directives["connect-src"] = f"{directives['connect-src']} {websocket_origin}"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def policy_for(request, response) -> str | None:
    if response.has_header(HEADER):
        return None  # a view that set its own keeps it
    if "text/html" not in response.get("Content-Type", ""):
        return NOT_HTML
    if settings.DEBUG and response.status_code >= 400:
        return None  # Django's debug error pages are inline styles and scripts (never outside DEBUG)
    policy = next((lax for prefix, lax in LAX_PREFIXES if request.path.startswith(prefix)), PAGE)
    try:
        host = request.get_host()
    except DisallowedHost:
        host = None  # a 400 for a Host header that is not allowed: no websocket source
    origin = f"{'wss' if request.is_secure() else 'ws'}://{host}" if host else None
    return policy_text(policy, origin)


class ContentSecurityPolicyMiddleware(InlineMiddleware):
    """Header work only, so it runs inline on the async path (no thread hop)."""

    def check_response(self, request, response):
        policy = policy_for(request, response)
        if policy:
            response[HEADER] = policy
        return response
