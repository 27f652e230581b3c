"""The read-only analytics app (Streamlit), shipped with the package and served by ``lakehouse app``.

``main.py`` is the script Streamlit runs, ``views/`` holds its pages, ``asgi_app.py`` adds the app's routes to
them, and :mod:`lakehouse.app.server` starts it in a server process (the only module here that does not import
Streamlit). The other modules are what the pages share: the lakehouse connection, cached queries, charts and
messages.

Everything here reads through the public ``lakehouse`` API. Query results are cached under keys that
include the versions of the tables they read (``Lakehouse.table_versions()``), so a new commit changes the
key and the next page load reads it: nothing stale is served, and nothing is read twice while unchanged.
"""
