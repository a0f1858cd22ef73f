"""Simulated hall devices that speak the real bytes and MQTT topics, for the demo, a technician's
`simulate` console and the tests.

peers.py: serial devices as pure peers; buses.py: one port's device side; mqtt_peers.py: MQTT
devices; hall.py: a whole hall config simulated; console.py: the technician's commands;
usb_hid.py: a USB bus as a pyusb backend, with HID call pads (in-process only).
"""

from __future__ import annotations

from hall_controller.simulators.buses import SimulatedBus
from hall_controller.simulators.console import run_console, stdin_lines
from hall_controller.simulators.hall import (
    BadArgument,
    SimulatedHall,
    SimulatorError,
    UnknownDevice,
    Unsupported,
)
from hall_controller.simulators.mqtt_peers import (
    Broker,
    MqttCallPadPeer,
    MqttPeer,
    MqttRatingPadPeer,
    MqttWindowDisplayPeer,
    PeerModel,
)
from hall_controller.simulators.peers import (
    BusPeer,
    CallPadPeer,
    LedBoardPeer,
    ModbusDisplayPeer,
    RatingPadPeer,
    Rf433ReceiverPeer,
)
from hall_controller.simulators.usb_hid import SimulatedHidPad, SimulatedUsbBus, bus_for_devices

__all__ = [
    "BadArgument",
    "Broker",
    "BusPeer",
    "CallPadPeer",
    "LedBoardPeer",
    "ModbusDisplayPeer",
    "MqttCallPadPeer",
    "MqttPeer",
    "MqttRatingPadPeer",
    "MqttWindowDisplayPeer",
    "PeerModel",
    "RatingPadPeer",
    "Rf433ReceiverPeer",
    "SimulatedBus",
    "SimulatedHall",
    "SimulatedHidPad",
    "SimulatedUsbBus",
    "SimulatorError",
    "UnknownDevice",
    "Unsupported",
    "bus_for_devices",
    "run_console",
    "stdin_lines",
]
