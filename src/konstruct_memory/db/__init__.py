"""The database: embedded server, provisioning, migrations, URLs, the pool and the one tenant
transaction."""
