"""Programs that speak the hall's MQTT topic tree on behalf of devices that cannot."""
