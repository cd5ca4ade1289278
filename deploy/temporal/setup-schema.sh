#!/bin/sh
# temporal-schema job (temporalio/admin-tools): create Temporal's databases and bring their schemas to the version
# this image ships, before the server starts. Safe to run on every `up`: setup-schema skips a database that already
# has a version, and update-schema only applies what is missing (this is also how a server upgrade migrates).
# Environment: SQL_HOST, SQL_PORT, SQL_USER, SQL_PASSWORD (read by temporal-sql-tool), TEMPORAL_DB, VISIBILITY_DB.
set -eu

SCHEMA=/etc/temporal/schema/postgresql/v12

until nc -z "$SQL_HOST" "$SQL_PORT"; do
    echo "waiting for PostgreSQL at $SQL_HOST:$SQL_PORT"
    sleep 2
done

setup() {
    database=$1
    schema_dir=$2
    # `create` fails when the database exists (the postgres image makes one named after its user): that is fine,
    # and any real connection problem fails setup-schema right after.
    temporal-sql-tool --plugin postgres12 --db "$database" create || echo "database $database exists"
    temporal-sql-tool --plugin postgres12 --db "$database" setup-schema -v 0.0
    temporal-sql-tool --plugin postgres12 --db "$database" update-schema -d "$schema_dir"
}

setup "$TEMPORAL_DB" "$SCHEMA/temporal/versioned"
setup "$VISIBILITY_DB" "$SCHEMA/visibility/versioned"
echo "Temporal schemas are up to date"
