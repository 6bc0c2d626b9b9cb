#!/bin/sh
# bootstrap-npm.sh - installs the Node packages the integration tests use (MQTT.js, playwright-core) into
# ./node_modules, pinned by package.json and package-lock.json. Idempotent, and offline once installed:
# nothing is fetched when the pinned versions are already there.
set -eu
cd "$(dirname "$0")/.."
command -v npm >/dev/null 2>&1 || { echo "bootstrap-npm: npm not found; Node tests will fail" >&2; exit 0; }
installed() {
    node -e 'const p=require("./package.json").dependencies;
             for (const [n,v] of Object.entries(p)) {
               const got=require("./node_modules/"+n+"/package.json").version;
               if (got!==v) process.exit(1); }' 2>/dev/null
}
if installed; then
    exit 0
fi
echo "bootstrap-npm: installing $(node -e 'console.log(Object.keys(require("./package.json").dependencies).join(" "))')"
if [ -f package-lock.json ]; then
    npm ci --no-audit --no-fund --ignore-scripts
else
    npm install --no-audit --no-fund --ignore-scripts
fi
