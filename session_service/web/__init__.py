"""The web layer: ``request.session`` (:mod:`.session`), the signed cookie (:mod:`.cookie`) and
the ASGI middleware that loads and saves one per request (:mod:`.middleware`)."""
