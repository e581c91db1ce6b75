from tests.platform_fixtures import database_url, harness, pg_database, pg_server  # noqa: F401
