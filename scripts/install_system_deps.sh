#!/usr/bin/env bash
# System packages the tests need beyond Python: PostgreSQL (the team-scale tests start a
# throwaway server from its binaries) and Chromium (the status-page test renders with it).
# Idempotent: exits at once when both are installed; otherwise one `apt-get install` for
# everything missing (Debian/Ubuntu, as root or through sudo).
set -euo pipefail

have_postgres() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
have_chromium() { [ -x /usr/bin/chromium ]; }

if have_postgres && have_chromium; then
    exit 0
fi

if ! command -v apt-get >/dev/null; then
    echo "install_system_deps: PostgreSQL server binaries (/usr/lib/postgresql/*/bin) and" \
        "/usr/bin/chromium are needed and apt-get is not available; install them with" \
        "your system's package manager" >&2
    exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null; then
    SUDO=(sudo)
else
    echo "install_system_deps: installing postgresql and chromium needs root (or sudo)" >&2
    exit 1
fi

echo "install_system_deps: installing postgresql and chromium (apt-get)"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
# No service is started here: Debian's postinst may create a default cluster, which the
# tests never use (they run their own server on a free loopback port).
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends postgresql chromium
have_postgres && have_chromium
