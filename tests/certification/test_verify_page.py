"""The page people see at a certificate's verify URL (the URL in its QR code), beside
the JSON that programs get at the same URL; then the page as Chromium shows it."""
import base64
import hashlib
import http.client
import json
import re
import struct
import subprocess
import zlib
from collections import Counter
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from services.certification import verify_page
from tests.support.factories import issue_certificate

BROWSER_ACCEPT = ("text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
                  "image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7")
UNKNOWN_NUMBER = "CRT-2026-0000-0000-0000"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_SECONDS = 60
WITA = timezone(timedelta(hours=8))
MONTHS_ID = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
             "September", "Oktober", "November", "Desember"]
MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]


def get(base, path, accept=None):
    """GET from a client address of this file's own (127.0.0.4): the per-client rate
    limit must not turn these answers into 429s, nor these requests into others'."""
    address = urlsplit(base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10,
                                            source_address=("127.0.0.4", 0))
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        if accept is not None:
            connection.putheader("Accept", accept)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


class _VisibleText(HTMLParser):
    """The text of a page's body, as a reader sees it (whitespace collapsed)."""

    def __init__(self):
        super().__init__()
        self.parts, self.in_body, self.hidden = [], False, 0

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.in_body = True
        elif tag in ("script", "style", "template"):
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "template"):
            self.hidden -= 1

    def handle_data(self, data):
        if self.in_body and not self.hidden:
            self.parts.append(data)


def visible_text(page):
    parser = _VisibleText()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


def readable(iso_time):
    """``(12 Desember 2029, 12 December 2029)``: the day in East Kalimantan."""
    moment = datetime.fromisoformat(iso_time).astimezone(WITA)
    return (f"{moment.day} {MONTHS_ID[moment.month - 1]} {moment.year}",
            f"{moment.day} {MONTHS_EN[moment.month - 1]} {moment.year}")


@pytest.fixture
def revoked(crpc, scheme, assessor, assessment):
    member, certificate = issue_certificate(crpc, scheme, assessor, assessment)
    crpc.certification.revoke(certificate["number"], "Pelanggaran kode etik profesi")
    return member, certificate


# -- programs: the contract's JSON, unchanged -----------------------------------------

@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/*",
                                    "text/html;q=0.5, application/json",
                                    "text/html, application/json"])
def test_programs_get_the_json_view(base, crpc, issued, accept):
    _, certificate = issued
    status, headers, body = get(base, f"/certificates/{certificate['number']}", accept)
    assert status == 200, body[:300]
    assert headers["Content-Type"].startswith("application/json")
    assert json.loads(body) == crpc.certification.verify(certificate["number"])
    assert "Accept" in headers["Vary"]
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_programs_get_a_json_404_for_an_unknown_number(base):
    for accept in (None, "*/*", "application/json"):
        status, headers, body = get(base, f"/certificates/{UNKNOWN_NUMBER}", accept)
        assert status == 404 and headers["Content-Type"].startswith("application/json")
        assert json.loads(body)["error"] == "NotFound"
        assert "Accept" in headers["Vary"]


# -- people: the page -------------------------------------------------------------------

def test_a_browser_gets_the_page(base, issued):
    member, certificate = issued
    status, headers, body = get(base, f"/certificates/{certificate['number']}", BROWSER_ACCEPT)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "Accept" in headers["Vary"]
    page = body.decode("utf-8")
    assert '<html lang="id">' in page
    assert 'name="viewport"' in page
    assert f"<title>Sertifikat {certificate['number']}: Berlaku / Valid</title>" in page
    text = visible_text(page)
    issued_id, issued_en = readable(certificate["issued_at"])
    until_id, until_en = readable(certificate["valid_until"])
    for shown in (certificate["number"], member["full_name"], certificate["scheme_title"],
                  f"({certificate['scheme_code']})", "Status: Berlaku / Valid",
                  f"{issued_id} / {issued_en}", f"{until_id} / {until_en}"):
        assert shown in text, shown
    assert 'class="status status-valid"' in page
    assert f'href="/certificates/{certificate["number"]}/credential"' in page
    assert 'href="/.well-known/jwks.json"' in page
    for private in (member["email"], member["phone"], member["id"], certificate["member_id"]):
        assert private not in page


def test_the_page_has_the_security_headers_and_a_policy_for_only_its_stylesheet(base, issued):
    _, certificate = issued
    _, headers, body = get(base, f"/certificates/{certificate['number']}", BROWSER_ACCEPT)
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "script-src" not in policy and "unsafe-inline" not in policy
    page = body.decode("utf-8")
    assert "<script" not in page.lower()
    # The page's one stylesheet is the one the policy allows (else the browser drops it).
    [css] = re.findall(r"<style>(.*?)</style>", page, re.S)
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
    assert f"style-src 'sha256-{digest}'" in policy
    assert " style=" not in page  # inline style attributes would need 'unsafe-hashes'


def test_a_holder_name_is_shown_as_text_never_as_markup(base, crpc, scheme, assessor,
                                                        assessment):
    name = "Ayu <script>alert(1)</script> & \"Putri\""
    _, certificate = issue_certificate(crpc, scheme, assessor, assessment, full_name=name)
    status, _, body = get(base, f"/certificates/{certificate['number']}", BROWSER_ACCEPT)
    page = body.decode("utf-8")
    assert status == 200
    assert "<script" not in page.lower()
    assert "Ayu &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Putri&quot;" in page
    assert name in visible_text(page)  # what a reader sees: the name, as typed


def test_a_suspended_certificate_says_so(base, crpc, issued):
    _, certificate = issued
    crpc.certification.suspend_certificate(certificate["number"], "Dalam pemeriksaan")
    status, _, body = get(base, f"/certificates/{certificate['number']}", BROWSER_ACCEPT)
    page = body.decode("utf-8")
    assert status == 200 and 'class="status status-suspended"' in page
    text = visible_text(page)
    assert "Status: Dibekukan / Suspended" in text and "Berlaku / Valid" not in text


def test_a_browser_gets_an_html_404_for_an_unknown_number(base):
    status, headers, body = get(base, f"/certificates/{UNKNOWN_NUMBER}", BROWSER_ACCEPT)
    assert status == 404 and headers["Content-Type"].startswith("text/html")
    assert "Accept" in headers["Vary"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    page = body.decode("utf-8")
    assert "<title>Sertifikat tidak ditemukan / Certificate not found</title>" in page
    text = visible_text(page)
    assert "Sertifikat tidak ditemukan / Certificate not found" in text
    assert UNKNOWN_NUMBER in text


def test_other_paths_keep_their_json_errors_for_browsers(base):
    """Only the verify page speaks HTML; the routing errors stay JSON."""
    status, headers, body = get(base, "/certificates/not-a-number", BROWSER_ACCEPT)
    assert status == 400 and json.loads(body)["fields"]["number"]
    status, headers, body = get(base, "/nothing-here", BROWSER_ACCEPT)
    assert status == 404 and json.loads(body)["error"] == "NotFound"
    status, headers, body = get(base, f"/certificates/{UNKNOWN_NUMBER}/credential",
                                BROWSER_ACCEPT)
    assert status == 404 and json.loads(body)["error"] == "NotFound"


# -- the page's words for each state (no service needed) -------------------------------

def view(**changes):
    return {"number": "CRT-2029-7KQ2-M9XD-4FJA", "valid": True, "status": "active",
            "holder_name": "Rina Wulandari", "scheme_code": "DKV-JUNIOR",
            "scheme_title": "Desainer Grafis Muda", "issued_at": "2026-12-12T02:00:00+00:00",
            "valid_until": "2029-12-11T16:30:00+00:00", **changes}


@pytest.mark.parametrize("changes, css_class, words", [
    ({}, "valid", "Berlaku / Valid"),
    ({"valid": False, "status": "suspended"}, "suspended", "Dibekukan / Suspended"),
    ({"valid": False, "status": "revoked"}, "revoked", "Dicabut / Revoked"),
    ({"valid": False, "status": "expired"}, "expired", "Kedaluwarsa / Expired"),
    # Past its date, before the daily expiry has marked it: already expired to a reader.
    ({"valid": False, "status": "active"}, "expired", "Kedaluwarsa / Expired"),
])
def test_each_state_has_its_own_words_and_look(changes, css_class, words):
    page = verify_page.certificate_page(view(**changes))
    assert f'class="status status-{css_class}"' in page
    text = visible_text(page)
    assert f"Status: {words}" in text
    others = {"Berlaku / Valid", "Dibekukan / Suspended", "Dicabut / Revoked",
              "Kedaluwarsa / Expired"} - {words}
    assert not any(other in text for other in others)
    # Dates are East Kalimantan's days: 16:30 UTC on the 11th is the 12th in WITA.
    assert "12 Desember 2029 / 12 December 2029" in text
    assert "12 Desember 2026 / 12 December 2026" in text


# -- in a real browser ----------------------------------------------------------------------

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is missing: run devtools/ensure-chromium.sh as root "
           "(apt-get install chromium chromium-driver)")


def chromium(tmp_path, *arguments):
    profile = tmp_path / "chromium-profile"
    try:
        return subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
             f"--user-data-dir={profile}", "--no-first-run", *arguments],
            capture_output=True, text=True, timeout=CHROMIUM_SECONDS, check=True)
    except subprocess.TimeoutExpired:
        pytest.fail(f"chromium did not finish within {CHROMIUM_SECONDS} s: {arguments}")
    except subprocess.CalledProcessError as error:
        pytest.fail(f"chromium failed ({error.returncode}): {error.stderr[-2000:]}")


@needs_chromium
def test_chromium_shows_a_person_a_valid_certificate(base, issued, tmp_path):
    member, certificate = issued
    dom = chromium(tmp_path, "--dump-dom",
                   f"{base}/certificates/{certificate['number']}").stdout
    assert '<html lang="id">' in dom
    text = visible_text(dom)
    until_id, until_en = readable(certificate["valid_until"])
    issued_id, issued_en = readable(certificate["issued_at"])
    for shown in (member["full_name"], certificate["scheme_title"], certificate["number"],
                  "Status: Berlaku / Valid", f"{issued_id} / {issued_en}",
                  f"{until_id} / {until_en}"):
        assert shown in text, (shown, text)
    assert "Dicabut" not in text
    assert '"holder_name"' not in dom and '{"number"' not in dom  # not the JSON


@needs_chromium
def test_chromium_shows_a_person_a_revoked_certificate(base, revoked, tmp_path):
    member, certificate = revoked
    dom = chromium(tmp_path, "--dump-dom",
                   f"{base}/certificates/{certificate['number']}").stdout
    text = visible_text(dom)
    for shown in (member["full_name"], certificate["scheme_title"], "Status: Dicabut / Revoked",
                  " / ".join(readable(certificate["valid_until"]))):
        assert shown in text, (shown, text)
    assert "Berlaku / Valid" not in text
    assert 'class="status status-revoked"' in dom
    assert '"holder_name"' not in dom and '{"number"' not in dom


# The status box's background in each look (the page's stylesheet): a screenshot
# shows it only when the page, with its stylesheet allowed, is what Chromium rendered.
STATUS_BACKGROUNDS = {"valid": (0xE7, 0xF6, 0xEC), "revoked": (0xFD, 0xEC, 0xEC)}


@needs_chromium
@pytest.mark.parametrize("state, certificate_fixture", [("valid", "issued"),
                                                        ("revoked", "revoked")])
def test_chromium_takes_a_screenshot_of_the_page_on_a_phone_sized_window(
        base, tmp_path, request, state, certificate_fixture):
    _, certificate = request.getfixturevalue(certificate_fixture)
    picture = tmp_path / "verify.png"
    chromium(tmp_path, f"--screenshot={picture}", "--window-size=412,915",
             "--hide-scrollbars", f"{base}/certificates/{certificate['number']}")
    data = picture.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000
    width, height, seen = png_colours(data)
    assert (width, height) == (412, 915)
    this_state = seen[STATUS_BACKGROUNDS[state]]
    assert this_state > 412 * 40, f"the {state} status box is not on the screenshot"
    assert all(seen[colour] == 0 for other, colour in STATUS_BACKGROUNDS.items()
               if other != state)


def png_colours(data):
    """``(width, height, Counter of (r, g, b))`` of an 8-bit RGB or RGBA PNG, the kind
    Chromium writes (no imaging library needed)."""
    position, compressed, header = 8, [], None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed.append(body)
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and not interlace, header
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(b"".join(compressed))
    stride = width * channels
    previous, seen = bytearray(stride), Counter()
    for row in range(height):
        start = row * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]),
                         previous, channels)
        seen.update(tuple(line[i:i + 3]) for i in range(0, stride, channels))
        previous = line
    return width, height, seen


def _unfilter(kind, line, previous, channels):
    """Undo one PNG row filter (RFC 2083, 6): none, sub, up, average, Paeth."""
    for i in range(len(line)):
        left = line[i - channels] if i >= channels else 0
        up = previous[i]
        if kind == 1:
            line[i] = (line[i] + left) & 255
        elif kind == 2:
            line[i] = (line[i] + up) & 255
        elif kind == 3:
            line[i] = (line[i] + ((left + up) >> 1)) & 255
        elif kind == 4:
            up_left = previous[i - channels] if i >= channels else 0
            guess = left + up - up_left
            nearest = min((abs(guess - left), 0, left), (abs(guess - up), 1, up),
                          (abs(guess - up_left), 2, up_left))
            line[i] = (line[i] + nearest[2]) & 255
    return line
