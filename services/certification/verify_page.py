"""What ``GET /certificates/<number>`` answers: the URL a printed certificate's QR code
holds, opened by people (a browser) and by programs alike.

A request whose Accept ranks ``text/html`` above ``application/json`` (a browser's
does) gets a page: Bahasa Indonesia first, English beside it. Everything else (no
Accept, ``*/*``, ``application/json``, anything unclear) gets the contract's JSON,
unchanged. Both carry ``Vary: Accept``.

The page is ``templates/verify.html`` around ``verify_certificate.html`` or
``verify_not_found.html``, filled with ``string.Template``; every value is
HTML-escaped first, so a holder's name is shown as text, never read as markup. The
page needs no script, image or font: its policy allows only its own stylesheet.
"""
import base64
import hashlib
import html
import re
import string
from datetime import timedelta, timezone
from pathlib import Path
from urllib.parse import quote

from services.certification.operations import certificates
from shared.errors import NotFound
from shared.timeutil import parse_iso_datetime
from shared.web import html_response, json_response, response_for_exception

TEMPLATE_DIR = Path(__file__).parent / "templates"
WITA = timezone(timedelta(hours=8), "WITA")  # East Kalimantan's time, as in the notices
MONTHS = {
    "id": ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus",
           "September", "Oktober", "November", "Desember"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
}

# What a person reads for each state: a class (colour and border), a mark, the
# words in Indonesian and English, and a sentence on what it means.
STATES = {
    "valid": ("valid", "\u2713", "Berlaku", "Valid",
              "Sertifikat ini sah dan berlaku.",
              "This certificate is genuine and in force."),
    "suspended": ("suspended", "\u2016", "Dibekukan", "Suspended",
                  "Sertifikat ini sedang dibekukan dan tidak berlaku selama pembekuan.",
                  "This certificate is suspended and not in force while it is."),
    "revoked": ("revoked", "\u2717", "Dicabut", "Revoked",
                "Sertifikat ini telah dicabut dan tidak berlaku lagi.",
                "This certificate has been revoked and is no longer in force."),
    "expired": ("expired", "\u25f7", "Kedaluwarsa", "Expired",
                "Masa berlaku sertifikat ini telah berakhir.",
                "This certificate's period of validity has ended."),
}


def _template(name):
    return string.Template((TEMPLATE_DIR / name).read_text(encoding="utf-8"))


LAYOUT = _template("verify.html")
CERTIFICATE = _template("verify_certificate.html")
NOT_FOUND = _template("verify_not_found.html")


def _page_policy(layout):
    """A Content-Security-Policy allowing the layout's one stylesheet (by its hash,
    so an injected style would not apply either) and nothing else."""
    css = re.search(r"<style>(.*?)</style>", layout.template, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(css.encode("utf-8")).digest()).decode()
    return (f"default-src 'none'; style-src 'sha256-{digest}'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'")


PAGE_HEADERS = {"Content-Security-Policy": _page_policy(LAYOUT)}


def answer(request, db, number):
    """The verify view of ``number``, as a page or as JSON (404 in the same kind)."""
    as_page = prefers_html(request)
    try:
        view = certificates.verify(db, number)
    except NotFound as exc:
        response = (html_response(not_found_page(number), status=404, headers=PAGE_HEADERS)
                    if as_page else response_for_exception(exc))
    else:
        response = (html_response(certificate_page(view), headers=PAGE_HEADERS)
                    if as_page else json_response(view))
    response.vary.add("Accept")
    return response


def prefers_html(request):
    """Whether Accept ranks HTML above JSON, by q-values. JSON is listed first, so
    a tie (``*/*``) is JSON; no Accept, or one naming neither, is JSON too."""
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html"


def state_of(view):
    """``valid``, ``suspended``, ``revoked`` or ``expired``. An ``active`` certificate
    past its date (before the daily expiry has run) is already expired to a reader."""
    if view["valid"]:
        return "valid"
    return view["status"] if view["status"] in STATES else "expired"


def certificate_page(view):
    css_class, mark, status_id, status_en, note_id, note_en = STATES[state_of(view)]
    values = {
        "number": view["number"], "holder_name": view["holder_name"],
        "scheme_title": view["scheme_title"], "scheme_code": view["scheme_code"],
        "status_class": css_class, "status_mark": mark,
        "status_id": status_id, "status_en": status_en, "note_id": note_id, "note_en": note_en,
        "issued_id": readable_date(view["issued_at"], "id"),
        "issued_en": readable_date(view["issued_at"], "en"),
        "valid_until_id": readable_date(view["valid_until"], "id"),
        "valid_until_en": readable_date(view["valid_until"], "en"),
        "credential_href": f"/certificates/{quote(view['number'], safe='')}/credential",
    }
    title = f"Sertifikat {view['number']}: {status_id} / {status_en}"
    return _page(title, CERTIFICATE.substitute(_escaped(values)))


def not_found_page(number):
    main = NOT_FOUND.substitute(_escaped({"number": number}))
    return _page("Sertifikat tidak ditemukan / Certificate not found", main)


def _page(title, main):
    return LAYOUT.substitute(title=html.escape(title), main=main)


def _escaped(values):
    return {key: html.escape(str(value), quote=True) for key, value in values.items()}


def readable_date(value, locale):
    """``12 Desember 2029`` / ``12 December 2029``: the day in East Kalimantan (WITA)."""
    moment = parse_iso_datetime(value, "date").astimezone(WITA)
    return f"{moment.day} {MONTHS[locale][moment.month - 1]} {moment.year}"
