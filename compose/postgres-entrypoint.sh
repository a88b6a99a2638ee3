#!/bin/sh
# Initialises $PGDATA on first start (user, password, database from POSTGRES_*), then runs
# postgres in the foreground as PID 1's replacement, so `docker stop` shuts it down cleanly.
# Runs as the postgres user (the image's USER): no root, no capability, no change of user; it
# writes only $PGDATA (a volume), /var/run/postgresql and /tmp (tmpfs or emptyDir), so the root
# file system may be read-only.
set -eu
if [ "$(id -u)" = 0 ]; then
  echo "postgres-entrypoint.sh: running as root; run as the postgres user (uid 999), e.g. user: \"999:999\"" >&2
  exit 1
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
mkdir -p "$PGDATA"
chmod 700 "$PGDATA"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}" > "$pwfile"
  "$bin/initdb" -D "$PGDATA" -U "$user" --pwfile="$pwfile" --encoding=UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256
  rm -f "$pwfile"
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  "$bin/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start
  if [ "$db" != postgres ]; then
    psql -v ON_ERROR_STOP=1 -U "$user" -d postgres -c "CREATE DATABASE \"$db\""
  fi
  "$bin/pg_ctl" -D "$PGDATA" -m fast -w stop
fi
exec "$bin/postgres" -D "$PGDATA" -c listen_addresses='*'
