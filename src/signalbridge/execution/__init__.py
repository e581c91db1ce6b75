"""Execution: the ExchangeAdapter protocol (``base``), symbol mapping and the venues."""
