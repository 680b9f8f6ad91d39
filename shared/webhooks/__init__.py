"""Webhooks (DESIGN.md section 10): the pure rules, the tables' statements, event writing."""
