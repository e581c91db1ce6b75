"""MetaTrader 4/5 through MetaApi's REST API: ``client`` (HTTP), ``errors`` (translation),
``adapter`` (the ExchangeAdapter; importing it registers the ``metaapi`` exchange type)."""
