#!/usr/bin/env bash
# PgBouncer for the pooler tests (tests/stores/test_pooler.py): installs Debian's `pgbouncer` package
# with apt-get when it is missing and this is a root shell on a Debian-like system; otherwise
# says how. Never fails the calling target: without PgBouncer those tests skip with the reason
# (and fail when SESSION_TEST_REQUIRE_PGBOUNCER=1, as in CI).
set -u
if command -v pgbouncer >/dev/null 2>&1 || [ -x /usr/sbin/pgbouncer ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "PgBouncer is not installed: install it with your package manager to run the pooler tests" >&2
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "PgBouncer is not installed: run 'sudo apt-get install -y pgbouncer' to run the pooler tests" >&2
    exit 0
fi
# A fresh container has empty package lists: apt-get install would find nothing.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -print -quit 2>/dev/null)" ]; then
    apt-get update -qq || true
fi
echo "installing PgBouncer (apt-get install pgbouncer) for the pooler tests"
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer >/dev/null \
    || echo "apt-get install pgbouncer failed: the pooler tests will skip" >&2
exit 0
