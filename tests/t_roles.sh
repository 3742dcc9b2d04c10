#!/usr/bin/env bash
# t_roles.sh -- who may do what on the admin API (admin/http.c), CSRF,
# session expiry, and no secret in the log, against apolod and the private
# PostgreSQL of tests/run.sh.
#
#   - every operation of the served OpenAPI document (GET
#     /api/v1/openapi.json: each path + method with its x-apolo-role, /ws
#     included) with no session, viewer, operator and admin by bearer
#     token, then viewer, operator and admin by cookie with X-Apolo-CSRF
#     and Origin (what the dashboard sends): below the operation's role
#     401 (no session) or 403 (a role too low); at or above it anything
#     but 401/403. Harmless requests: ids that do not exist (999999),
#     bodies `{}`, so that destructive routes answer 4xx (the account and
#     the users are checked untouched); logout with a throwaway session
#   - CSRF (cookie sessions): an unsafe method without X-Apolo-CSRF 403
#     and nothing changed; with it 200; safe methods need no header; bearer
#     requests need none; a foreign Origin (another host, another port,
#     "null") 403 even with the header, the right one (default port left
#     out or not) passes, a bearer request with a foreign Origin passes;
#     login with a foreign Origin 403 (login CSRF); a WebSocket upgrade
#     with the cookie from a foreign Origin 403, from this one 101; an
#     expired cookie without the header stays 401; a viewer's unsafe
#     request stays a role 403; a CORS preflight is never granted
#   - the security headers of API answers (JSON, errors, /healthz):
#     nosniff, X-Frame-Options DENY, CSP, Cache-Control no-store
#   - session expiry: expires_at and the cookie's Max-Age follow
#     admin.session_hours (1 here); a session aged past it in SQL is
#     refused 401 (bearer and cookie)
#   - secrets: every password, PIN, FAC code, fac.secret and session token
#     used here is absent from apolod's log (log_level debug: every request
#     line) and from audit_log
#
# Uses /usr/bin/python3 (the OpenAPI walk, raw WebSocket upgrades). KEEP=1
# keeps the temp folder.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
t_init roles

fac_secret='roles-fac-secret-0d3c9a'
pw_admin='admin pw 7f3e1c9b'
pw_oper='operator pw 2a8d4e6f'
pw_view='viewer pw 5c1b9d3a'
pw_wrong='wrong pw 9e8d7c6b'
pw_new='new user pw 3b6a9f1e'
pin='4829157306'
pin_wrong='1133779924'
fac_code='7301946285'

t_conf <<EOF
log_level = debug
admin.session_hours = 1
fac.secret = "$fac_secret"
EOF
t_migrate
sql "
INSERT INTO rate_plans (id, name, currency) VALUES (1, 'ARS plan', 'ARS');
INSERT INTO accounts (id, code, name, type, status, balance, currency, plan_id)
VALUES (7, 'ROLES', 'Roles SA', 'prepaid', 'active', 0, 'ARS', 1);
INSERT INTO extensions (id, number, account_id) VALUES (5, '2001', 7);" ||
  { fail "seed"; t_done; }
t_user admin admin "$pw_admin"
t_user oper operator "$pw_oper"
t_user view viewer "$pw_view"
t_start

# every session token of the test, one a line, for the log check (a file:
# session runs in $(...) subshells)
toks=$work/tokens
: >"$toks"
keep_tok() { [ -n "$1" ] && echo "$1" >>"$toks"; }
# session USER PASSWORD: a new session's token
session() {
  local t; t=$(login "$1" "$2")
  [ -n "$t" ] || { echo "FAIL: login $1: $(body)" >&2; }
  keep_tok "$t"
  echo "$t"
}
# hash_of TOKEN: sessions.token_hash (BLAKE2b-256 of the token's text)
hash_of() { $PY -c 'import hashlib, sys; print(hashlib.blake2b(sys.argv[1].encode(), digest_size=32).hexdigest())' "$1"; }
declare -A tok
tok[admin]=$(session admin "$pw_admin")
tok[operator]=$(session oper "$pw_oper")
tok[viewer]=$(session view "$pw_view")
[ -n "${tok[admin]}" ] && [ -n "${tok[operator]}" ] && [ -n "${tok[viewer]}" ] ||
  { fail "logins"; t_done; }
host=127.0.0.1:$port

# ws_status [HEADER...]: the status of a WebSocket upgrade of /ws (raw
# socket: curl cannot send an upgrade and stop at 101).
ws_status() {
  : >"$work/body"                # (a failure shows no stale body)
  $PY - "$port" "$@" <<'EOF'
import socket, sys
port = int(sys.argv[1])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
hdr = "".join(h + "\r\n" for h in sys.argv[2:])
s.sendall(("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n"
           % (port, hdr)).encode())
buf = b""
while b"\r\n" not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
print(buf.split(b" ")[1].decode() if buf.startswith(b"HTTP/") else "none")
EOF
}

# ---- every route with every role ---------------------------------------------------
req GET /api/v1/openapi.json >/dev/null
cp "$work/body" "$work/openapi.json"
$PY - "$work/openapi.json" >"$work/ops" <<'EOF' || fail "reading the OpenAPI document"
import json, sys
d = json.load(open(sys.argv[1]))
n = 0
for path, ops in d["paths"].items():
    for m, o in ops.items():
        if m not in ("get", "put", "post", "patch", "delete"):
            continue
        role = o.get("x-apolo-role")
        if role not in ("none", "viewer", "operator", "admin"):
            print("BAD", m.upper(), path, role)
            continue
        print(m.upper(), path.replace("{id}", "999999"), role)
        n += 1
print("COUNT", n)
EOF
grep -q '^BAD' "$work/ops" && fail "no valid x-apolo-role: $(grep '^BAD' "$work/ops" | tr '\n' ';')"
nops=$(awk '/^COUNT/ {print $2}' "$work/ops")
[ "${nops:-0}" -gt 50 ] && ok "OpenAPI: $nops operations to walk" ||
  fail "OpenAPI: only ${nops:-0} operations"

declare -A rank=([none]=0 [viewer]=1 [operator]=2 [admin]=3)
# walk MODE: every operation with every role; MODE bearer (Authorization:
# Bearer) or cookie (the cookie and X-Apolo-CSRF: 1, as the dashboard
# sends them; Origin = Host, as a browser may).
walked=0; wrong=0
walk() {
  local mode=$1 m p need who t s want auth b
  while read -r m p need; do
    [ "$m" = COUNT ] || [ "$m" = BAD ] && continue
    for who in none viewer operator admin; do
      [ "$mode" = cookie ] && [ "$who" = none ] && continue
      auth=()
      if [ "$who" != none ]; then
        t=${tok[$who]}
        # logout ends the session it is sent with: a throwaway one
        if [ "$p" = /api/v1/logout ]; then
          case $who in admin) t=$(session admin "$pw_admin") ;;
            operator) t=$(session oper "$pw_oper") ;; viewer) t=$(session view "$pw_view") ;; esac
        fi
        if [ "$mode" = cookie ]; then
          auth=(-H "Cookie: apolo_session=$t" -H 'X-Apolo-CSRF: 1' -H "Origin: http://$host")
        else
          auth=(-H "Authorization: Bearer $t")
        fi
      fi
      if [ "$p" = /ws ]; then
        if [ "$who" = none ]; then s=$(ws_status)
        elif [ "$mode" = cookie ]; then s=$(ws_status "Cookie: apolo_session=$t" "Origin: http://$host")
        else s=$(ws_status "Authorization: Bearer $t"); fi
      else
        b=()
        case $m in POST|PUT|PATCH) b=(-H 'Content-Type: application/json' -d '{}') ;; esac
        s=$(req "$m" "$p" "${auth[@]}" "${b[@]}")
      fi
      walked=$((walked + 1))
      echo "$mode $m $p $need $who $s" >>"$work/walk"
      if [ "${rank[$who]}" -lt "${rank[$need]}" ]; then
        want=403; [ "$who" = none ] && want=401
        [ "$s" = "$want" ] || { fail "$mode: $m $p (role $need) as $who: $s, expected $want: $(head -c 200 "$work/body")"; wrong=$((wrong + 1)); }
      else
        case $s in
          401|403|000|none) fail "$mode: $m $p (role $need) as $who: $s: $(head -c 200 "$work/body")"; wrong=$((wrong + 1)) ;;
        esac
      fi
    done
  done <"$work/ops"
}
walk bearer
walk cookie
echo "statuses of the walk: $(awk '{print $6}' "$work/walk" | sort | uniq -c | tr -s ' \n' ' ')"
[ "$wrong" = 0 ] && ok "roles: $walked requests ($nops operations: bearer x 4 roles, cookie + X-Apolo-CSRF x 3), each refused below its role (401 no session, 403) and let through at or above it"
# the walk changed nothing (harmless requests)
expect "walk: the account untouched" "active Roles SA" \
  "$(sql "SELECT status || ' ' || name FROM accounts WHERE id = 7")"
expect "walk: no user created nor deactivated" "3|3" \
  "$(sql "SELECT count(*), count(*) FILTER (WHERE active) FROM users")"

# ---- security headers of API answers ----------------------------------------------------
hdr_check() {
  local what=$1 h=$work/hdr
  grep -qi '^X-Content-Type-Options: nosniff' "$h" && grep -qi '^X-Frame-Options: DENY' "$h" &&
    grep -qi "^Content-Security-Policy: default-src 'none'; frame-ancestors 'none'" "$h" &&
    grep -qi '^Cache-Control: no-store' "$h" && ok "security headers: $what" ||
    fail "security headers: $what: $(tr -d '\r' <"$h" | tr '\n' '|')"
}
req GET /api/v1/me -H "Authorization: Bearer ${tok[viewer]}" >/dev/null; hdr_check "GET /api/v1/me (200)"
req GET /api/v1/nothing >/dev/null; hdr_check "404"
req GET /api/v1/users -H "Authorization: Bearer ${tok[viewer]}" >/dev/null; hdr_check "403"
req GET /healthz >/dev/null; hdr_check "/healthz"

# ---- CSRF ------------------------------------------------------------------------------------
# cookie sessions: the login's Set-Cookie, sent back as a browser would
cookie_of() {
  req POST /api/v1/login -H 'Content-Type: application/json' \
    -d "{\"username\": \"$1\", \"password\": \"$2\"}" >/dev/null
  tr -d '\r' <"$work/hdr" | sed -n 's/^Set-Cookie: apolo_session=\([0-9a-f]*\);.*/\1/Ip'
}
ck=$(cookie_of oper "$pw_oper"); keep_tok "$ck"
[ ${#ck} = 64 ] && ok "login sets the cookie" || fail "no cookie: $(cat "$work/hdr")"
C=(-H "Cookie: apolo_session=$ck" -H 'Content-Type: application/json')
X=(-H 'X-Apolo-CSRF: 1')
name() { sql "SELECT name FROM accounts WHERE id = 7"; }

s=$(req PATCH /api/v1/accounts/7 "${C[@]}" -d '{"name": "forged"}')
expect "cookie, PATCH without X-Apolo-CSRF" 403 "$s"
grep -q 'CSRF' "$work/body" && ok "the refusal says CSRF" || fail "refusal: $(body)"
expect "... and nothing changed" "Roles SA" "$(name)"
expect "cookie, POST without the header" 403 "$(req POST /api/v1/extensions "${C[@]}" -d '{"number": "2999", "account_id": 7}')"
expect "cookie, PUT without the header" 403 "$(req PUT /api/v1/extensions/5/pin "${C[@]}" -d "{\"pin\": \"$pin_wrong\"}")"
expect "cookie, DELETE without the header" 403 "$(req DELETE /api/v1/extensions/5 "${C[@]}")"
expect "... the extension still active, no PIN" "t|f" \
  "$(sql "SELECT active, pin_hash IS NOT NULL FROM extensions WHERE id = 5")"
expect "cookie, POST logout without the header" 403 "$(req POST /api/v1/logout "${C[@]}")"
expect "cookie, GET without the header (safe method)" 200 "$(req GET /api/v1/accounts/7 "${C[@]}")"
expect "cookie with X-Apolo-CSRF, PATCH" 200 "$(req PATCH /api/v1/accounts/7 "${C[@]}" "${X[@]}" -d '{"name": "Roles Cookie"}')"
expect "... changed" "Roles Cookie" "$(name)"
expect "cookie with the header and Origin = Host" 200 "$(req PATCH /api/v1/accounts/7 "${C[@]}" "${X[@]}" \
  -H "Origin: http://$host" -d '{"name": "Roles Origin"}')"
expect "cookie with the header, Origin https://Host (scheme not compared: a TLS proxy)" 200 \
  "$(req PATCH /api/v1/accounts/7 "${C[@]}" "${X[@]}" -H "Origin: https://$host" -d '{"name": "Roles Origin"}')"
s=$(curl -s -o "$work/body" -w '%{http_code}' -X PATCH "${C[@]}" "${X[@]}" -H 'Host: billing.example' \
  -H 'Origin: https://billing.example:443' -d '{"name": "Roles Origin"}' "$base/api/v1/accounts/7")
expect "cookie, Origin https://h:443 with Host h (default port)" 200 "$s"
expect "cookie with the header, a foreign Origin" 403 "$(req PATCH /api/v1/accounts/7 "${C[@]}" "${X[@]}" \
  -H 'Origin: https://evil.example' -d '{"name": "forged"}')"
grep -q 'Origin' "$work/body" && ok "the refusal names the Origin" || fail "refusal: $(body)"
expect "cookie with the header, Origin of another port" 403 "$(req PATCH /api/v1/accounts/7 "${C[@]}" "${X[@]}" \
  -H "Origin: http://127.0.0.1:1" -d '{"name": "forged"}')"
expect "cookie with the header, Origin null" 403 "$(req PATCH /api/v1/accounts/7 "${C[@]}" "${X[@]}" \
  -H 'Origin: null' -d '{"name": "forged"}')"
expect "cookie, GET with a foreign Origin" 403 "$(req GET /api/v1/accounts/7 "${C[@]}" -H 'Origin: https://evil.example')"
expect "... nothing changed by the refused ones" "Roles Origin" "$(name)"
B=(-H "Authorization: Bearer ${tok[operator]}" -H 'Content-Type: application/json')
expect "bearer, PATCH without the header" 200 "$(req PATCH /api/v1/accounts/7 "${B[@]}" -d '{"name": "Roles Bearer"}')"
expect "bearer, a foreign Origin (unaffected)" 200 "$(req PATCH /api/v1/accounts/7 "${B[@]}" \
  -H 'Origin: https://evil.example' -d '{"name": "Roles SA"}')"
# the custom header suffices because a foreign page's fetch with it needs
# a CORS preflight, which apolod never grants
s=$(req OPTIONS /api/v1/accounts/7 -H 'Origin: https://evil.example' \
  -H 'Access-Control-Request-Method: PATCH' -H 'Access-Control-Request-Headers: x-apolo-csrf')
[ "$s" != 200 ] && [ "$s" != 204 ] && ! grep -qi '^Access-Control-Allow' "$work/hdr" &&
  ok "a CORS preflight is not granted ($s, no Access-Control-Allow-*)" ||
  fail "CORS preflight: $s $(grep -i '^Access-Control' "$work/hdr")"
vck=$(cookie_of view "$pw_view"); keep_tok "$vck"
s=$(req PATCH /api/v1/accounts/7 -H "Cookie: apolo_session=$vck" -H 'Content-Type: application/json' -d '{"name": "x"}')
expect "viewer's cookie, PATCH without the header: the role's 403" 403 "$s"
grep -q 'operator role' "$work/body" && ok "... says the role" || fail "viewer refusal: $(body)"
expect "login with a foreign Origin (login CSRF)" 403 "$(req POST /api/v1/login -H 'Content-Type: application/json' \
  -H 'Origin: https://evil.example' -d "{\"username\": \"oper\", \"password\": \"$pw_oper\"}")"
expect "login with Origin = Host" 200 "$(req POST /api/v1/login -H 'Content-Type: application/json' \
  -H "Origin: http://$host" -d "{\"username\": \"oper\", \"password\": \"$pw_oper\"}")"
keep_tok "$(jbody .token)"
expect "WebSocket, cookie, Origin = Host" 101 "$(ws_status "Cookie: apolo_session=$ck" "Origin: http://$host")"
expect "WebSocket, cookie, a foreign Origin" 403 "$(ws_status "Cookie: apolo_session=$ck" "Origin: https://evil.example")"
expect "WebSocket, bearer, a foreign Origin" 101 "$(ws_status "Authorization: Bearer ${tok[viewer]}" "Origin: https://evil.example")"
expect "cookie logout with the header" 204 "$(req POST /api/v1/logout "${C[@]}" "${X[@]}")"
expect "... the cookie session is gone" 401 "$(req GET /api/v1/me "${C[@]}")"
expect "an ended cookie without the header: 401, not 403" 401 "$(req PATCH /api/v1/accounts/7 "${C[@]}" -d '{}')"

# ---- session expiry ---------------------------------------------------------------------------
req POST /api/v1/login -H 'Content-Type: application/json' \
  -d "{\"username\": \"view\", \"password\": \"$pw_view\"}" >/dev/null
etok=$(jbody .token); exp=$(jbody .expires_at); keep_tok "$etok"
left=$(( $(date -d "$exp" +%s) - $(date +%s) ))
[ "$left" -gt 3500 ] && [ "$left" -le 3601 ] && ok "expires_at is admin.session_hours (1 h) away ($left s)" ||
  fail "expires_at $exp: $left s away, expected 3600"
grep -qi '^Set-Cookie: apolo_session=.*Max-Age=3600' "$work/hdr" && ok "the cookie's Max-Age is 3600" ||
  fail "cookie: $(grep -i '^Set-Cookie' "$work/hdr")"
# a session created admin.session_hours and 1 s ago (never used: not in the
# 5 s cache of sessions seen valid)
expect "ageing the session in SQL" 1 "$(sql "WITH u AS (UPDATE sessions
       SET created_at = created_at - interval '1 hour 1 second',
           last_seen_at = last_seen_at - interval '1 hour 1 second',
           expires_at = expires_at - interval '1 hour 1 second'
     WHERE token_hash = '$(hash_of "$etok")' RETURNING 1) SELECT count(*) FROM u")"
expect "a session past admin.session_hours (bearer)" 401 \
  "$(req GET /api/v1/me -H "Authorization: Bearer $etok")"
expect "... (cookie)" 401 "$(req GET /api/v1/me -H "Cookie: apolo_session=$etok")"
grep -q 'expired' "$work/body" && ok "... says expired" || fail "expired: $(body)"
expect "a live session still works" 200 "$(req GET /api/v1/me -H "Authorization: Bearer ${tok[viewer]}")"

# ---- secrets: used, then looked for in the log --------------------------------------------------
A=(-H "Authorization: Bearer ${tok[admin]}" -H 'Content-Type: application/json')
expect "a wrong password" 401 "$(req POST /api/v1/login -H 'Content-Type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"$pw_wrong\"}")"
expect "PUT a PIN" 200 "$(req PUT /api/v1/extensions/5/pin "${A[@]}" -d "{\"pin\": \"$pin\"}")"
expect "verify the PIN" true "$(req POST /api/v1/extensions/5/pin/verify "${A[@]}" -d "{\"pin\": \"$pin\"}" >/dev/null; jq -r .valid "$work/body")"
expect "verify a wrong PIN" false "$(req POST /api/v1/extensions/5/pin/verify "${A[@]}" -d "{\"pin\": \"$pin_wrong\"}" >/dev/null; jq -r .valid "$work/body")"
expect "create a FAC with a code" 201 "$(req POST /api/v1/facs "${A[@]}" \
  -d "{\"name\": \"Roles FAC\", \"code\": \"$fac_code\", \"authorization_level\": 1}")"
expect "create a user (a password)" 201 "$(req POST /api/v1/users "${A[@]}" \
  -d "{\"username\": \"newbie\", \"password\": \"$pw_new\", \"role\": \"viewer\"}")"
nt=$(session newbie "$pw_new")
expect "the new user's session" 200 "$(req GET /api/v1/me -H "Authorization: Bearer $nt")"

sleep 0.5                                  # the last lines reach the log
log=$work/apolod.log
lines=$(wc -l <"$log")
grep -q 'PUT /api/v1/extensions/5/pin 200' "$log" && ok "the log has the request lines ($lines lines)" ||
  fail "the log lacks the request lines"
audit=$work/audit.txt
sql "SELECT actor, action, object, details::text FROM audit_log" >"$audit"
mapfile -t tokens <"$toks"
secrets=("$pw_admin" "$pw_oper" "$pw_view" "$pw_wrong" "$pw_new" "$pin" "$pin_wrong"
         "$fac_code" "$fac_secret" "${tokens[@]}")
leaks=0
for sec in "${secrets[@]}"; do
  [ -n "$sec" ] || continue
  if grep -qF -- "$sec" "$log"; then fail "a secret in the log: ${sec:0:6}..."; leaks=$((leaks + 1)); fi
  if grep -qF -- "$sec" "$audit"; then fail "a secret in audit_log: ${sec:0:6}..."; leaks=$((leaks + 1)); fi
done
[ "$leaks" = 0 ] && ok "none of ${#secrets[@]} secrets (5 passwords, 2 PINs, a FAC code, fac.secret, $((${#secrets[@]} - 9)) session tokens) in the log nor in audit_log"

t_done
