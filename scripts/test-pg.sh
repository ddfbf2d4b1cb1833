#!/usr/bin/env bash
# PostgreSQL for the test suite, with or without Docker.
#
#   scripts/test-pg.sh up          start it (idempotent: running it twice is fine)
#   scripts/test-pg.sh down        stop it and delete its data (no error when nothing runs)
#   scripts/test-pg.sh with-db CMD up, run CMD with SESSION_TEST_PG_URL and
#                                  SESSION_TEST_REQUIRE_PG=1 set, down (even if CMD fails);
#                                  exits with CMD's status
#   scripts/test-pg.sh url         print the URL the tests should use
#   scripts/test-pg.sh status      say what is running
#
# Either way the server answers at the same URL:
#   postgresql://session_test:session_test@127.0.0.1:54320/sessions
#
# How `up` chooses (TEST_PG_MODE=docker or TEST_PG_MODE=local forces one):
#   1. a Docker engine answers (`docker info`): docker-compose-test-deps.yml, service session_db;
#   2. else PostgreSQL server binaries are installed (initdb, pg_ctl, postgres: found on PATH,
#      then in `pg_config --bindir`, then in /usr/lib/postgresql/*/bin; PG_BINDIR=DIR forces a
#      directory): a throwaway cluster in .test-pg/ (or a directory under /tmp when the
#      cluster's owner cannot reach the checkout), listening on 127.0.0.1:54320 only;
#   3. else it fails and says what to install.
# PostgreSQL refuses to run as root, so as root the local cluster runs as the `postgres` user
# when it exists, else as a system user `session-test-pg` created for it (TEST_PG_OS_USER=NAME
# picks another).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMPOSE_FILE="$ROOT/docker-compose-test-deps.yml"
PG_PORT=54320
PG_DB=sessions
PG_USER=session_test
PG_PASSWORD=session_test
TEST_PG_URL="postgresql://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${PG_PORT}/${PG_DB}"
MODE="${TEST_PG_MODE:-auto}"

log() { printf 'test-pg: %s\n' "$*" >&2; }
die() {
    printf 'test-pg: error: %s\n' "$*" >&2
    exit 1
}

# -- Docker ---------------------------------------------------------------------------------

docker_answers() {
    command -v docker >/dev/null 2>&1 || return 1
    if command -v timeout >/dev/null 2>&1; then
        timeout 20 docker info >/dev/null 2>&1
    else
        docker info >/dev/null 2>&1
    fi
}

compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose -f "$COMPOSE_FILE" "$@"
    elif command -v docker-compose >/dev/null 2>&1; then
        docker-compose -f "$COMPOSE_FILE" "$@"
    else
        die "a Docker engine answers but Docker Compose is missing: install the Docker Compose plugin (docker compose)"
    fi
}

docker_up() {
    log "starting service session_db from $(basename "$COMPOSE_FILE") (Docker)"
    compose up -d --wait session_db
    log "PostgreSQL is ready at $TEST_PG_URL"
}

docker_down() {
    log "stopping session_db and removing its volume (Docker)"
    compose down -v --remove-orphans
}

# -- A local throwaway cluster ----------------------------------------------------------------

has_server_bins() {
    [ -n "$1" ] && [ -x "$1/initdb" ] && [ -x "$1/pg_ctl" ] && [ -x "$1/postgres" ]
}

resolve() {
    readlink -f "$1" 2>/dev/null || printf '%s\n' "$1"
}

# Print the directory holding initdb, pg_ctl and postgres, or fail.
find_bindir() {
    local found dir
    if [ -n "${PG_BINDIR:-}" ]; then
        has_server_bins "$PG_BINDIR" || die "PG_BINDIR=$PG_BINDIR does not hold initdb, pg_ctl and postgres"
        printf '%s\n' "$PG_BINDIR"
        return 0
    fi
    if found=$(command -v initdb 2>/dev/null) && command -v pg_ctl >/dev/null 2>&1; then
        # The PATH entry may be a symlink (Debian's /usr/local/bin, Homebrew): the real
        # directory holds the server binary that pg_ctl will start.
        for dir in "$(dirname "$found")" "$(dirname "$(resolve "$found")")"; do
            if has_server_bins "$dir"; then
                printf '%s\n' "$dir"
                return 0
            fi
        done
    fi
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null || true)
        if has_server_bins "$dir"; then
            printf '%s\n' "$dir"
            return 0
        fi
    fi
    # Debian/Ubuntu keep the server out of PATH; take the newest installed major version.
    # shellcheck disable=SC2012 # version directories are plain numbers
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5 -rn); do
        if has_server_bins "$dir"; then
            printf '%s\n' "$dir"
            return 0
        fi
    done
    return 1
}

# The OS user that owns and runs the local cluster ("" means the current user).
OWNER=""
pick_owner() {
    [ "$(id -u)" = 0 ] || return 0
    OWNER="${TEST_PG_OS_USER:-}"
    if [ -z "$OWNER" ]; then
        if id postgres >/dev/null 2>&1; then
            OWNER=postgres
        else
            OWNER=session-test-pg
        fi
    fi
    if ! id "$OWNER" >/dev/null 2>&1; then
        log "creating system user $OWNER to run the test cluster (PostgreSQL refuses to run as root)"
        if command -v useradd >/dev/null 2>&1; then
            useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$OWNER"
        elif command -v adduser >/dev/null 2>&1; then
            adduser -S -D -H -s /sbin/nologin "$OWNER"
        else
            die "running as root and cannot create a user for PostgreSQL: set TEST_PG_OS_USER to an existing unprivileged user"
        fi
    fi
}

# Run a command as the cluster's owner, from a directory the owner can enter.
as_owner() {
    if [ -z "$OWNER" ]; then
        "$@"
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u "$OWNER" -- "$@")
    elif command -v setpriv >/dev/null 2>&1; then
        (cd / && setpriv --reuid="$OWNER" --regid="$(id -g "$OWNER")" --init-groups -- "$@")
    else
        (cd / && su -s /bin/sh "$OWNER" -c "$(printf '%q ' "$@")")
    fi
}

# Where the cluster lives: .test-pg/ in the checkout (ignored by git), unless the owner cannot
# reach the checkout (a home directory closed to others), then a directory under /tmp.
STATE_DIR=""
LOCAL_STATE="$ROOT/.test-pg"
TMP_STATE="${TMPDIR:-/tmp}/session-service-test-pg-$(id -u)-$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
pick_state_dir() {
    if [ -z "$OWNER" ] || as_owner test -x "$ROOT"; then
        STATE_DIR="$LOCAL_STATE"
    else
        STATE_DIR="$TMP_STATE"
    fi
}

server_major() {
    "$1/postgres" --version | sed -E 's/^[^0-9]*([0-9]+).*/\1/'
}

cluster_running() {
    # $1 bindir, $2 data dir
    [ -f "$2/PG_VERSION" ] && as_owner "$1/pg_ctl" -D "$2" status >/dev/null 2>&1
}

psql_bin() {
    if [ -x "$1/psql" ]; then
        printf '%s\n' "$1/psql"
    elif command -v psql >/dev/null 2>&1; then
        command -v psql
    else
        die "psql is not installed next to $1 nor on PATH (it comes with the PostgreSQL client package)"
    fi
}

# The server on our port accepts connections (waiting up to $2 seconds for it).
server_accepts() {
    local tries=$(($2 + 1))
    while [ "$tries" -gt 0 ]; do
        if [ -x "$1/pg_isready" ]; then
            "$1/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 2 && return 0
        else
            (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null && return 0
        fi
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] && sleep 1
    done
    return 1
}

port_answers() {
    # Anything accepting connections on 127.0.0.1:$PG_PORT (pg_isready exit 0 or 1).
    local rc=0
    if [ -x "$1/pg_isready" ]; then
        "$1/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -t 3 || rc=$?
        [ "$rc" = 0 ] || [ "$rc" = 1 ]
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$PG_PORT") 2>/dev/null
    fi
}

init_cluster() {
    local bindir=$1 data=$2
    [ -n "$STATE_DIR" ] || die "internal error: no state directory chosen"
    rm -rf "$STATE_DIR"
    mkdir -p "$STATE_DIR"
    chmod 700 "$STATE_DIR"
    [ -z "$OWNER" ] || chown "$OWNER" "$STATE_DIR"
    local pwfile="$STATE_DIR/pwfile"
    # shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
    as_owner sh -c 'umask 077 && printf "%s\n" "$1" > "$2"' sh "$PG_PASSWORD" "$pwfile"
    log "creating a throwaway cluster in $data (owner: ${OWNER:-$(id -un)})"
    if ! as_owner "$bindir/initdb" -D "$data" -U "$PG_USER" --pwfile="$pwfile" \
        --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --no-locale --no-sync \
        >"$STATE_DIR/initdb.log" 2>&1; then
        cat "$STATE_DIR/initdb.log" >&2
        die "initdb failed (log above)"
    fi
    rm -f "$pwfile"
    # Only TCP on loopback (no socket file, so no path-length or permission surprises), and no
    # durability: the data is thrown away by `down`.
    # shellcheck disable=SC2016
    as_owner sh -c 'cat >> "$1"' sh "$data/postgresql.conf" <<EOF

# Added by scripts/test-pg.sh: a throwaway cluster for the test suite.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

local_up() {
    local bindir data want have
    bindir=$(find_bindir) || die "no Docker engine answers and no PostgreSQL server is installed.
Install one of:
  - Docker (with the Compose plugin): then this uses docker-compose-test-deps.yml;
  - the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install
    postgresql-server; macOS: brew install postgresql@17), which provides initdb and pg_ctl;
or point the tests at a server you already have: SESSION_TEST_PG_URL=postgresql://... make test"
    pick_owner
    pick_state_dir
    data="$STATE_DIR/data"
    want=$(server_major "$bindir")

    if [ -f "$data/PG_VERSION" ]; then
        have=$(cat "$data/PG_VERSION")
        if [ "$have" != "$want" ]; then
            log "the cluster in $data is from PostgreSQL $have, the server found is $want: recreating it"
            as_owner "$bindir/pg_ctl" -D "$data" -m immediate stop >/dev/null 2>&1 || true
            rm -rf "$STATE_DIR"
        fi
    fi
    if cluster_running "$bindir" "$data" && ! server_accepts "$bindir" 10; then
        # Its postmaster died without cleaning up (killed, or a zombie nobody reaped): the data
        # is throwaway, so start over rather than fight a stale lock file.
        log "the local cluster in $data is not answering: recreating it"
        as_owner "$bindir/pg_ctl" -D "$data" -m immediate -w -t 5 stop >/dev/null 2>&1 || true
        rm -rf "$STATE_DIR"
    fi
    if cluster_running "$bindir" "$data"; then
        log "the local cluster in $data is already running"
    else
        if port_answers "$bindir"; then
            die "something else already listens on 127.0.0.1:$PG_PORT (a container from docker-compose-test-deps.yml, or another server): stop it, or run \`make test.deps.down\` where it was started"
        fi
        [ -f "$data/PG_VERSION" ] || init_cluster "$bindir" "$data"
        log "starting PostgreSQL $want from $bindir on 127.0.0.1:$PG_PORT"
        if ! as_owner "$bindir/pg_ctl" -D "$data" -l "$STATE_DIR/server.log" -w -t 60 start >/dev/null; then
            tail -n 30 "$STATE_DIR/server.log" >&2 || true
            die "the local cluster did not start (server log above, full log in $STATE_DIR/server.log)"
        fi
    fi

    local psql exists
    psql=$(psql_bin "$bindir")
    exists=$(PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=10 "$psql" -w -X -q -h 127.0.0.1 -p "$PG_PORT" \
        -U "$PG_USER" -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'")
    if [ "$exists" != 1 ]; then
        PGPASSWORD=$PG_PASSWORD "$psql" -w -X -q -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" \
            -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE $PG_DB"
    fi
    log "PostgreSQL is ready at $TEST_PG_URL"
}

# Stop and delete the cluster kept in $1, if any.
local_down_at() {
    local state=$1 data="$1/data" bindir=""
    [ -d "$state" ] || return 0
    if [ -f "$data/PG_VERSION" ]; then
        bindir=$(find_bindir) || true
        if [ -n "$bindir" ] && cluster_running "$bindir" "$data"; then
            log "stopping the local cluster in $data"
            if server_accepts "$bindir" 0; then
                as_owner "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null ||
                    as_owner "$bindir/pg_ctl" -D "$data" -m immediate -w -t 10 stop >/dev/null || true
            else
                as_owner "$bindir/pg_ctl" -D "$data" -m immediate -w -t 5 stop >/dev/null 2>&1 || true
            fi
        elif [ -f "$data/postmaster.pid" ]; then
            # No binaries left to ask: stop the postmaster by the pid it recorded.
            local pid
            pid=$(head -n 1 "$data/postmaster.pid")
            case "$pid" in '' | *[!0-9]*) ;; *) kill -INT "$pid" 2>/dev/null || true ;; esac
            sleep 2
        fi
    fi
    log "removing $state"
    rm -rf "$state"
}

local_down() {
    pick_owner_quietly
    local_down_at "$LOCAL_STATE"
    local_down_at "$TMP_STATE"
}

# Like pick_owner, but never creates a user (nothing to stop if it does not exist).
pick_owner_quietly() {
    [ "$(id -u)" = 0 ] || return 0
    OWNER="${TEST_PG_OS_USER:-}"
    if [ -z "$OWNER" ]; then
        if id postgres >/dev/null 2>&1; then OWNER=postgres; else OWNER=session-test-pg; fi
    fi
    id "$OWNER" >/dev/null 2>&1 || OWNER=""
}

local_running() {
    local bindir
    bindir=$(find_bindir 2>/dev/null) || return 1
    pick_owner_quietly
    cluster_running "$bindir" "$LOCAL_STATE/data" || cluster_running "$bindir" "$TMP_STATE/data"
}

# -- Commands ---------------------------------------------------------------------------------

cmd_up() {
    case "$MODE" in
        docker)
            docker_answers || die "TEST_PG_MODE=docker but no Docker engine answers (docker info failed)"
            docker_up
            ;;
        local)
            local_up
            ;;
        auto)
            if local_running; then
                local_up # already up: keep using it rather than clash with a container on the port
            elif docker_answers; then
                docker_up
            else
                log "no Docker engine answers: using a local PostgreSQL cluster instead"
                local_up
            fi
            ;;
        *) die "TEST_PG_MODE must be auto, docker or local, not '$MODE'" ;;
    esac
}

cmd_down() {
    local_down
    if [ "$MODE" != local ] && docker_answers; then
        docker_down
    fi
    log "test PostgreSQL is down"
}

cmd_status() {
    if local_running; then
        echo "local cluster running at $TEST_PG_URL"
    elif docker_answers && [ -n "$(compose ps -q session_db 2>/dev/null)" ]; then
        echo "Docker service session_db running at $TEST_PG_URL"
    else
        echo "not running"
        return 1
    fi
}

cmd_with_db() {
    [ $# -gt 0 ] || die "usage: $0 with-db COMMAND [ARGS...]"
    trap 'log "interrupted"; cmd_down || true; exit 130' INT TERM
    if ! (cmd_up); then
        cmd_down || true
        die "could not start PostgreSQL for the tests"
    fi
    local status=0
    SESSION_TEST_PG_URL=$TEST_PG_URL SESSION_TEST_REQUIRE_PG=1 "$@" || status=$?
    trap - INT TERM
    cmd_down || log "warning: stopping the test PostgreSQL failed"
    return "$status"
}

case "${1:-}" in
    up) cmd_up ;;
    down) cmd_down ;;
    with-db)
        shift
        cmd_with_db "$@"
        ;;
    url) echo "$TEST_PG_URL" ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 up | down | with-db COMMAND [ARGS...] | url | status" >&2
        exit 2
        ;;
esac
