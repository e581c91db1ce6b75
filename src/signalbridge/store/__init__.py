"""Storage: SQLAlchemy models, engine and session factory, migrations."""
