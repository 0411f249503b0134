#!/usr/bin/env bash
# pg.sh — a throwaway PostgreSQL cluster for tests, benchmarks and local runs.
#
#   scripts/pg.sh [DIR]        start (initdb on first use) and print the DSN
#   scripts/pg.sh stop [DIR]   stop it
#
# DIR defaults to /tmp/publicmask-pg; the port to $PGPORT or 55432. The
# cluster listens on 127.0.0.1 only and has role and database "publicmask"
# (password "publicmask"). Running it again while it runs only prints the DSN,
# so CI and developers can call it unconditionally:
#
#   export PUBLICMASK_TEST_POSTGRES=$(scripts/pg.sh)
#   go test ./postgres
set -euo pipefail

cmd=start
case "${1:-}" in
start | stop | status) cmd=$1; shift ;;
esac
DIR=${1:-/tmp/publicmask-pg}
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac
PORT=${PGPORT:-55432}
DSN="postgres://publicmask:publicmask@127.0.0.1:${PORT}/publicmask?sslmode=disable"

log() { echo "pg.sh: $*" >&2; }

find_bindir() {
	# Debian installs the binaries per major version, outside $PATH.
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
	if [ -n "$d" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/psql" ]; then
		echo "$d"
		return
	fi
	if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1 && command -v psql >/dev/null 2>&1; then
		dirname "$(command -v pg_ctl)"
	fi
}

BINDIR=$(find_bindir)
if [ -z "$BINDIR" ]; then
	if [ "$cmd" = stop ]; then
		exit 0
	fi
	log "PostgreSQL not found; installing Debian's package"
	if [ "$(id -u)" -ne 0 ]; then
		SUDO=sudo
	else
		SUDO=
	fi
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update >&2
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql >&2
	BINDIR=$(find_bindir)
	[ -n "$BINDIR" ] || { log "postgresql installed but pg_ctl not found"; exit 1; }
fi

# PostgreSQL refuses to run as root: as root, run it as the "postgres" user
# (created by the Debian package) in a directory that user owns.
RUNAS=()
if [ "$(id -u)" -eq 0 ]; then
	if ! id postgres >/dev/null 2>&1; then
		useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
	fi
	if command -v runuser >/dev/null 2>&1; then
		RUNAS=(runuser -u postgres --)
	else
		RUNAS=(su postgres -s /bin/sh -c '"$0" "$@"')
	fi
fi
# From / so that the postgres user is not left in a directory it cannot read.
as_pg() { (cd / && "${RUNAS[@]}" "$@"); }

PGDATA="$DIR/data"
pg() { as_pg "$BINDIR/pg_ctl" -D "$PGDATA" "$@"; }

running() { [ -f "$PGDATA/postmaster.pid" ] && pg status >/dev/null 2>&1; }

if [ "$cmd" = stop ]; then
	if running; then
		pg stop -m fast -w >&2
	fi
	exit 0
fi
if [ "$cmd" = status ]; then
	if running; then echo "$DSN"; exit 0; fi
	exit 3
fi

ensure_db() {
	psql_pg() { as_pg "$BINDIR/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
	if [ "$(psql_pg -c "SELECT 1 FROM pg_roles WHERE rolname = 'publicmask'")" != 1 ]; then
		psql_pg -c "CREATE ROLE publicmask LOGIN PASSWORD 'publicmask'"
	fi
	# CREATEDB: a test makes a database of its own to change its defaults
	# (postgres: TestSessionsCommitSynchronouslyWhateverTheDefault).
	psql_pg -c "ALTER ROLE publicmask CREATEDB"
	if [ "$(psql_pg -c "SELECT 1 FROM pg_database WHERE datname = 'publicmask'")" != 1 ]; then
		psql_pg -c "CREATE DATABASE publicmask OWNER publicmask"
	fi
}

if running; then
	# Already up: make sure a half-finished earlier run left the role and
	# database, then just print the DSN.
	ensure_db
	echo "$DSN"
	exit 0
fi

mkdir -p "$DIR"
if [ "$(id -u)" -eq 0 ]; then
	chown postgres: "$DIR"
fi
if [ ! -f "$PGDATA/PG_VERSION" ]; then
	pwfile="$DIR/.pw"
	as_pg sh -c "umask 077; echo postgres > '$pwfile'"
	as_pg "$BINDIR/initdb" -D "$PGDATA" -U postgres --pwfile="$pwfile" \
		--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >&2 ||
		as_pg "$BINDIR/initdb" -D "$PGDATA" -U postgres --pwfile="$pwfile" \
			--auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C >&2
	rm -f "$pwfile"
	# fsync stays on: benchmarks must measure durable commits. The lower
	# deadlock_timeout makes the (rare) lock cycle between two ledger
	# batches cost 100 ms instead of 1 s before the store retries it; it is a
	# superuser setting, so production sets it in postgresql.conf too.
	as_pg sh -c "cat >> '$PGDATA/postgresql.conf'" <<EOF

# publicmask throwaway cluster (scripts/pg.sh)
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$DIR'
fsync = on
synchronous_commit = on
max_connections = 300
deadlock_timeout = 100ms
log_min_messages = warning
EOF
fi

# The port lies in Linux's ephemeral range, so an outgoing connection may hold
# it for a while (TIME_WAIT): retry for up to a minute before giving up.
for attempt in $(seq 1 13); do
	if as_pg "$BINDIR/pg_ctl" -D "$PGDATA" -l "$DIR/postgres.log" -w -t 60 start >&2; then
		break
	fi
	if [ "$attempt" -lt 13 ] && tail -n 5 "$DIR/postgres.log" | grep -q "Address already in use"; then
		log "port $PORT busy; retrying in 5 s"
		sleep 5
		continue
	fi
	log "start failed; last log lines:"
	tail -n 20 "$DIR/postgres.log" >&2 || true
	exit 1
done

ensure_db
echo "$DSN"
