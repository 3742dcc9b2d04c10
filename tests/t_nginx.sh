#!/usr/bin/env bash
# t_nginx.sh -- TLS in front of apolod: Debian's nginx (installed by make
# deps, never here) runs engine/nginx-apolo.conf.example, moved to private
# ports and paths, with a self-signed certificate made by openssl in the
# temp folder; everything is checked through https with curl --cacert (and
# Python's ssl for the WebSocket):
#
#   - the derived configuration: each edit of the example applied (a
#     changed example fails here rather than testing something else), and
#     nginx -t accepts it
#   - /healthz; HSTS on every answer; apolod's own security headers pass
#     through (nosniff, X-Frame-Options DENY, no-store)
#   - login: 200, a token, the cookie with Secure added by nginx
#   - the API: GET /api/v1/me with the bearer token; a cookie session's
#     PATCH with X-Apolo-CSRF and the browser's Origin
#     (https://apolo.test:PORT) passes (nginx passes Host on), a foreign
#     Origin is refused 403; a CSV export streams through
#   - the dashboard: / -> 302 /ui/, /ui/ 200 HTML with its CSP
#   - the WebSocket: the upgrade of /ws answers 101 and the snapshot
#     arrives (bearer; the cookie with the page's Origin); a foreign Origin
#     403, no session 401
#   - plain HTTP to the TLS port fails (nginx's 400, nothing of apolod);
#     the plain HTTP port only redirects to https (301); /metrics is not
#     published (404 through nginx, 200 on apolod's own port)
#   - logins are rate-limited per client by nginx (429 past the burst)
#
# Uses /usr/sbin/nginx, openssl, /usr/bin/python3. KEEP=1 keeps the temp
# folder.
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
NGINX=/usr/sbin/nginx
t_init nginx

ng=$work/nginx
ngpid=""
t_on_exit() {
  if [ -n "$ngpid" ]; then
    kill -TERM "$ngpid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$ngpid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$ngpid" 2>/dev/null
  fi
}
[ -x "$NGINX" ] || { fail "no $NGINX (apt-get install nginx; make deps)"; t_done; }
command -v openssl >/dev/null || { fail "no openssl"; t_done; }

tls=$(t_free_port)
while [ "$tls" = "$port" ]; do tls=$(t_free_port); done
plain=$(t_free_port)
while [ "$plain" = "$port" ] || [ "$plain" = "$tls" ]; do plain=$(t_free_port); done
name=apolo.test
origin=https://$name:$tls
tbase=$origin

# ---- apolod ----------------------------------------------------------------------------------
pw='admin password 8c2e'
t_conf <<EOF
admin.trusted_proxies = "127.0.0.1"
EOF
t_migrate
sql "
INSERT INTO rate_plans (id, name, currency) VALUES (1, 'ARS plan', 'ARS');
INSERT INTO accounts (id, code, name, type, status, balance, currency, plan_id)
VALUES (7, 'TLS', 'TLS SA', 'prepaid', 'active', 0, 'ARS', 1);" || { fail "seed"; t_done; }
t_user admin admin "$pw"
t_start

# ---- a self-signed certificate, the configuration ---------------------------------------------
mkdir -p "$ng/tmp"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$name" \
  -addext "subjectAltName=DNS:$name" -keyout "$ng/key.pem" -out "$ng/cert.pem" \
  >"$ng/openssl.log" 2>&1 || { cat "$ng/openssl.log"; fail "openssl req"; t_done; }
ok "a self-signed certificate for $name"

$PY - "$top/engine/nginx-apolo.conf.example" "$ng/apolo.conf" <<EOF || { fail "deriving the configuration"; t_done; }
import sys
src, dst = sys.argv[1], sys.argv[2]
text = open(src).read()
edits = [
    ("listen 80;", "listen 127.0.0.1:$plain;"),
    ("listen 443 ssl http2;", "listen 127.0.0.1:$tls ssl http2;"),
    ("server_name apolo.example.com;", "server_name $name;"),
    ("/etc/ssl/apolo/fullchain.pem", "$ng/cert.pem"),
    ("/etc/ssl/apolo/privkey.pem", "$ng/key.pem"),
    ("server 127.0.0.1:8080;", "server 127.0.0.1:$port;"),
    ("/var/log/nginx/apolo.access.log", "$ng/apolo.access.log"),
    ("/var/log/nginx/apolo.error.log", "$ng/apolo.error.log"),
]
bad = 0
for old, new in edits:
    if old not in text:
        print("FAIL: the example has no %r any more" % old)
        bad += 1
    text = text.replace(old, new)
# IPv6 listeners: not here
lines = [l for l in text.splitlines(True) if "listen [::]" not in l]
open(dst, "w").write("".join(lines))
print("ok:   the example derived: %d edits, %d IPv6 listeners dropped" %
      (len(edits), len(text.splitlines()) - len(lines)))
sys.exit(1 if bad else 0)
EOF
user_line=""
[ "$(id -u)" = 0 ] && user_line="user $(id -un) $(id -gn);"   # workers as us: the temp folder is 0700
cat >"$ng/nginx.conf" <<EOF
$user_line
daemon off;
worker_processes 1;
pid $ng/nginx.pid;
error_log $ng/error.log warn;
events { worker_connections 128; }
http {
    access_log $ng/access.log;
    client_body_temp_path $ng/tmp/body;
    proxy_temp_path $ng/tmp/proxy;
    fastcgi_temp_path $ng/tmp/fastcgi;
    uwsgi_temp_path $ng/tmp/uwsgi;
    scgi_temp_path $ng/tmp/scgi;
    include $ng/apolo.conf;
}
EOF
NG=("$NGINX" -p "$ng" -e "$ng/error.log" -c "$ng/nginx.conf")
"${NG[@]}" -t >"$ng/t.log" 2>&1 && ok "nginx -t accepts it" ||
  { cat "$ng/t.log"; fail "nginx -t"; t_done; }
"${NG[@]}" >>"$ng/stdout.log" 2>&1 &
ngpid=$!

# treq METHOD PATH [curl args...]: through nginx over TLS; the status.
treq() {
  local m=$1 p=$2; shift 2
  curl -s -X "$m" -o "$work/body" -D "$work/hdr" -w '%{http_code}' --max-time 20 \
    --cacert "$ng/cert.pem" --resolve "$name:$tls:127.0.0.1" "$@" "$tbase$p"
}
hdr() { tr -d '\r' <"$work/hdr" | grep -i "^$1:" | head -1 | cut -d' ' -f2-; }

up=""
for _ in $(seq 1 100); do
  [ "$(treq GET /healthz)" = 200 ] && { up=1; break; }
  kill -0 "$ngpid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$up" ] || { cat "$ng/error.log"; fail "nginx did not answer https://$name:$tls/healthz"; t_done; }
ok "nginx serves https://$name:$tls (certificate verified with --cacert)"

# ---- headers ----------------------------------------------------------------------------------
expect "/healthz through nginx" ok "$(jbody .status)"
expect "HSTS" "max-age=31536000" "$(hdr Strict-Transport-Security)"
expect "apolod's nosniff passes through" nosniff "$(hdr X-Content-Type-Options)"
expect "apolod's X-Frame-Options passes through" DENY "$(hdr X-Frame-Options)"
expect "apolod's no-store passes through" no-store "$(hdr Cache-Control)"
expect "no nginx version" nginx "$(hdr Server)"

# ---- login, the API ----------------------------------------------------------------------------
s=$(treq POST /api/v1/login -H 'Content-Type: application/json' \
  -d "{\"username\": \"admin\", \"password\": \"$pw\"}")
expect "login through nginx" 200 "$s"
tok=$(jbody .token)
[ ${#tok} = 64 ] && ok "a token" || fail "no token: $(body)"
cookie=$(hdr Set-Cookie)
ck=$(sed -n 's/^apolo_session=\([0-9a-f]*\);.*/\1/p' <<<"$cookie")
[ ${#ck} = 64 ] && ok "the session cookie" || fail "no cookie: $cookie"
grep -qi '; *secure' <<<"$cookie" && ok "the cookie has Secure (proxy_cookie_flags)" || fail "no Secure: $cookie"
grep -qi 'HttpOnly' <<<"$cookie" && grep -qi 'SameSite=Strict' <<<"$cookie" &&
  ok "... still HttpOnly, SameSite=Strict" || fail "cookie flags: $cookie"
expect "HSTS on the login's answer" "max-age=31536000" "$(hdr Strict-Transport-Security)"

s=$(treq GET /api/v1/me -H "Authorization: Bearer $tok")
expect "GET /api/v1/me (bearer)" 200 "$s"
expect "... the user" admin "$(jbody .username)"
C=(-H "Cookie: apolo_session=$ck" -H 'Content-Type: application/json' -H 'X-Apolo-CSRF: 1')
expect "cookie PATCH with X-Apolo-CSRF and the page's Origin (Host passed on)" 200 \
  "$(treq PATCH /api/v1/accounts/7 "${C[@]}" -H "Origin: $origin" -d '{"name": "TLS via nginx"}')"
expect "... changed" "TLS via nginx" "$(sql "SELECT name FROM accounts WHERE id = 7")"
expect "cookie PATCH from a foreign Origin" 403 \
  "$(treq PATCH /api/v1/accounts/7 "${C[@]}" -H 'Origin: https://evil.example' -d '{"name": "forged"}')"
expect "cookie PATCH without X-Apolo-CSRF" 403 \
  "$(treq PATCH /api/v1/accounts/7 -H "Cookie: apolo_session=$ck" -H 'Content-Type: application/json' \
     -H "Origin: $origin" -d '{"name": "forged"}')"
expect "... unchanged" "TLS via nginx" "$(sql "SELECT name FROM accounts WHERE id = 7")"
expect "HSTS on a 403 (always)" "max-age=31536000" "$(hdr Strict-Transport-Security)"
expect "a CSV export streams through" 200 "$(treq GET '/api/v1/ledger.csv?account=7' -H "Authorization: Bearer $tok")"
head -1 "$work/body" | grep -q ',' && ok "... a CSV header line" || fail "ledger.csv: $(head -c 200 "$work/body")"

# ---- the dashboard -----------------------------------------------------------------------------
expect "GET / through nginx" 302 "$(treq GET /)"
expect "... to /ui/" /ui/ "$(hdr Location)"
expect "GET /ui/ (the dashboard)" 200 "$(treq GET /ui/)"
grep -qi '<html' "$work/body" && ok "... an HTML page" || fail "/ui/: $(head -c 200 "$work/body")"
hdr Content-Security-Policy | grep -q "default-src 'self'" && ok "... with its CSP" ||
  fail "/ui/ CSP: $(hdr Content-Security-Policy)"
expect "GET /ui/js/api.js" 200 "$(treq GET /ui/js/api.js)"
grep -q "X-Apolo-CSRF" "$work/body" && ok "... sends X-Apolo-CSRF" || fail "api.js has no X-Apolo-CSRF"

# ---- the WebSocket -----------------------------------------------------------------------------
# wss HEADER...: the upgrade of /ws over TLS; prints the status, then
# "snapshot" when a 101 is followed by the snapshot message within 5 s.
wss() {
  : >"$work/body"                # (a failure shows no stale body)
  $PY - "$tls" "$name" "$ng/cert.pem" "$@" <<'EOF'
import socket, ssl, sys, time
port, name, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                    server_hostname=name)
hdr = "".join(h + "\r\n" for h in sys.argv[4:])
s.sendall(("GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n%s\r\n"
           % (name, port, hdr)).encode())
buf = b""
while b"\r\n\r\n" not in buf:
    d = s.recv(4096)
    if not d:
        break
    buf += d
status = buf.split(b" ")[1].decode() if buf.startswith(b"HTTP/") else "none"
print(status)
if status == "101":
    end = time.time() + 5
    while b'"type":"snapshot"' not in buf and time.time() < end:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        buf += d
    if b'"type":"snapshot"' in buf:
        print("snapshot")
EOF
}
out=$(wss "Authorization: Bearer $tok")
expect "WebSocket upgrade of /ws through nginx (bearer)" 101 "$(head -1 <<<"$out")"
expect "... the snapshot arrives" snapshot "$(sed -n 2p <<<"$out")"
out=$(wss "Cookie: apolo_session=$ck" "Origin: $origin")
expect "WebSocket with the cookie and the page's Origin" 101 "$(head -1 <<<"$out")"
expect "... the snapshot arrives" snapshot "$(sed -n 2p <<<"$out")"
expect "WebSocket with the cookie from a foreign Origin" 403 \
  "$(wss "Cookie: apolo_session=$ck" 'Origin: https://evil.example' | head -1)"
expect "WebSocket without a session" 401 "$(wss | head -1)"

# ---- plain HTTP ---------------------------------------------------------------------------------
s=$(curl -s -o "$work/body" -w '%{http_code}' --max-time 10 "http://127.0.0.1:$tls/api/v1/me" \
  -H "Authorization: Bearer $tok")
expect "plain HTTP to the TLS port: nginx's 400" 400 "$s"
grep -q 'plain HTTP request was sent to HTTPS port' "$work/body" && ! grep -q '"username"' "$work/body" &&
  ok "... refused by nginx, nothing of apolod" || fail "plain HTTP to TLS: $(head -c 200 "$work/body")"
s=$(curl -s -o "$work/body" -D "$work/hdr" -w '%{http_code}' --max-time 10 \
  "http://127.0.0.1:$plain/api/v1/me" -H "Host: $name" -H "Authorization: Bearer $tok")
expect "the plain HTTP port redirects" 301 "$s"
expect "... to https" "https://$name/api/v1/me" "$(hdr Location)"
! grep -q '"username"' "$work/body" && ok "... and serves nothing of the API" || fail "API over plain HTTP"

# ---- /metrics -----------------------------------------------------------------------------------
expect "/metrics not published through nginx" 404 "$(treq GET /metrics)"
expect "/metrics on apolod's loopback port" 200 "$(req GET /metrics)"

# ---- login rate limit (nginx's limit_req; bodies apolod refuses 400, so
# its own failed-login throttling is not involved) -------------------------------------------------
codes=""
for _ in $(seq 1 10); do
  codes+=" $(treq POST /api/v1/login -H 'Content-Type: application/json' -d '{}')"
done
[[ $codes == *" 400"* ]] && [[ $codes == *" 429" ]] &&
  ok "login rate limit: 10 quick logins ->$codes" || fail "login rate limit:$codes"

# ---- the failed-login throttling counts the proxy's clients (X-Real-IP,
# trusted from admin.trusted_proxies = 127.0.0.1), straight to apolod -------
badlogin() {
  req POST /api/v1/login -H 'Content-Type: application/json' -H "X-Real-IP: $1" \
    -d "{\"username\": \"nobody$2\", \"password\": \"wrong-password-$2\"}"
}
codes=""
for k in 1 2 3 4 5 6; do codes+=" $(badlogin 203.0.113.7 $k)"; done
[[ $codes == *" 429" ]] && ok "six failed logins of client 203.0.113.7: the sixth 429 ($codes)" ||
  fail "throttling of 203.0.113.7:$codes"
expect "another client behind the same proxy is not locked out" 401 "$(badlogin 203.0.113.8 7)"
expect "X-Real-IP that is not an address: the proxy's own (not locked)" 401 "$(badlogin 'not-an-ip' 8)"

grep -q ' "GET /ws HTTP/1.1" 101 ' "$ng/apolo.access.log" && ok "nginx's access log has the 101" ||
  fail "nginx access log: $(tail -3 "$ng/apolo.access.log")"
t_done
