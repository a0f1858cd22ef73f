"""RS-485 gateway: presents each device on a serial bus as an MQTT device of the hall's tree."""
