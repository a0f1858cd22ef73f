"""Queue and kiosk controller for one-door government service halls."""

__version__ = "0.1.0"
