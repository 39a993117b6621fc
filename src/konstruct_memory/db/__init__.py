"""The database. Connections: which database (``urls``), migrations, start-up (``runtime``),
the pool and the one tenant transaction (``tenant``), read replicas, the background VACUUM.
The embedded server, from its programs to its supervisor, is the ``embedded`` subpackage."""
