#!/usr/bin/env bash
# A local Label Studio server for an annotation team (`curate annotate --backend labelstudio`).
#
#   scripts/label-studio.sh install   # its own virtualenv (idempotent; CI runs it before pytest)
#   scripts/label-studio.sh start     # install if needed, start on 127.0.0.1, wait for /health
#   scripts/label-studio.sh status|stop
#
# Label Studio's pins (Django, its numpy/pydantic ranges) do not belong in the project's .venv:
# it lives in LABEL_STUDIO_VENV (default .labelstudio/venv). Its state lives in
# LABEL_STUDIO_HOME (default .labelstudio): data/ (the server's database), token (the API
# token, mode 0600, which `curate` reads), url, media_root, login, pid, server.log.
# Settings: LABEL_STUDIO_PORT (8080), LABEL_STUDIO_USERNAME (curate@localhost),
# LABEL_STUDIO_PASSWORD (random on first start, kept in `login`, mode 0600),
# LABEL_STUDIO_MEDIA_ROOT: the folder whose images the server may serve (default: the
# project's parent folder, which holds the workspace and ../shared/datasets).
# A team's own server needs none of this: set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VERSION="1.23.2"
VENV="${LABEL_STUDIO_VENV:-$ROOT/.labelstudio/venv}"
HOME_DIR="${LABEL_STUDIO_HOME:-$ROOT/.labelstudio}"
PORT="${LABEL_STUDIO_PORT:-8080}"
USERNAME="${LABEL_STUDIO_USERNAME:-curate@localhost}"
MEDIA_ROOT="${LABEL_STUDIO_MEDIA_ROOT:-$(dirname "$ROOT")}"
URL="http://127.0.0.1:$PORT"
PIDFILE="$HOME_DIR/pid"
WAIT_S="${LABEL_STUDIO_WAIT_S:-300}"

say() { echo "[label-studio] $*"; }
die() { echo "label-studio.sh: $*" >&2; exit 1; }

installed() { "$VENV/bin/python" -c "import label_studio" >/dev/null 2>&1; }

install() {
  if installed; then
    say "installed: $VENV (label-studio $("$VENV/bin/python" -c \
      'import importlib.metadata as m; print(m.version("label-studio"))'))"
    return 0
  fi
  say "installing label-studio $VERSION into $VENV (its own virtualenv; ~1 GB, minutes)"
  local t0=$SECONDS log="$ROOT/.labelstudio/install.log"
  mkdir -p "$ROOT/.labelstudio"
  { [ -x "$VENV/bin/pip" ] || python3 -m venv "$VENV"; } >"$log" 2>&1 || die "venv failed ($log)"
  # sentry-sdk 3 breaks its start (TypeError: Unknown option 'send_default_pii')
  if ! "$VENV/bin/pip" install -q "label-studio==$VERSION" "sentry-sdk<3" >>"$log" 2>&1; then
    die "pip install label-studio failed (see $log)"
  fi
  say "installed in $((SECONDS - t0)) s"
}

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

healthy() { curl -fsS -o /dev/null --max-time 3 "$URL/health" 2>/dev/null; }

start() {
  install || exit 1
  mkdir -p "$HOME_DIR/data"
  chmod 700 "$HOME_DIR"
  if running; then
    say "already running (pid $(cat "$PIDFILE")) at $(cat "$HOME_DIR/url" 2>/dev/null || echo "$URL")"
    return 0
  fi
  umask 077
  [ -s "$HOME_DIR/token" ] || "$VENV/bin/python" -c 'import secrets; print(secrets.token_hex(20))' >"$HOME_DIR/token"
  local password="${LABEL_STUDIO_PASSWORD:-}"
  if [ -z "$password" ]; then
    [ -s "$HOME_DIR/login" ] || printf '%s %s\n' "$USERNAME" \
      "$("$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(12))')" >"$HOME_DIR/login"
    password="$(cut -d' ' -f2 "$HOME_DIR/login")"
  else
    printf '%s %s\n' "$USERNAME" "$password" >"$HOME_DIR/login"
  fi
  chmod 600 "$HOME_DIR/token" "$HOME_DIR/login"
  echo "$URL" >"$HOME_DIR/url"
  echo "$MEDIA_ROOT" >"$HOME_DIR/media_root"
  say "starting on $URL (data: $HOME_DIR/data; serving images under $MEDIA_ROOT)"
  LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true \
  LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT="$MEDIA_ROOT" \
  LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK=true \
  SENTRY_DSN="" FRONTEND_SENTRY_DSN="" COLLECT_ANALYTICS=false \
    setsid "$VENV/bin/label-studio" start --no-browser --host 127.0.0.1 --port "$PORT" \
      --internal-host 127.0.0.1 --data-dir "$HOME_DIR/data" --username "$USERNAME" \
      --password "$password" --user-token "$(cat "$HOME_DIR/token")" \
      --enable-legacy-api-token >"$HOME_DIR/server.log" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  local t0=$SECONDS
  until healthy; do
    running || die "the server exited during start (see $HOME_DIR/server.log)"
    [ $((SECONDS - t0)) -lt "$WAIT_S" ] || die "no /health after ${WAIT_S} s (see $HOME_DIR/server.log)"
    sleep 2
  done
  say "up in $((SECONDS - t0)) s: $URL  login: $USERNAME / $password"
  say "API token: $HOME_DIR/token (curate reads it); stop: scripts/label-studio.sh stop"
}

stop() {
  if ! running; then
    rm -f "$PIDFILE"
    say "not running"
    return 0
  fi
  local pid
  pid="$(cat "$PIDFILE")"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -0 "$pid" 2>/dev/null && { kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"; }
  rm -f "$PIDFILE"
  say "stopped (pid $pid)"
}

status() {
  [ -s "$HOME_DIR/url" ] && URL="$(cat "$HOME_DIR/url")"
  if running && healthy; then
    say "running (pid $(cat "$PIDFILE")) at $URL; login: $(cut -d' ' -f1 "$HOME_DIR/login" 2>/dev/null)"
  elif running; then
    say "starting or unhealthy (pid $(cat "$PIDFILE")): no /health at $URL yet; see $HOME_DIR/server.log"
    exit 1
  else
    say "not running (start: scripts/label-studio.sh start)"
    exit 3
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: scripts/label-studio.sh install|start|stop|status" >&2; exit 2 ;;
esac
