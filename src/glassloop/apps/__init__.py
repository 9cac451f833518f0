"""The course text's services, ready to serve on glassloop (ring 4).

``math_api`` is the text's FastAPI example grown into a small calculator,
``phrases`` its aiohttp example (with an embedded stand-in for the phrase API
it called), and ``serve`` runs them -- or any ASGI app -- on one glassloop
loop for ``glassloop serve``.  These three import FastAPI, uvicorn and
aiohttp (``pip install 'glassloop[demo]'``), and nothing outside this package
imports them, so the loop itself keeps no dependencies.  ``uvicorn_loop``
(the hook for ``uvicorn --loop``) imports none of them.
"""
