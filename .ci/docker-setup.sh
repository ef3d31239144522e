#!/usr/bin/env bash
# Install Docker Engine + Debian's docker-registry and make sure an engine answers.
#
# Idempotent; meant to run as root (CI=true, no stdin) on a Debian 12 machine.
#   - apt-get update (once) + install docker.io / docker-registry only if missing
#   - start dockerd in the background if no engine answers; log to $DOCKERD_LOG
#   - does NOT start the registry: tests start their own on 127.0.0.1:<free port>
# Nothing here pulls an image from any registry.
set -euo pipefail

DOCKERD_LOG="${DOCKERD_LOG:-/tmp/dockerd.log}"
DOCKERD_WAIT="${DOCKERD_WAIT:-60}"
export DEBIAN_FRONTEND=noninteractive

log() { echo "[docker-setup] $*" >&2; }
die() { echo "[docker-setup] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# ---- packages ---------------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)

if [ "${#missing[@]}" -gt 0 ]; then
    # Keep package scripts from starting services (dockerd, a registry on :5000):
    # there is no init system here and we start what we need ourselves.
    policy_created=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod +x /usr/sbin/policy-rc.d
        policy_created=1
    fi
    log "installing: ${missing[*]}"
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
    if [ "$policy_created" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

command -v dockerd >/dev/null 2>&1 || die "dockerd still missing after install"
command -v docker-registry >/dev/null 2>&1 || die "docker-registry still missing after install"

# ---- engine -----------------------------------------------------------------
engine_up() { timeout 10 docker info >/dev/null 2>&1; }

if engine_up; then
    log "Docker Engine already answers: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || echo '?')"
    exit 0
fi

# A dockerd may be starting right now (e.g. a parallel run); only start one if none runs.
if [ -s /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    log "dockerd pid $(cat /var/run/docker.pid) exists but does not answer yet; waiting"
else
    rm -f /var/run/docker.pid
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid + nohup: the daemon outlives this script and its session.
    setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    log "dockerd started, pid $!"
fi

for _ in $(seq 1 "$DOCKERD_WAIT"); do
    if engine_up; then
        log "Docker Engine up: $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})'), pid $(cat /var/run/docker.pid 2>/dev/null || echo '?')"
        exit 0
    fi
    sleep 1
done

echo "----- last lines of $DOCKERD_LOG -----" >&2
tail -n 50 "$DOCKERD_LOG" >&2 || true
die "Docker Engine did not answer within ${DOCKERD_WAIT}s"
