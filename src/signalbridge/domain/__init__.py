"""Pure domain types and rules. Nothing here does I/O or imports the rest of the package."""
