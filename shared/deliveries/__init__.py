"""Deliveries: a definition's finished file sent to people and places (DESIGN.md section 9)."""
