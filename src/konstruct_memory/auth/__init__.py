"""Credentials become principals: API keys (hashed), the admin token."""
