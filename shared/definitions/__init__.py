"""Report definitions: saved requests, their schedules and relative periods."""
