"""The order lifecycle: planner, engine (intent first, exactly once), exits, resting
protection, cancel, reconcile, position sync and the monitor. Venue adapters live in
``signalbridge.venues``."""
