"""Device-layer failures; transport errors are translated into these at the adapter boundary."""

from __future__ import annotations


class DeviceError(Exception):
    """Base of device failures; the message names the device and what happened."""


class DeviceLost(DeviceError):
    """The device (or the port, bus or broker link it hangs on) stopped answering."""


class DeviceRefused(DeviceError):
    """The device answered but refused or garbled a command."""
