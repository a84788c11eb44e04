"""The HTTP edge: one request's life around its route, from the first byte in to the commit
and the answer.

It sits above core, auth and audit and below the domains, whose routers are made with it
(the layers are in pyproject.toml, checked by ``make lint``): the unit-of-work route
(:mod:`.routing`), the middleware (:mod:`.middleware`) and the audit's (:mod:`.audit`), the
problem answers (:mod:`.problems`), what a route depends on (:mod:`.deps`: the session, the
caller, the ``Idempotency-Key``), a list's page parameters (:mod:`.pagination`), small answers
(:mod:`.responses`), and the OpenAPI document (:mod:`.openapi`, :mod:`.answers`,
:mod:`.examples`).
"""
