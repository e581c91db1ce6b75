"""The built-in paper exchange: a simulated venue with the capabilities of a real one.

``venue`` holds the matching and accounting rules (pure, synchronous), ``store`` keeps the
state (the protocol and the in-memory store; the SQL one, which survives a process kill,
is ``store.paper_book`` on the store side, passed in through ``AdapterDeps.paper_store``),
``feeds`` produce prices, ``exchange`` ties them together for many accounts and
``adapter`` exposes one account as an ExchangeAdapter.
"""
