"""The CCXT adapter: a generic adapter plus small per-exchange modules for quirks."""
