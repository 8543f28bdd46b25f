"""The web layer every HTML page shares: the language, the text catalogue, the rendering.

Visitor pages (``visits/pages.py``) and staff pages (``live/pages.py``) keep their routes in
their domains and render through ``web.render``; texts live in ``web.catalogue``.
"""
