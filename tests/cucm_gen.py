#!/usr/bin/env python3
"""cucm_gen.py -- writes a CUCM CDR file of N call records for the tests
and benchmarks, in the exact layout of a real sample (CUCM 14, 133 fields,
quoted strings): the header and types lines and the first record of
tests/fixtures/cucm/cdr_RemoteCluster_02_202306030358_120, with the fields
that make a call varied per record.

  cucm_gen.py OUT --records N [--cluster C] [--first-call-id K]
              [--start EPOCH] [--calling NUM] [--called NUM]
              [--duration SECONDS] [--unanswered-every M] [--truncate]

Record i: callId K+i, legs 2(K+i) and 2(K+i)+1, origination START+i,
connect START+i+1 (0 for every M-th record with --unanswered-every),
duration SECONDS (1 + i % 60 when not given), calling and called numbers
as given. --truncate cuts the last record in its middle (no newline), as
a copy interrupted mid-file would. Prints the sum of billed seconds and
the count of answered records: "answered=<n> billsec=<s>".
"""
import argparse
import csv
import os
import time

TEMPLATE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "fixtures", "cucm",
                        "cdr_RemoteCluster_02_202306030358_120")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--records", type=int, required=True)
    ap.add_argument("--cluster", default="GenCluster")
    ap.add_argument("--first-call-id", type=int, default=1000000)
    ap.add_argument("--start", type=int, default=None)
    ap.add_argument("--calling", default="4925010000")
    ap.add_argument("--called", default="2999903")
    ap.add_argument("--duration", type=int, default=None)
    ap.add_argument("--unanswered-every", type=int, default=0)
    ap.add_argument("--truncate", action="store_true")
    a = ap.parse_args()

    with open(TEMPLATE, encoding="utf-8", newline="") as f:
        lines = f.read().split("\n")
    names = next(csv.reader([lines[0]]))
    col = {n: i for i, n in enumerate(names)}
    tmpl = lines[2].split(",")        # the sample has no comma in a value
    assert len(tmpl) == len(names)
    start = a.start if a.start is not None else int(time.time()) - 3600

    q = lambda s: '"' + s + '"'
    answered = billsec = 0
    with open(a.out, "w", encoding="utf-8", newline="") as out:
        out.write(lines[0] + "\n" + lines[1] + "\n")
        rec = list(tmpl)
        rec[col["globalCallId_ClusterID"]] = q(a.cluster)
        rec[col["callingPartyNumber"]] = q(a.calling)
        rec[col["originalCalledPartyNumber"]] = q(a.called)
        rec[col["finalCalledPartyNumber"]] = q(a.called)
        for i in range(a.records):
            cid = a.first_call_id + i
            t0 = start + i
            dur = a.duration if a.duration is not None else 1 + i % 60
            unans = a.unanswered_every and i % a.unanswered_every == 0
            rec[col["globalCallID_callId"]] = str(cid)
            rec[col["origLegCallIdentifier"]] = str(2 * cid)
            rec[col["destLegIdentifier"]] = str(2 * cid + 1)
            rec[col["dateTimeOrigination"]] = str(t0)
            rec[col["dateTimeConnect"]] = "0" if unans else str(t0 + 1)
            rec[col["dateTimeDisconnect"]] = str(t0 + 1 + (0 if unans else dur))
            rec[col["duration"]] = "0" if unans else str(dur)
            line = ",".join(rec)
            if a.truncate and i == a.records - 1:
                out.write(line[: len(line) // 2])
                break
            out.write(line + "\n")
            if not unans:
                answered += 1
                billsec += dur
    print(f"answered={answered} billsec={billsec}")


if __name__ == "__main__":
    main()
