#!/bin/sh
# Rampart bootstrap: install whatever Debian packages are missing, then build and
#   run   - start the broker in the foreground on its built-in configuration
#   test  - build everything and run the whole test suite (unit, fuzz smoke, integration)
# Usage: scripts/bootstrap.sh run|test
set -eu
cd "$(dirname "$0")/.."

want=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' scripts/packages.txt)
missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing="$missing $p"
    fi
done
# Node.js and npm (MQTT.js and browser tests): Debian's packages unless some Node.js with npm is already here.
if ! command -v npm >/dev/null 2>&1; then
    missing="$missing nodejs npm"
fi
if [ -n "$missing" ]; then
    echo "bootstrap: installing:$missing"
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: missing packages and not root; run as root or install:$missing" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Packages installed for the tests (mosquitto, prometheus, fail2ban) must not start their daemons here:
    # a running mosquitto would hold 1883. Unless the machine already has a policy, deny service starts
    # for the duration of the install (invoke-rc.d and deb-systemd-invoke honour it).
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# written by Rampart scripts/bootstrap.sh for one apt-get run\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT INT TERM
    fi
    apt-get update -q || true
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
    if grep -q 'Rampart scripts/bootstrap.sh' "$policy" 2>/dev/null; then rm -f "$policy"; fi
    trap - EXIT INT TERM
fi
if [ -x scripts/bootstrap-npm.sh ]; then scripts/bootstrap-npm.sh; fi

jobs=$(nproc 2>/dev/null || echo 2)
case "${1:-}" in
    run)  exec make -j"$jobs" run ;;
    test) exec make -j"$jobs" test ;;
    *)    echo "usage: $0 run|test" >&2; exit 2 ;;
esac
