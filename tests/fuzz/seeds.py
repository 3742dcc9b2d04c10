#!/usr/bin/env python3
"""Builds the seed corpus of the fuzz targets (tests/fuzz/fuzz_*.c) from
the project's fixtures, into a build folder, never into the tree:

    python3 tests/fuzz/seeds.py build/fuzz/seeds

OUT/<target>/<sha1 of the content> for each target; OUT is emptied first.
Only the Python standard library is used. Sources:

  esl        the real FreeSWITCH captures (tests/fixtures/freeswitch/*.raw,
             ../shared/fixtures/freeswitch): single frames, a few of each
             kind, and runs of three frames, whole and cut in the middle
  cucm       the real CUCM files (tests/fixtures/cucm, ../shared/...):
             whole, and cut to their header and first records
  deck_csv   the shapes of tests/t_api_plans.sh, written here
  bulk_csv   the shapes of tests/t_api_bulk.sh, and the bulk XLSX fixtures
             turned into CSV (',' and ';' with decimal commas)
  xlsx       tests/fixtures/xlsx/*.xlsx as they are, and their XML parts
             joined by zipbuild.h's separator
  bulk_file  the CSV and XLSX seeds above behind their selector byte
  xml_cdr    mod_xml_cdr documents (tests/t_api_ingest.sh's shape) in every
             `encode` form behind their Content-Type byte
  ingest     plain JSON CDRs, mod_json_cdr and mod_xml_cdr bodies behind
             their format/Content-Type byte
  api_json   the JSON bodies the shell tests send (tests/t_*.sh)
  jrec       journal payloads: canonical and non-canonical msgpack
"""
import base64
import glob
import hashlib
import io
import json
import os
import re
import shutil
import sys
import urllib.parse
import xml.etree.ElementTree as ET
import zipfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = [os.path.join(TOP, "tests", "fixtures"),
            os.path.join(os.path.dirname(TOP), "shared", "fixtures")]
ZB_SEP = b"\n@@PART@@\n"
ZB_NAMES = ["xl/worksheets/sheet1.xml", "xl/sharedStrings.xml",
            "xl/workbook.xml", "xl/_rels/workbook.xml.rels",
            "xl/worksheets/sheet2.xml"]
# the largest seed of each target (bigger inputs only slow the fuzzer)
MAX = {"esl": 16384, "cucm": 20480, "xlsx": 20480, "bulk_file": 20480}
MAX_DEFAULT = 8192

out = None
counts = {}


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    if len(data) == 0 or len(data) > MAX.get(target, MAX_DEFAULT):
        return
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, hashlib.sha1(data).hexdigest())
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
        counts[target] = counts.get(target, 0) + 1


def fixture_files(sub, pattern):
    seen, files = set(), []
    for root in FIXTURES:
        for p in sorted(glob.glob(os.path.join(root, sub, pattern))):
            with open(p, "rb") as f:
                data = f.read()
            h = hashlib.sha1(data).digest()
            if h not in seen:
                seen.add(h)
                files.append((p, data))
    return files


# ---- ESL -------------------------------------------------------------------

def esl_frames(data):
    """The frames of a capture: (bytes, signature)."""
    frames, i = [], 0
    while i < len(data):
        end = data.find(b"\n\n", i)
        if end < 0:
            break
        head = data[i:end + 2]
        m = re.search(rb"(?mi)^Content-Length: *(\d+)$", head)
        n = int(m.group(1)) if m else 0
        frame = data[i:end + 2 + n]
        ct = re.search(rb"(?mi)^Content-Type: *(.*)$", head)
        body = data[end + 2:end + 2 + n]
        ev = re.search(rb"(?m)^Event-Name: *(.*)$", body) or \
            re.search(rb'"Event-Name":"([^"]*)"', body)
        sig = (ct.group(1) if ct else b"", ev.group(1) if ev else b"",
               b"Content-Length" in body)
        frames.append((frame, sig))
        i = end + 2 + n
    return frames


def seeds_esl():
    for path, data in fixture_files("freeswitch", "*.raw"):
        if path.endswith(".sent.raw"):
            continue
        frames = esl_frames(data)
        per_sig = {}
        for k, (frame, sig) in enumerate(frames):
            if per_sig.get(sig, 0) < 3:
                per_sig[sig] = per_sig.get(sig, 0) + 1
                put("esl", frame)
                run = b"".join(f for f, _ in frames[k:k + 3])
                put("esl", run)
                put("esl", run[:len(run) * 2 // 3])    # a partial frame
        if len(data) <= MAX["esl"]:
            put("esl", data)                            # the small probes


# ---- CUCM ------------------------------------------------------------------

def seeds_cucm():
    for path, data in fixture_files("cucm", "c*"):
        put("cucm", data)
        lines = data.split(b"\n")
        for keep in (2, 3, 5):
            put("cucm", b"\n".join(lines[:keep]) + b"\n")
        put("cucm", b"\n".join(lines[:4]))             # no final newline
        put("cucm", b"\r\n".join(lines[:4]) + b"\r\n")


# ---- CSV -------------------------------------------------------------------

DECKS = [
    "prefix,destination,rate_per_minute,connection_fee,increment\n"
    "549,AR-MOB,0.2,0.01,60/6\n5411,\"AR \"\"BA\"\" fixed\",0.0125,,1/1\n",
    "prefix,zone,rate\n549,AR-MOB,0.2\n",
    "prefix,zone,rate,period\n5493,AR-MOB,0.30,\n5493,AR-MOB,0.05,night\n",
    "prefix,zone,rate,period\n5494,AR-MOB,0.1,night\n5494,AR-MOB,0.2,night\n"
    "5495,AR-MOB,0.1,noon\n",
    "prefix,zone,rate_per_minute,first_increment,next_increment,"
    "effective_from,effective_to,closed\r\n"
    "1,US,0.01,30,6,2025-01-01,2026-01-01 10:00,no\r\n"
    "1201,US-NJ,0.02,1,1,2025-01-01T00:00:00Z,,1\r\n"
    "44,UK,,60,60,2025-02-30,,maybe\r\n",
    "\ufeffPrefix , Zone , Rate \n 7 , RU , 1.5 \n\n7,RU,1e3\n8,,0.1\n",
    "prefix,zone,rate\n" + "".join("54%d,Z%d,0.%d\n" % (i, i % 7, i)
                                   for i in range(40)),
    "zone,prefix\n1,2\n",
    "prefix,zone,rate,extra\n\"549,AR,0.1\n549,\"AR\" x,0.1,\n",
]

BULKS = [
    "account,amount,reason\nB1,1.00,ok\nB2,2.00,ok\nNOPE,3.00,unknown\n"
    "B1,-4,negative\n",
    "account,amount\nB1,\"1,25\"\n",
    "cuenta;monto;motivo\r\nB1;10,50;recarga\r\nB2;\"1.234,5\";\"con \"\"comillas\"\"\"\r\n",
    "account,amount,reason\nB1,1,\"two\nlines\"\nB2,0.0000001,x\n\n,,\n",
    "\ufeffaccount_code,importe\rA-1,99999999999\rA-2,  7  \r",
    "account,amount\nB1,\"1\n",
    "account,amount\n",
    "id,account_id,amount,reason,account\n1,2,3,4,5\n",
]


def xlsx_rows(data):
    """The first sheet's rows of an XLSX (shared strings resolved)."""
    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    z = zipfile.ZipFile(io.BytesIO(data))
    strings = []
    if "xl/sharedStrings.xml" in z.namelist():
        for si in ET.fromstring(z.read("xl/sharedStrings.xml")).iter(ns + "si"):
            strings.append("".join(t.text or "" for t in si.iter(ns + "t")))
    rows = []
    sheet = ET.fromstring(z.read("xl/worksheets/sheet1.xml"))
    for row in sheet.iter(ns + "row"):
        cells = []
        for c in row.iter(ns + "c"):
            v = c.find(ns + "v")
            text = v.text if v is not None and v.text else ""
            if c.get("t") == "s" and text.isdigit() and int(text) < len(strings):
                text = strings[int(text)]
            elif c.get("t") == "inlineStr":
                text = "".join(t.text or "" for t in c.iter(ns + "t"))
            cells.append(text)
        rows.append(cells)
    return rows


def csv_of(rows, sep):
    def field(s):
        if sep == ";" and re.fullmatch(r"-?\d+\.\d+", s):
            s = s.replace(".", ",")
        if any(ch in s for ch in ',;"\r\n'):
            return '"' + s.replace('"', '""') + '"'
        return s
    return "".join(sep.join(field(c) for c in r) + "\r\n" for r in rows)


def xlsx_fixtures():
    return [(p, d) for p, d in fixture_files("xlsx", "*.xlsx")]


def xlsx_parts(data):
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return None
    parts = []
    for name in ZB_NAMES:
        try:
            info = z.getinfo(name)
        except KeyError:
            parts.append(b"")
            continue
        if info.file_size > 16384:          # the bomb's sheet: not a seed
            return None
        try:
            parts.append(z.read(name))
        except Exception:
            return None
    while parts and parts[-1] == b"":
        parts.pop()
    return ZB_SEP.join(parts) if parts else None


def seeds_csv_xlsx():
    for d in DECKS:
        put("deck_csv", d)
    bulk = list(BULKS)
    for path, data in xlsx_fixtures():
        if os.path.basename(path).startswith("bulk"):
            try:
                rows = xlsx_rows(data)
            except Exception:
                continue
            bulk.append(csv_of(rows, ","))
            bulk.append(csv_of(rows, ";"))
    for b in bulk:
        put("bulk_csv", b)
        put("bulk_file", b"\x01" + b.encode())
    for path, data in xlsx_fixtures():
        put("xlsx", data)
        put("bulk_file", b"\x02" + data)
        parts = xlsx_parts(data)
        if parts is not None:
            put("xlsx", parts)
            put("bulk_file", b"\x12" + parts)
    # hand-made sheets: inline strings, formulas, errors, gaps, no refs
    sheet = (b'<?xml version="1.0"?><worksheet xmlns="http://schemas.'
             b'openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             b'<row r="1"><c r="A1" t="inlineStr"><is><t>account</t></is></c>'
             b'<c t="inlineStr"><is><r><t>am</t></r><r><t>ount</t></r>'
             b'<rPh><t>x</t></rPh></is></c></row>'
             b'<row><c><v>1</v></c><c><v>1.0000000000000001E-2</v></c></row>'
             b'<row r="7"><c r="B7" t="b"><v>1</v></c><c r="A7" t="str">'
             b'<f>A1</f><v>B1</v></c><c r="C7" t="e"><v>#N/A</v></c></row>'
             b'<row r="9"><c r="XFD9" t="d"><v>2025-01-01</v></c>'
             b'<c r="A9"><v>-3E+2</v></c><c r="B9"><v>12.5</v></c></row>'
             b'</sheetData></worksheet>')
    put("xlsx", sheet)
    put("bulk_file", b"\x12" + sheet)


# ---- FreeSWITCH CDR bodies ------------------------------------------------

def fs_xml(uuid, caller, callee, billmsec, answered=True, extra=""):
    start = 1764070000000000
    answer = start + 1000000 if answered else 0
    end = answer + billmsec * 1000 if answered else start + 7000000
    return (
        '<?xml version="1.0"?>\n<cdr core-uuid="x" switchname="fs1">\n'
        '  <channel_data><state>CS_REPORTING</state></channel_data>\n'
        '  <variables>\n'
        '    <uuid>%s</uuid>\n'
        '    <caller_id_name>A%%20%%26amp%%3B+B &amp; C</caller_id_name>\n'
        '    <caller_id_number>%s</caller_id_number>\n'
        '    <destination_number>%s</destination_number>\n'
        '    <start_uepoch>%d</start_uepoch>\n'
        '    <answer_uepoch>%d</answer_uepoch>\n'
        '    <end_uepoch>%d</end_uepoch>\n'
        '    <billmsec>%d</billmsec>\n'
        '    <hangup_cause>NORMAL_CLEARING</hangup_cause>%s\n'
        '  </variables>\n'
        '  <app_log><application app_name="park" app_data=""/></app_log>\n'
        '  <callflow dialplan="XML" profile_index="1">\n'
        '    <caller_profile>\n'
        '      <caller_id_number>%s</caller_id_number>\n'
        '      <destination_number>%s</destination_number>\n'
        '      <originatee><originatee_caller_profile><destination_number>'
        '999</destination_number></originatee_caller_profile></originatee>\n'
        '    </caller_profile>\n'
        '  </callflow>\n'
        '  <callflow dialplan="XML" profile_index="2"><caller_profile>'
        '<destination_number>888</destination_number></caller_profile>'
        '</callflow>\n</cdr>\n' % (uuid, caller, callee, start, answer, end,
                                   billmsec if answered else 0, extra,
                                   caller, callee))


def fs_json(uuid, caller, callee, billmsec, answered=True):
    start = 1764070000000000
    answer = start + 1000000 if answered else 0
    end = answer + billmsec * 1000 if answered else start + 7000000
    return json.dumps({
        "core-uuid": "x", "switchname": "fs1",
        "channel_data": {"state": "CS_REPORTING"},
        "variables": {
            "uuid": uuid, "caller_id_name": "Extension%20" + caller,
            "caller_id_number": caller, "destination_number": callee,
            "start_epoch": str(start // 1000000), "start_uepoch": str(start),
            "answer_uepoch": str(answer), "end_uepoch": str(end),
            "billmsec": str(billmsec if answered else 0),
            "billsec": str((billmsec if answered else 0) // 1000),
            "duration": str((end - start) // 1000000),
            "hangup_cause": "NORMAL_CLEARING", "apolo_account": "ACME%2D1"},
        "callflow": [{"caller_profile": {"caller_id_number": caller,
                                         "destination_number": callee}}]},
        separators=(",", ":"))


PLAIN_CDRS = [
    {"call_id": "c-0001", "caller": "2001", "callee": "5491100000001",
     "start": "2025-11-25T12:00:00Z", "answer": "2025-11-25T12:00:05Z",
     "end": "2025-11-25T12:01:05Z", "billsec": 60,
     "hangup_cause": "NORMAL_CLEARING"},
    {"call_id": "c-0002", "caller": None, "callee": "2001",
     "start": 1764072000, "answer": 1764072001.25, "end": "1764072031.5"},
    {"call_id": "c-0003", "callee": "5491100000003",
     "start": "2025-11-25 09:00:00.123456-03:00", "answer": None,
     "end": "2025-11-25T09:00:07+0300"},
]


def seeds_fs():
    xmls = [fs_xml("aaaaaaaa-0000-4000-8000-000000000006", "2001",
                   "5491100000006", 2000),
            fs_xml("aaaaaaaa-0000-4000-8000-000000000007", "2000", "2001", 0,
                   answered=False),
            fs_xml("b", "+5491", "54", 1499,
                   extra="<apolo_account>ACME</apolo_account>"
                         "<x><![CDATA[<not> & markup]]></x><e>&#13;&#233;</e>")]
    bad = ["not xml at all", "<cdr><variables><uuid>x</uuid>",
           "<foo><variables><uuid>x</uuid></variables></foo>",
           "<cdr><callflow/></cdr>",
           '<?xml version="1.0"?><!DOCTYPE cdr [<!ENTITY a "aaaaaaaaaa">]>'
           '<cdr><variables><uuid>&a;</uuid></variables></cdr>']
    jsons = [fs_json("aaaaaaaa-0000-4000-8000-000000000008", "2001",
                     "5491100000008", 500),
             fs_json("c", "2000", "2001", 0, answered=False)]
    for path, data in fixture_files("freeswitch", "dialplan-billing.xml"):
        put("xml_cdr", b"\x04" + data)
    # xml_cdr: byte 0 % 8 = the Content-Type (fuzz_xml_cdr.c's table)
    for x in xmls + bad:
        b = x.encode()
        put("xml_cdr", b"\x04" + b)
        put("xml_cdr", b"\x00  \r\n" + b)
        put("xml_cdr", b"\x01cdr=" + urllib.parse.quote(b, safe="").encode())
        put("xml_cdr", b"\x02cdr=" + base64.encodebytes(b))
        put("xml_cdr", b"\x02cdr=" + base64.b64encode(b).rstrip(b"="))
        put("xml_cdr", b"\x03cdr=" + b)
    # ingest: byte 0 = format + 3 * Content-Type (fuzz_ingest.c's tables)
    for x in xmls + bad:
        b = x.encode()
        put("ingest", bytes([2 + 3 * 5]) + b)
        put("ingest", bytes([2 + 3 * 2]) + b"cdr=" +
            urllib.parse.quote(b, safe="").encode())
        put("ingest", bytes([2 + 3 * 3]) + b"cdr=" + base64.encodebytes(b))
        put("ingest", bytes([2 + 3 * 4]) + b"cdr=" + b)
    for j in jsons:
        b = j.encode()
        put("ingest", bytes([1 + 3 * 1]) + b)
        put("ingest", bytes([1 + 3 * 2]) + b"cdr=" +
            urllib.parse.quote(b, safe="").encode())
    for c in PLAIN_CDRS:
        b = json.dumps(c).encode()
        put("ingest", bytes([0 + 3 * 1]) + b)
        put("api_json", b)


# ---- JSON API bodies ---------------------------------------------------------

def seeds_api_json():
    for p in sorted(glob.glob(os.path.join(TOP, "tests", "t_*.sh"))):
        with open(p, encoding="utf-8", errors="replace") as f:
            text = f.read()
        for m in re.finditer(r"'(\{[^'\n]{2,2000}\})'", text):
            s = m.group(1)
            try:
                v = json.loads(s)
            except ValueError:
                continue
            if isinstance(v, dict):
                put("api_json", s)
    put("api_json", '{"amount":"12.5","a":{"amount":"-0.000001"},'
                    '"n":1e300,"u":"\\u00e9\\ud83d\\ude00","b":[true,null]}')
    put("api_json", '{"amount": 12.5}')
    put("api_json", '{"k":1,"k":2}')


# ---- journal payloads --------------------------------------------------------

def mp_int(v, wide=False):
    if wide:
        return b"\xd3" + v.to_bytes(8, "big", signed=True)
    if 0 <= v <= 0x7f:
        return bytes([v])
    if -32 <= v < 0:
        return (v & 0xff).to_bytes(1, "big")
    if 0 <= v <= 0xff:
        return b"\xcc" + bytes([v])
    if 0 <= v <= 0xffff:
        return b"\xcd" + v.to_bytes(2, "big")
    if 0 <= v <= 0xffffffff:
        return b"\xce" + v.to_bytes(4, "big")
    if v >= 0:
        return b"\xcf" + v.to_bytes(8, "big")
    return b"\xd3" + v.to_bytes(8, "big", signed=True)


def mp_str(s, wide=False):
    b = s.encode()
    if wide:
        return b"\xd9" + bytes([len(b)]) + b
    if len(b) < 32:
        return bytes([0xa0 | len(b)]) + b
    return b"\xd9" + bytes([len(b)]) + b


def mp_array(items, wide=False):
    head = (b"\xdc" + len(items).to_bytes(2, "big")) if wide or len(items) > 15 \
        else bytes([0x90 | len(items)])
    return head + b"".join(items)


def seeds_jrec():
    cdr = [0x21, "aaaaaaaa-0000-4000-8000-000000000006", 0, 17, "2001",
           "2001", "5491100000006", "5491100000006", 0, 1764070000000000,
           1764070001000000, 1764070003000000, 3, 2, 2000000, 4, "54911",
           1, 7, 0, 60000000, 0, 1, 1, 0, 0, 1, "NORMAL_CLEARING", 0, 0x100]

    def enc(rec, wide=False):
        return mp_array([mp_str(v, wide) if isinstance(v, str) else
                         mp_int(v, wide and i > 0) for i, v in
                         enumerate(rec)], wide)
    for wide in (False, True):
        put("jrec", enc(cdr, wide))
        put("jrec", b"\x01" + enc(cdr, wide)[1:])   # the field-encoder mode
    cucm = list(cdr)
    cucm[1] = "cucm:StandAloneCluster:2:1202772:41537292:41537293"
    cucm[2] = 1
    cucm[27] = "16"
    put("jrec", enc(cucm))
    put("jrec", enc([0x11, "rk-1", "admin", "recharge"]))
    put("jrec", enc([0x11, "", "esl-1", ""], True))
    put("jrec", enc([0x11, "cdrfix:" + "x" * 57, "a" * 32, "é" * 48]))
    put("jrec", b"\xdd\xff\xff\xff\xff")
    put("jrec", b"\x00" + bytes(range(1, 120)))


def main():
    global out
    if len(sys.argv) != 2:
        sys.exit("usage: seeds.py OUTDIR")
    out = sys.argv[1]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    seeds_esl()
    seeds_cucm()
    seeds_csv_xlsx()
    seeds_fs()
    seeds_api_json()
    seeds_jrec()
    print("seeds: " + ", ".join("%s %d" % kv for kv in sorted(counts.items())))


if __name__ == "__main__":
    main()
