"""Report definitions: saved requests, their runs, and schedule previews."""
