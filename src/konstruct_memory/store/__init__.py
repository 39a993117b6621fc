"""All SQL, by concern: turns, search, tenants and keys, the vector index.

Statements are raw, parameterised SQL kept as named constants (``psycopg.sql`` only for fixed
fragments); functions take a connection, never commit, and return typed rows.
"""
