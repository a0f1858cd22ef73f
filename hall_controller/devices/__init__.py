"""Device adapters: frames <-> domain inputs and outputs, supervised and reconnected."""
