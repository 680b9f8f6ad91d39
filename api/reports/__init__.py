"""The reports resource."""
