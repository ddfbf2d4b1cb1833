#!/usr/bin/env bash
# Redis for the test suite, with or without Docker (the sibling of scripts/test-pg.sh).
#
#   scripts/test-redis.sh up       start it (idempotent)
#   scripts/test-redis.sh down     stop it (no error when nothing runs); it keeps no data
#   scripts/test-redis.sh url      print the URL the tests should use (SESSION_TEST_REDIS_URL)
#
# Either way it answers at redis://127.0.0.1:63790/0. `up` uses docker-compose-test-deps.yml's
# service session_redis when a Docker engine answers (TEST_REDIS_MODE=docker|local forces one),
# else a local `redis-server` (no persistence, loopback only, pid file in /tmp).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
COMPOSE_FILE="$ROOT/docker-compose-test-deps.yml"
PORT=63790
URL="redis://127.0.0.1:${PORT}/0"
PIDFILE="/tmp/session-service-test-redis-${PORT}.pid"
MODE="${TEST_REDIS_MODE:-auto}"

log() { printf 'test-redis: %s\n' "$*" >&2; }
die() { printf 'test-redis: error: %s\n' "$*" >&2; exit 1; }

docker_answers() {
    command -v docker >/dev/null 2>&1 && timeout 20 docker info >/dev/null 2>&1
}

compose() {
    if docker compose version >/dev/null 2>&1; then
        docker compose -f "$COMPOSE_FILE" "$@"
    else
        docker-compose -f "$COMPOSE_FILE" "$@"
    fi
}

use_docker() {
    case "$MODE" in
        docker) return 0 ;;
        local) return 1 ;;
        *) docker_answers ;;
    esac
}

up() {
    if use_docker; then
        log "starting service session_redis (Docker)"
        compose up -d --wait session_redis
    else
        command -v redis-server >/dev/null 2>&1 \
            || die "neither a Docker engine nor redis-server: install redis-server or Docker"
        if redis-cli -p "$PORT" ping >/dev/null 2>&1; then
            log "Redis already answers on port $PORT"
        else
            log "starting a local redis-server on 127.0.0.1:$PORT (no persistence)"
            redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
                --daemonize yes --pidfile "$PIDFILE" --dir /tmp --logfile "/tmp/session-service-test-redis-${PORT}.log"
            for _ in $(seq 1 50); do
                redis-cli -p "$PORT" ping >/dev/null 2>&1 && break
                sleep 0.1
            done
        fi
    fi
    log "Redis is ready at $URL"
}

down() {
    if use_docker; then
        compose rm -sf session_redis >/dev/null 2>&1 || true
    elif [ -f "$PIDFILE" ]; then
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        rm -f "$PIDFILE"
        log "stopped the local redis-server on port $PORT"
    fi
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    url) echo "$URL" ;;
    *) die "usage: $0 up|down|url" ;;
esac
