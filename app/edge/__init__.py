"""The HTTP edge: one request's life, from the first byte in to the commit and the answer.

It sits above core, auth and audit and below the domains, whose routers are made with it:
the unit-of-work route (:mod:`.routing`), the middleware (:mod:`.middleware`), the problem
answers (:mod:`.problems`), what a route depends on (:mod:`.deps`), the page's parameters
(:mod:`.pagination`), small answers (:mod:`.responses`), and the OpenAPI document
(:mod:`.openapi`, :mod:`.answers`, :mod:`.examples`).
"""
