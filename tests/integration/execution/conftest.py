from tests.fakes.binance import binance_server, fake_binance  # noqa: F401
from tests.integration.execution.test_engine_fixtures import rig  # noqa: F401
