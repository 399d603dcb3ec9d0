#!/usr/bin/env bash
# CI for the web console, run from the repository root (.ci/run calls it).
# Installs Debian's Chromium when missing, lints, checks the formatting and
# runs the unit tests of the app, rebuilds the generated GraphQL
# types and the committed build (console/dist), fails when either differs
# from what is committed, then runs the end-to-end tests in headless
# Chromium against a real entitled server.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "console: Chromium (Debian packages chromium, chromium-driver)"
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium chromium-driver >/dev/null
fi
/usr/bin/chromium --version

step "console: npm ci"
export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
(cd console/web && npm ci --no-progress)
(cd console/e2e && npm ci --no-progress)

step "console: lint (ESLint with the React hooks rules), format (Prettier), unit tests (Vitest)"
(cd console/web && npm run --silent lint && npm run --silent format:check && npm run --silent test)

step "console: generated GraphQL types and the committed build are current"
(cd console/web && npm run --silent codegen >/dev/null && npm run build)
if [ -n "$(git status --porcelain console/)" ]; then
  echo "console/ changed after codegen and build; run them in console/web and commit the result:" >&2
  git status --porcelain console/ >&2
  git diff --stat -- console/ >&2
  exit 1
fi

step "console: end-to-end tests (headless Chromium, real server on SQLite)"
cd console/e2e
npm test
