#!/usr/bin/python3
"""axl_sink.py -- a CUCM AXL endpoint for tests/t_api_fac.sh.

    /usr/bin/python3 tests/axl_sink.py DIR --user U --password P
                                           [--version 14.0] [--port N]

Listens on 127.0.0.1 (port 0: a free one), writes the port to DIR/port
once it listens. Serves POST /axl/ like CUCM's AXL for the FAC operations
(addFacInfo, updateFacInfo, removeFacInfo, listFacInfo), and checks the
shape of every request before answering it:

  - basic auth = --user/--password (else 401, as CUCM)
  - Content-Type text/xml; SOAPAction "CUCM:DB ver=<version> <op>"
  - a SOAP 1.1 Envelope whose Body has one element, op, in the namespace
    http://www.cisco.com/AXL/API/<version>, with the schema's children
    (unqualified): addFacInfo/facInfo/{name, code, authorizationLevel};
    updateFacInfo/{name|uuid, newName?, code?, authorizationLevel?};
    removeFacInfo/{name|uuid}; listFacInfo/{searchCriteria/name,
    returnedTags, skip?, first?}; values in CUCM's limits (name <= 50,
    code 1..16 digits, level 0..255)

A request of the wrong shape is answered with a SOAP fault "bad request
shape: ..." and recorded with "shape_ok": false. Every request is recorded
in arrival order n = 1, 2, ...:

    DIR/n.xml    the body as received
    DIR/n.json   {"op", "soapaction", "auth_ok", "shape_ok", "error",
                  "fields": {child: text}, "status"}

The FACs it holds live in DIR/state.json (kept across restarts), seeded at
the first start with "Sales Team" (code 4455, level 10) and "Night Shift"
(level 5, its code not returned by listFacInfo). Answers like CUCM: add ->
<return>{UUID}</return>; a name taken -> fault (duplicate value in a UNIQUE
INDEX); update/remove of an unknown name -> fault. While DIR/fail exists,
every request is answered with the fault "told to fail" (HTTP 500).
Standard library only; SIGTERM ends it.
"""
import argparse
import base64
import http.server
import json
import os
import re
import sys
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


class Bad(Exception):
    pass


class Sink(http.server.BaseHTTPRequestHandler):
    folder = "."
    user = password = version = ""
    seen = 0

    # ---- state ---------------------------------------------------------------
    @classmethod
    def load(cls):
        p = os.path.join(cls.folder, "state.json")
        if os.path.exists(p):
            return json.load(open(p))
        return {"sales team": {"name": "Sales Team", "code": "4455",
                               "level": 10, "uuid": "{" + str(uuid.uuid4()).upper() + "}",
                               "listed_code": True},
                "night shift": {"name": "Night Shift", "code": "7001",
                                "level": 5, "uuid": "{" + str(uuid.uuid4()).upper() + "}",
                                "listed_code": False}}

    @classmethod
    def save(cls, st):
        p = os.path.join(cls.folder, "state.json")
        with open(p + ".tmp", "w") as f:
            json.dump(st, f)
        os.rename(p + ".tmp", p)

    # ---- checks --------------------------------------------------------------
    def auth_ok(self):
        h = self.headers.get("Authorization", "")
        want = base64.b64encode(f"{Sink.user}:{Sink.password}".encode()).decode()
        return h == "Basic " + want

    @staticmethod
    def children(el):
        out = []
        for c in el:
            if c.tag.startswith("{"):
                raise Bad(f"child <{c.tag}> must be unqualified")
            out.append(c)
        return out

    @staticmethod
    def check_values(f):
        if "name" in f and not (1 <= len(f["name"]) <= 50):
            raise Bad("name: 1..50 characters")
        if "newName" in f and not (1 <= len(f["newName"]) <= 50):
            raise Bad("newName: 1..50 characters")
        if "code" in f and not re.fullmatch(r"[0-9]{1,16}", f["code"]):
            raise Bad("code: 1..16 digits")
        if "authorizationLevel" in f:
            if not re.fullmatch(r"[0-9]{1,3}", f["authorizationLevel"]) \
                    or int(f["authorizationLevel"]) > 255:
                raise Bad("authorizationLevel: 0..255")

    def shape(self, body):
        """(op, fields) of a well-formed request, else raises Bad."""
        ctype = self.headers.get("Content-Type", "")
        if not ctype.startswith("text/xml"):
            raise Bad(f"Content-Type {ctype!r}")
        action = self.headers.get("SOAPAction", "")
        m = re.fullmatch(r'"CUCM:DB ver=([0-9.]+) (\w+)"', action)
        if not m or m.group(1) != Sink.version:
            raise Bad(f"SOAPAction {action!r}")
        op = m.group(2)
        root = ET.fromstring(body)
        if root.tag != f"{{{SOAP}}}Envelope":
            raise Bad(f"root {root.tag}")
        bodies = [c for c in root if c.tag == f"{{{SOAP}}}Body"]
        if len(bodies) != 1 or len(list(bodies[0])) != 1:
            raise Bad("one Body with one operation expected")
        opel = list(bodies[0])[0]
        ns = f"http://www.cisco.com/AXL/API/{Sink.version}"
        if opel.tag != f"{{{ns}}}{op}":
            raise Bad(f"operation element {opel.tag}, SOAPAction {op}")
        kids = self.children(opel)
        names = [k.tag for k in kids]
        fields = {}
        if op == "addFacInfo":
            if names != ["facInfo"]:
                raise Bad(f"addFacInfo children {names}")
            sub = self.children(kids[0])
            if [k.tag for k in sub] != ["name", "code", "authorizationLevel"]:
                raise Bad(f"facInfo children {[k.tag for k in sub]}")
            fields = {k.tag: (k.text or "") for k in sub}
        elif op == "updateFacInfo":
            order = ["name", "newName", "code", "authorizationLevel"]
            if not names or names[0] not in ("name", "uuid") \
                    or names[1:] != [n for n in order[1:] if n in names[1:]]:
                raise Bad(f"updateFacInfo children {names}")
            fields = {k.tag: (k.text or "") for k in kids}
        elif op == "removeFacInfo":
            if names not in (["name"], ["uuid"]):
                raise Bad(f"removeFacInfo children {names}")
            fields = {k.tag: (k.text or "") for k in kids}
        elif op == "listFacInfo":
            if names[:2] != ["searchCriteria", "returnedTags"]:
                raise Bad(f"listFacInfo children {names}")
            crit = self.children(kids[0])
            tags = [k.tag for k in self.children(kids[1])]
            if [k.tag for k in crit] != ["name"] or "name" not in tags:
                raise Bad("listFacInfo searchCriteria/returnedTags")
            fields = {k.tag: (k.text or "") for k in kids[2:]}
            fields["returnedTags"] = ",".join(tags)
        else:
            raise Bad(f"unexpected operation {op}")
        self.check_values(fields)
        return op, fields

    # ---- answers -------------------------------------------------------------
    def envelope(self, inner):
        return ("<?xml version='1.0' encoding='UTF-8'?><soapenv:Envelope "
                f'xmlns:soapenv="{SOAP}"><soapenv:Body>{inner}'
                "</soapenv:Body></soapenv:Envelope>").encode()

    def fault(self, msg, op):
        esc = msg.replace("&", "&amp;").replace("<", "&lt;")
        return 500, self.envelope(
            "<soapenv:Fault><faultcode>soapenv:Client</faultcode>"
            f"<faultstring>{esc}</faultstring><detail><axlError>"
            f"<axlcode>-239</axlcode><axlmessage>{esc}</axlmessage>"
            f"<request>{op}</request></axlError></detail></soapenv:Fault>")

    def reply(self, op, inner):
        ns = f"http://www.cisco.com/AXL/API/{Sink.version}"
        return 200, self.envelope(f'<ns:{op}Response xmlns:ns="{ns}">'
                                  f"{inner}</ns:{op}Response>")

    def apply(self, op, f):
        st = self.load()
        key = f.get("name", "").lower()
        if op == "addFacInfo":
            if key in st or any(v["code"] == f["code"] for v in st.values()):
                return self.fault("Could not insert new row - duplicate value "
                                  "in a UNIQUE INDEX column (Unique Index:).", op)
            u = "{" + str(uuid.uuid4()).upper() + "}"
            st[key] = {"name": f["name"], "code": f["code"], "uuid": u,
                       "level": int(f["authorizationLevel"]), "listed_code": True}
            self.save(st)
            return self.reply(op, f"<return>{u}</return>")
        if op in ("updateFacInfo", "removeFacInfo"):
            if key not in st:
                return self.fault(f"Item not valid: The specified FAC "
                                  f"{f.get('name')} was not found", op)
            e = st.pop(key)
            if op == "updateFacInfo":
                e["name"] = f.get("newName", e["name"])
                e["code"] = f.get("code", e["code"])
                e["level"] = int(f.get("authorizationLevel", e["level"]))
                st[e["name"].lower()] = e
            self.save(st)
            return self.reply(op, f"<return>{e['uuid']}</return>")
        skip = int(f.get("skip", "0"))
        first = int(f.get("first", "1000000"))
        rows = sorted(st.values(), key=lambda v: v["name"])[skip:skip + first]
        inner = "".join(
            f'<facInfo uuid="{v["uuid"]}"><name>{escape(v["name"])}</name>'
            + (f"<code>{v['code']}</code>" if v["listed_code"] else "")
            + f"<authorizationLevel>{v['level']}</authorizationLevel></facInfo>"
            for v in rows)
        return self.reply(op, f"<return>{inner}</return>")

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        Sink.seen += 1
        base = os.path.join(Sink.folder, str(Sink.seen))
        with open(base + ".xml", "wb") as fh:
            fh.write(body)
        meta = {"path": self.path, "op": None, "fields": {}, "error": None,
                "soapaction": self.headers.get("SOAPAction"),
                "auth_ok": self.auth_ok(), "shape_ok": False}
        if not meta["auth_ok"]:
            status, out = 401, b"<html>401 Unauthorized</html>"
        else:
            try:
                op, fields = self.shape(body)
                meta.update(op=op, fields=fields, shape_ok=True)
                if os.path.exists(os.path.join(Sink.folder, "fail")):
                    status, out = self.fault("told to fail", op)
                else:
                    status, out = self.apply(op, fields)
            except (Bad, ET.ParseError) as e:
                meta["error"] = str(e)
                status, out = self.fault(f"bad request shape: {e}", "?")
        meta["status"] = status
        with open(base + ".json.tmp", "w") as fh:
            json.dump(meta, fh)
        os.rename(base + ".json.tmp", base + ".json")
        self.send_response(status)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--version", default="14.0")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    Sink.folder, Sink.user, Sink.password = a.dir, a.user, a.password
    Sink.version = a.version
    Sink.seen = len([f for f in os.listdir(a.dir) if f.endswith(".json")
                     and f[0].isdigit()])
    if not os.path.exists(os.path.join(a.dir, "state.json")):
        Sink.save(Sink.load())
    srv = http.server.HTTPServer(("127.0.0.1", a.port), Sink)
    with open(os.path.join(a.dir, "port.tmp"), "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(os.path.join(a.dir, "port.tmp"), os.path.join(a.dir, "port"))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
