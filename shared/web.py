"""Public HTTP with JSON everywhere: ``from shared.web import http``.

nameko's own HTTP entrypoint answers errors in plain text (with the exception's
text) and unknown paths in HTML. Here every answer is JSON, errors map to status
codes (ValidationError 400, Forbidden 403, NotFound 404, Conflict 409, anything
else 500 with only a log reference), only GET and HEAD are served, each client
address gets ``HTTP_RATE_LIMIT_PER_MINUTE`` requests a minute (then 429 with
Retry-After; behind a reverse proxy named in ``TRUSTED_PROXIES``, the client is the
address the proxy saw, from ``X-Forwarded-For``), and every response carries security headers. A handler may answer a
person with an HTML page (``html_response``), e.g. after content negotiation; such
an answer, error pages included, goes out as the handler made it.
"""
import ipaddress
import json
import logging
import math
import time
import uuid

from nameko.web.handlers import HttpRequestHandler
from nameko.web.server import WebServer, WsgiApp
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from shared.errors import CONTRACT_ERRORS, Conflict, Forbidden, NotFound, ValidationError
from shared.settings import settings_of

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                               "frame-ancestors 'none'",
    "Cache-Control": "no-store",
}
STATUS_OF_ERROR = {ValidationError: 400, Forbidden: 403, NotFound: 404, Conflict: 409}
# Set in the WSGI environ once a route matched and its entrypoint answers: from then
# on the answer is the handler's (its errors are JSON unless it chose otherwise).
HANDLED_BY_ENTRYPOINT = "shared.web.handled_by_entrypoint"


def secure(response):
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def json_response(body, status=200, headers=None):
    return secure(Response(json.dumps(body, ensure_ascii=False), status=status,
                           headers=headers, mimetype="application/json"))


def html_response(body, status=200, headers=None):
    """A page for a person. ``headers`` may carry a Content-Security-Policy of the
    page's own (stricter or wider than the default); the other security headers are
    added as for JSON."""
    return secure(Response(body, status=status, headers=headers, mimetype="text/html"))


def error_response(status, error, message, **extra):
    return json_response({"error": error, "message": message, **extra}, status=status)


def response_for_exception(exc):
    for error_type, status in STATUS_OF_ERROR.items():
        if isinstance(exc, error_type):
            extra = {"fields": exc.errors} if isinstance(exc, ValidationError) else {}
            message = "invalid request" if extra else str(exc)
            return error_response(status, error_type.__name__, message, **extra)
    reference = uuid.uuid4().hex[:12]
    log.error("internal error %s in an HTTP request", reference, exc_info=exc)
    return error_response(500, "InternalError", f"internal error, reference {reference}")


class RateLimiter:
    """A token bucket per client: ``per_minute`` requests a minute, in bursts of as many."""

    MAX_CLIENTS = 10_000

    def __init__(self, per_minute, clock=time.monotonic):
        self.capacity = float(per_minute)
        self.rate = self.capacity / 60.0
        self.clock = clock
        self.buckets = {}  # client -> (tokens, when)

    def wait_for(self, client):
        """0 if the request may go ahead (and is counted), else seconds to wait."""
        now = self.clock()
        tokens, when = self.buckets.get(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - when) * self.rate)
        if tokens >= 1:
            self.buckets[client] = (tokens - 1, now)
            self._forget_idle_clients(now)
            return 0
        self.buckets[client] = (tokens, now)
        return (1 - tokens) / self.rate

    def _forget_idle_clients(self, now):
        if len(self.buckets) > self.MAX_CLIENTS:  # a full bucket is as good as none
            full = now - self.capacity / self.rate
            self.buckets = {c: b for c, b in self.buckets.items() if b[1] > full}


def _address(text):
    """The IP address ``text`` names, or None."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _is_trusted(ip, networks):
    return ip is not None and any(ip in network for network in networks)


def client_address(environ, networks):
    """Who the request is from, for the rate limit. The connecting address, unless it
    is a trusted proxy: then the nearest address in ``X-Forwarded-For`` that is not
    itself a trusted proxy (read from the right: entries further left were written by
    the client and may be forged). Without a usable entry, the connecting address."""
    remote = environ.get("REMOTE_ADDR", "")
    if not networks or not _is_trusted(_address(remote), networks):
        return remote
    hops = [hop.strip() for hop in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    for hop in reversed(hops):
        ip = _address(hop)
        if ip is None:
            return remote
        if not _is_trusted(ip, networks):
            return hop
    return remote


class JsonWsgiApp(WsgiApp):
    def __init__(self, server):
        super().__init__(server)
        settings = settings_of(server.container)
        self.limiter = RateLimiter(settings.HTTP_RATE_LIMIT_PER_MINUTE)
        self.trusted_proxies = settings.TRUSTED_PROXIES

    def __call__(self, environ, start_response):
        wait = self.limiter.wait_for(client_address(environ, self.trusted_proxies))
        if wait:
            response = error_response(429, "TooManyRequests", "slow down")
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in ("GET", "HEAD"):
            response = error_response(405, "MethodNotAllowed", "only GET is served here")
            response.headers["Allow"] = "GET, HEAD"
            return response(environ, start_response)
        try:
            return super().__call__(environ, start_response)
        except HTTPException as exc:  # not raised by nameko today; kept JSON if it ever is
            return error_response(exc.code or 500, type(exc).__name__,
                                  exc.description or "")(environ, start_response)


class JsonWebServer(WebServer):
    def get_wsgi_app(self):
        return _JsonRoutingErrors(JsonWsgiApp(self))


class _JsonRoutingErrors:
    """Turns werkzeug's own routing answers into JSON: an unknown path (HTML 404), a
    method it refuses, and its redirects (e.g. ``//`` merged into ``/``), which are
    answered 404 here: a public API has one spelling of each path. An answer a handler
    made (an HTML error page for a browser, say) is left as it is. Every answer leaves
    with the security headers."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"] = status
            captured["headers"] = headers
            return lambda data: None

        body = self.app(environ, capture)
        code = int(captured["status"].split()[0])
        content_type = dict(captured["headers"]).get("Content-Type", "")
        json_answer = content_type.startswith("application/json")
        made_by_handler = environ.get(HANDLED_BY_ENTRYPOINT, False)
        if code >= 300 and not json_answer and not made_by_handler:
            if hasattr(body, "close"):
                body.close()
            status = 404 if code < 400 else code
            names = {404: ("NotFound", "no such resource"),
                     405: ("MethodNotAllowed", "only GET is served here")}
            error, message = names.get(status, ("HTTPError", captured["status"]))
            return error_response(status, error, message)(environ, start_response)
        present = {name.lower() for name, _ in captured["headers"]}
        headers = list(captured["headers"]) + [
            (name, value) for name, value in SECURITY_HEADERS.items()
            if name.lower() not in present]
        start_response(captured["status"], headers)
        return body


class JsonHttp(HttpRequestHandler):
    server = JsonWebServer()

    def __init__(self, url, expected_exceptions=CONTRACT_ERRORS, **kwargs):
        super().__init__("GET", url, expected_exceptions=expected_exceptions, **kwargs)
        self.read_only = True  # public GETs only read: a session without a transaction

    def handle_request(self, request):
        request.environ[HANDLED_BY_ENTRYPOINT] = True
        return super().handle_request(request)

    def response_from_result(self, result):
        return secure(super().response_from_result(result))

    def response_from_exception(self, exc):
        return response_for_exception(exc)


http = JsonHttp.decorator
