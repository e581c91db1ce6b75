"""The parser's tests import its modules directly: choose the build first, as the CLI does
(a stale compiled build must not be what they test)."""

from signalbridge.parsing import select_build

select_build()
