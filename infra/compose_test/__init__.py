"""make compose-test: the compose stack on a real Docker engine, checked through its ports."""
