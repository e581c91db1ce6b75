"""MetaTrader 4/5 through MetaApi's REST API: ``client`` (HTTP), ``errors`` (translation),
``adapter`` (the ExchangeAdapter; its ``register(registry)`` adds the ``metaapi`` type)."""
