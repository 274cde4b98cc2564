"""Hostile and random requests to the public HTTP endpoints (hypothesis): paths,
methods and headers. Every answer is a deliberate one: a success, or a JSON error with
a 4xx status, security headers, and no stack trace. Never a 5xx, never a dropped
connection, and the service keeps answering afterwards."""
import http.client
import itertools
import json
from urllib.parse import quote, urlsplit

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

NASTY = ["", ".", "..", "%", "%00", "%2e%2e", "'; DROP TABLE certificates; --", "${7*7}",
         "{{7*7}}", "<script>alert(1)</script>", "CRT-2026-AAAA-AAAA-AAAA", "\u202e\U0001f600",
         "a" * 3000, "credential", "qr.svg", "jwks.json", ".well-known", "certificates"]
segments = st.one_of(st.sampled_from(NASTY), st.text(max_size=30))
paths = st.one_of(
    st.lists(segments, min_size=1, max_size=5).map("/".join),
    segments.map(lambda s: f"certificates/{s}"),
    st.tuples(segments, st.sampled_from(["credential", "qr.svg", "", "x"])).map(
        lambda parts: f"certificates/{parts[0]}/{parts[1]}"),
).map(lambda path: "/" + quote(path, safe="/.%"))
methods = st.sampled_from(["GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH",
                           "OPTIONS", "TRACE", "BREW"])
header_names = st.one_of(
    st.sampled_from(["Accept", "Accept-Language", "X-Forwarded-For", "Range", "If-None-Match",
                     "Cookie", "Authorization", "Content-Type", "Origin", "Referer",
                     "User-Agent", "X-Real-IP"]),
    st.from_regex(r"\A[A-Za-z][A-Za-z0-9-]{0,30}\Z"))
# Header values: what HTTP can carry (latin-1, no line breaks), hostile or huge.
header_values = st.one_of(
    st.sampled_from(["*/*", "text/html", "application/json;q=0", "bytes=0-0,-1",
                     "1.2.3.4, 5.6.7.8", "' OR 1=1 --", "../../etc/passwd", "x" * 4000]),
    st.text(st.characters(min_codepoint=32, max_codepoint=255, blacklist_characters="\x7f"),
            max_size=200))
headers = st.dictionaries(header_names, header_values, max_size=4)

# Each example comes from a loopback address of its own (127.0.3.x): the per-client
# rate limit is tested elsewhere and must not make every answer here a 429.
_addresses = itertools.cycle(f"127.0.3.{n}" for n in range(1, 255))


def request(base, method, path, request_headers):
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10,
                                            source_address=(next(_addresses), 0))
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        for name, value in request_headers.items():
            connection.putheader(name, value.encode("latin-1"))
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck))
@given(method=methods, path=paths, request_headers=headers)
def test_hostile_requests_get_deliberate_answers(certification_service, method, path,
                                                 request_headers):
    base = certification_service.http_base
    status, response_headers, body = request(base, method, path, request_headers)
    assert status < 500, (method, path, status, body[:300])
    assert b"Traceback" not in body and b'File "' not in body
    if status == 414 or (status == 400 and not body):
        # eventlet's own refusal of a request line or header over its limits (8 KiB),
        # before the application runs: an empty body, and the connection closed.
        assert not body
        return
    assert response_headers["X-Content-Type-Options"] == "nosniff", (method, path)
    assert "default-src 'none'" in response_headers["Content-Security-Policy"]
    if method != "GET" and method != "HEAD":
        assert status == 405
    if status >= 400 and method != "HEAD" and \
            response_headers["Content-Type"].startswith("text/html"):
        # A browser asking for an unknown certificate: the people's 404 page.
        assert status == 404 and b"Sertifikat tidak ditemukan" in body
    elif status >= 400 and method != "HEAD":
        error = json.loads(body)
        assert set(error) >= {"error", "message"}, error
    elif status == 200 and method == "GET":
        assert response_headers["Content-Type"].split(";")[0] in (
            "application/json", "image/svg+xml", "text/html")


def test_the_service_still_answers_after_the_hostile_requests(certification_service):
    status, _, body = request(certification_service.http_base, "GET",
                              "/.well-known/jwks.json", {})
    assert status == 200 and json.loads(body)["keys"]
