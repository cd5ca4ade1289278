#!/bin/sh
# Runs once, when the postgres container starts on an empty data volume (docker-entrypoint-initdb.d).
# The c2c store gets its own role and database: c2c never connects as the superuser Temporal uses.
# Temporal's own databases (temporal, temporal_visibility) are made by the temporal-schema job.
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
    -v store_password="$STORE_DB_PASSWORD" <<'SQL'
CREATE ROLE c2c LOGIN PASSWORD :'store_password';
CREATE DATABASE c2c OWNER c2c;
SQL
