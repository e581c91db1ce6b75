"""Exchange and broker adapters: the venue protocol, paper, CCXT and MetaApi."""
