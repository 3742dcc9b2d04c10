# tests/lib.sh -- what the shell tests of a running apolod share. Sourced,
# not run:
#
#   . "$(dirname "$0")/lib.sh"
#   t_init money                 # temp folder, database, port, cleanup trap
#   t_conf <<EOF                 # the default configuration + these lines
#   admin.threads = 4
#   EOF
#   t_migrate && sql "INSERT ..."
#   t_user operator operator 'pw' ; t_start ; tok=$(login operator 'pw')
#   A=(-H "Authorization: Bearer $tok" -H 'Content-Type: application/json')
#   s=$(req POST /api/v1/... "${A[@]}" -d '{}'); expect "what" 201 "$s"
#   t_done                       # prints the result, exits 0 or 1
#
# The environment comes from tests/run.sh: DATABASE_URL (the private
# PostgreSQL), APOLO_TOP, APOLO_BUILD. Every test gets its own database
# (dropped at exit), its own port and its own temp folder (KEEP=1 keeps it).
# Variables set: top build bin work db dburl conf port base sup fails.
# shellcheck shell=bash

set -uo pipefail
top=${APOLO_TOP:?run through tests/run.sh}
build=${APOLO_BUILD:?run through tests/run.sh}
: "${DATABASE_URL:?run through tests/run.sh}"
case $build in /*) ;; *) build=$top/$build ;; esac
bin=$build/apolod
fails=0
sup=""
t_name=""

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok:   $*"; }

t_cleanup() {
  trap - EXIT INT TERM
  [ -n "$sup" ] && kill -9 "$sup" 2>/dev/null
  for p in $(pgrep -f -- "-c $conf" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  declare -F t_on_exit >/dev/null && t_on_exit
  psql "$DATABASE_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
    >/dev/null 2>&1
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}

# t_free_port: a TCP port of 127.0.0.1 that nobody listens on, below the
# kernel's ephemeral range (32768-60999), so that no outgoing connection
# (to PostgreSQL, curl's) can hold it when apolod binds it.
t_free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 12000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  echo "$p"
}

# t_init NAME: temp folder, a database of its own, a free port.
t_init() {
  t_name=$1
  work=$(mktemp -d "/tmp/apolo-t$1.XXXXXX")
  db=apolo_t_$1_$$
  conf=$work/apolod.conf
  port=$(t_free_port)
  base=http://127.0.0.1:$port
  trap t_cleanup EXIT
  trap 'echo "$t_name: interrupted"; exit 143' INT TERM
  if [[ $DATABASE_URL =~ ^(postgres(ql)?://[^/?]*)/([^?]*)(\?.*)?$ ]]; then
    dburl="${BASH_REMATCH[1]}/$db${BASH_REMATCH[4]}"
  else
    dburl="$DATABASE_URL dbname=$db"
  fi
  export APOLO_DATABASE_URL=$dburl
  psql "$DATABASE_URL" -qc "CREATE DATABASE $db" || exit 1
}

sql() { psql "$dburl" -v ON_ERROR_STOP=1 -qAtc "$1"; }

# t_conf: writes the configuration: a small default (no workers, 4 HTTP
# threads, 8 journal rings) followed by the lines on stdin, which win: a
# default whose key is on stdin is left out (apolod refuses a key set twice).
t_conf() {
  local extra="" line
  local -A given=()
  [ -t 0 ] || extra=$(cat)
  while IFS= read -r line; do
    [[ $line =~ ^[[:space:]]*([A-Za-z0-9_.]+)[[:space:]]*= ]] &&
      given[${BASH_REMATCH[1]}]=1
  done <<<"$extra"
  {
    while IFS= read -r line; do
      [[ $line =~ ^([A-Za-z0-9_.]+)[[:space:]]*= ]] &&
        [ -n "${given[${BASH_REMATCH[1]}]:-}" ] && continue
      printf '%s\n' "$line"
    done <<EOF
log_level = info
sql_dir = "$top/sql"
journal.path = "$work/journal"
journal.rings = 8
journal.slots = 1024
region.heap_mb = 16
region.max_accounts = 100
calls.path = "$work/calls"
calls.max = 64
admin.listen = "127.0.0.1:$port"
admin.threads = 4
ctl.socket = "$work/apolod.sock"
supervisor.notify = 0
EOF
    if [ -n "$extra" ]; then printf '%s\n' "$extra"; fi
  } >"$conf"
}

t_migrate() {
  "$bin" -c "$conf" migrate >"$work/migrate.log" 2>&1 ||
    { cat "$work/migrate.log"; fail "apolod migrate"; exit 1; }
}

# t_user NAME ROLE PASSWORD
t_user() {
  echo "$3" | "$bin" -c "$conf" user add "$1" "$2" >/dev/null 2>>"$work/user.err" ||
    { fail "user add $1"; cat "$work/user.err"; exit 1; }
}

t_wait_up() {
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/healthz")" = 200 ] && return 0
    sleep 0.1
  done
  return 1
}

# t_start [ENV=value...]: apolod in the background, up when /healthz is.
t_start() {
  env "$@" "$bin" -c "$conf" >>"$work/apolod.log" 2>&1 &
  sup=$!
  t_wait_up || { fail "the API did not answer /healthz within 10 s"
                 tail -20 "$work/apolod.log"; exit 1; }
}

# t_stop: SIGTERM, waits up to 15 s; returns apolod's exit status.
t_stop() {
  kill -TERM "$sup"
  for _ in $(seq 1 150); do kill -0 "$sup" 2>/dev/null || break; sleep 0.1; done
  wait "$sup"; local rc=$?
  sup=""
  return $rc
}

ctl() { "$bin" -c "$conf" ctl "$@" 2>/dev/null; }

# live ACCOUNT_ID: the live balance in the region (micro-units).
live() {
  local reply; reply=$(ctl "account $1")
  [[ $reply =~ balance=(-?[0-9]+) ]] && echo "${BASH_REMATCH[1]}" || echo "?$reply"
}

# req METHOD PATH [curl args...]: prints the status; the body is in
# $work/body, the headers in $work/hdr.
req() {
  local m=$1 p=$2; shift 2
  curl -s -X "$m" -o "$work/body" -D "$work/hdr" -w '%{http_code}' "$@" "$base$p"
}
body() { cat "$work/body"; }

# jq FILTER on the last body (raw output, "" when absent).
jbody() { jq -r "$1 // empty" "$work/body" 2>/dev/null; }

# jfield SUBSCRIPT: a field of the last body as Python prints it, e.g.
# jfield '["entries"][0]["kind"]' (True/False/None; "" when absent).
jfield() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' \
    "$work/body" "$1" 2>/dev/null
}

# expect WHAT EXPECTED GOT
expect() {
  if [ "$2" = "$3" ]; then ok "$1 ($3)"
  else fail "$1: expected $2, got $3: $(head -c 300 "$work/body")"; fi
}

# login USER PASSWORD: the bearer token, or "".
login() {
  req POST /api/v1/login -H 'Content-Type: application/json' \
    -d "{\"username\": \"$1\", \"password\": \"$2\"}" >/dev/null
  jbody .token
}

# t_done: the verdict; the exit status of the test.
t_done() {
  if [ "$fails" -gt 0 ]; then
    tail -n 30 "$work/apolod.log" 2>/dev/null
    echo "$t_name: $fails failed"; exit 1
  fi
  echo "$t_name: all passed"; exit 0
}
