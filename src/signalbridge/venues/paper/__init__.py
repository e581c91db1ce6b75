"""The built-in paper exchange: a simulated venue with the capabilities of a real one.

``venue`` holds the matching and accounting rules (pure, synchronous), ``store`` and
``sql_store`` keep the state (in memory or in SQL, so it survives a process kill),
``feeds`` produce prices, ``exchange`` ties them together for many accounts and
``adapter`` exposes one account as an ExchangeAdapter.
"""
