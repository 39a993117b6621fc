"""All SQL, by concern: turns, search, tenants and keys, the data lifecycle (erasure,
retention, the read audit trail, VACUUM), the vector index, and whether the database answers.

Statements are raw, parameterised SQL kept as named constants (``psycopg.sql`` only for fixed
fragments); functions take a connection, never commit, and return typed rows.
"""
