"""The certification service: competence testing (uji kompetensi), signed
certificates and their public verification.

Entrypoints only; use cases in ``operations/`` (a module per aggregate), rules in
``domain.py``.
"""
from pathlib import Path

from services.certification import signing, verify_page
from services.certification.operations import (
    applications, assessors, certificates, member_view, schemes, sessions,
)
from services.certification.dependencies import CertificateSigner
from shared.db import Database
from shared.entrypoints import rpc, timer
from shared.handlers import event_handler
from shared.member_view import keeps_member_view
from shared.outbox import Outbox
from shared.rpc import TimedRpcProxy
from shared.settings import ServiceSettings
from shared.web import http, json_response, secure
from shared import observability
from werkzeug.wrappers import Response


@keeps_member_view(member_view.apply_member_record)
class CertificationService(observability.Observable):
    name = "certification"

    db = Database(migrations_dir=Path(__file__).parent / "migrations")
    outbox = Outbox()
    signer = CertificateSigner()
    members = TimedRpcProxy("members")
    settings = ServiceSettings()

    @property
    def public_base_url(self):
        return self.settings.PUBLIC_BASE_URL

    # -- schemes, assessors, sessions ------------------------------------------

    @rpc
    def create_scheme(self, data):
        return schemes.create_scheme(self.db, data)

    @rpc(read_only=True)
    def get_scheme(self, code):
        return schemes.get_scheme(self.db, code)

    @rpc(read_only=True)
    def list_schemes(self, filters=None):
        return schemes.list_schemes(self.db, filters)

    @rpc
    def register_assessor(self, data):
        return assessors.register_assessor(self.db, self.members, data)

    @rpc(read_only=True)
    def get_assessor(self, assessor_id):
        return assessors.get_assessor(self.db, assessor_id)

    @rpc(read_only=True)
    def list_assessors(self, filters=None):
        return assessors.list_assessors(self.db, filters)

    @rpc
    def schedule_session(self, data):
        return sessions.schedule_assessment_session(self.db, data)

    @rpc(read_only=True)
    def get_session(self, session_id):
        return sessions.get_assessment_session(self.db, session_id)

    @rpc(read_only=True)
    def list_sessions(self, filters=None):
        return sessions.list_assessment_sessions(self.db, filters)

    # -- applications and results ----------------------------------------------

    @rpc
    def apply(self, data):
        return applications.apply(self.db, self.outbox, self.members, data)

    @rpc(read_only=True)
    def get_application(self, application_id):
        return applications.get_application(self.db, application_id)

    @rpc(read_only=True)
    def list_applications(self, filters=None):
        return applications.list_applications(self.db, filters)

    @rpc
    def record_result(self, application_id, data):
        return applications.record_result(self.db, self.outbox, self.signer,
                                          self.public_base_url, application_id, data)

    # -- certificates --------------------------------------------------------------

    @rpc(read_only=True)
    def get_certificate(self, number):
        return certificates.get_certificate(self.db, number)

    @rpc(read_only=True)
    def list_certificates(self, filters=None):
        return certificates.list_certificates(self.db, filters)

    @rpc(read_only=True)
    def verify(self, number):
        return certificates.verify(self.db, number)

    @rpc
    def suspend_certificate(self, number, reason):
        return certificates.change_certificate_status(
            self.db, self.outbox, self.public_base_url, number, "suspend", reason)

    @rpc
    def reinstate_certificate(self, number):
        return certificates.change_certificate_status(
            self.db, self.outbox, self.public_base_url, number, "reinstate")

    @rpc
    def revoke(self, number, reason):
        return certificates.change_certificate_status(
            self.db, self.outbox, self.public_base_url, number, "revoke", reason)

    @rpc
    def expire_due(self, now=None):
        return certificates.expire_due(self.db, self.outbox, self.public_base_url, now)

    @timer("CERTIFICATE_EXPIRY_CHECK_SECONDS", eager=True)
    def expire_due_daily(self):
        certificates.expire_due(self.db, self.outbox, self.public_base_url)

    # -- public HTTP (no login) -----------------------------------------------------

    @http("/certificates/<string:number>")
    def http_verify(self, request, number):
        """JSON for programs; a page for people, whose browsers ask for HTML."""
        return verify_page.answer(request, self.db, number)

    @http("/certificates/<string:number>/credential")
    def http_credential(self, request, number):
        return secure(Response(certificates.credential(self.db, number),
                               mimetype="application/jose"))

    @http("/certificates/<string:number>/qr.svg")
    def http_qr(self, request, number):
        certificates.get_certificate(self.db, number)  # 404 for an unknown number
        svg = signing.qr_svg(certificates.verify_url(self.public_base_url, number))
        return secure(Response(svg, mimetype="image/svg+xml"))

    @http("/.well-known/jwks.json")
    def http_jwks(self, request):
        return json_response(certificates.jwks(self.db))

    # -- what certification learns from other services ------------------------------
    # (and from members' messages: the view kept by @keeps_member_view above)

    @event_handler("events", "attendance_recorded")
    def on_attendance_recorded(self, event):
        member_view.record_training_attendance(self.db, event["data"])
