"""The certification use cases, a module per aggregate: load, apply a domain rule,
store, record the message.

    schemes       schemes (skema) and their units
    assessors     assessors (asesor) and the schemes each may assess
    sessions      assessment sessions at a venue (TUK)
    applications  applying for a session, and the assessment's result
    certificates  certificates: issue, verify, suspend, reinstate, revoke, expire
    member_view   what certification knows of members and the trainings they attended

Each use case takes the worker's session (and outbox, signer, members proxy as
needed); the entrypoint's transaction commits them together. Rules live in
``domain.py``.
"""
