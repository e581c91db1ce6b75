"""SignalBridge: a self-hosted trading-signal hub."""

__version__ = "0.1.0"
