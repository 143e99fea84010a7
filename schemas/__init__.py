"""Veil's data contracts: enumerations, element types, table schemas and expectation suites."""
