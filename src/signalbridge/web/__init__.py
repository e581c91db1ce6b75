"""FastAPI app: REST API, inbound webhooks, health and metrics."""
