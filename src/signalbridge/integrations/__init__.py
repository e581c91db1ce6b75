"""The integration kernel: the one way SignalBridge talks to any outside system."""
