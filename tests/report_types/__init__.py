"""Throwaway report types for tests, registered through REPORT_TYPE_MODULES."""
