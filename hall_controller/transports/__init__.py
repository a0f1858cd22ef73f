"""Byte pipes to devices (serial, MQTT, USB, GPIO, PC/SC). They move bytes and decide nothing."""
