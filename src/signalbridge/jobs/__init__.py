"""Queue wiring, thin task definitions and the periodic scheduler."""
