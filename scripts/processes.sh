# shellcheck shell=bash
# Process helpers shared by scripts/registry.sh and scripts/registry-proxy.sh
# (sourced, not run).

# 0 when the process whose id file FILE holds is running.
pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# Runs COMMAND... once process OWNER has exited, from a detached watcher whose
# id goes into FILE.
watch_owner() { # OWNER FILE COMMAND...
  local owner="$1" file="$2"
  shift 2
  # shellcheck disable=SC2016 # $1.. are the inner shell's arguments
  setsid nohup bash -c 'owner="$1"; shift; while kill -0 "$owner" 2>/dev/null; do sleep 1; done; exec "$@"' \
    watch "$owner" "$@" >/dev/null 2>&1 </dev/null &
  echo $! >"$file"
}

# Stops the process whose id file FILE holds: SIGTERM, up to SECONDS for it to
# go, then SIGKILL. Then the owner watcher whose id OWNER_FILE holds, unless
# that watcher is the caller.
terminate() { # FILE SECONDS OWNER_FILE
  local pid i
  if pid_alive "$1"; then
    pid="$(cat "$1")"
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < $2 * 10; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if [[ -f "$3" && "$(cat "$3")" != "$$" ]]; then
    kill "$(cat "$3")" 2>/dev/null || true
  fi
}
