"""The certificate signer, as a nameko dependency.

On start it loads the signing key (``CERT_SIGNING_KEY_FILE``, or one made once
under var/) and records its public key in ``signing_keys``, where every key ever
used stays, so that ``/.well-known/jwks.json`` keeps publishing old keys after a
rotation and old certificates still verify.
"""
from nameko.extensions import DependencyProvider
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.certification.models import SigningKey
from services.certification.signing import Signer, load_or_create_private_key
from shared import config as cfg
from shared.db import find_database
from shared.settings import settings_of
from shared.timeutil import utcnow


class CertificateSigner(DependencyProvider):
    def setup(self):
        settings = settings_of(self.container)
        key = load_or_create_private_key(settings.CERT_SIGNING_KEY_FILE,
                                         cfg.var_dir(settings))
        self.signer = Signer(key)

    def start(self):
        # After every setup(): the Database has migrated the schema by now.
        engine = find_database(self.container).engine
        with Session(engine) as session:
            if session.get(SigningKey, self.signer.kid) is None:
                session.add(SigningKey(kid=self.signer.kid, public_jwk=self.signer.public_jwk,
                                       first_used_at=utcnow()))
                try:
                    session.commit()
                except IntegrityError:  # another instance with the same key recorded it first
                    session.rollback()

    def get_dependency(self, worker_ctx):
        return self.signer
