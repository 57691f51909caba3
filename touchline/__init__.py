"""Touchline: self-hosted sales sequences and campaign analytics."""
