/*
 * cucm.h -- the CUCM worker: one process per folder of cucm.dirs, billing
 * the CDR files Cisco CUCM's billing-server push (SFTP) drops there.
 *
 *   <dir>/_cdr_...        still being written (CUCM's leading '_'): left
 *   <dir>/cdr_...         complete once closed after writing (inotify) or
 *                         its size and time held for cucm.stable_ms; taken
 *                         in name order (CUCM's names sort by time)
 *   <dir>/done/           billed files, with <name>.report when some
 *                         record was bad or not billed
 *   <dir>/quarantine/     files that are not CUCM CDR files at all, each
 *                         with <name>.report naming the line and reason
 *
 * Every call record: the payer is the extension of callingPartyNumber (an
 * outbound or internal call) or, failing that, of the called number (an
 * inbound call), unless the call carries a Forced Authorization Code
 * whose FAC bills to an account; the number rated is finalCalledPartyNumber
 * (originalCalledPartyNumber with cucm.called = original) with the payer
 * plan's normalisation, for `duration` seconds from dateTimeConnect, at
 * the rate in force at dateTimeOrigination (UTC). The debit and the CDR
 * are one journaled movement (journal.h); an unanswered call
 * (dateTimeConnect 0), a free one (inbound, internal) or one that cannot
 * be priced gets a CDR without money.
 *
 * POLICY for bad input. A file whose header is not a CUCM CDR/CMR header
 * (or that cannot be read) goes to quarantine/ whole. A bad line is
 * skipped, named in the file's report with its reason, and the rest of
 * the file is billed; the file goes to done/. Fixing the line and dropping
 * the file again bills only what was not billed (exactly once, below).
 * A call that started before the exactly-once horizon (cucm.dedupe_days)
 * is reported, not billed: it cannot be told from one billed long ago.
 *
 * Exactly once: each record's call id (cucm_cdr_call_id) goes through the
 * shared set of billed calls (shm/seen.h) in step with its journal record.
 * A file delivered twice, found in two files, or read again after the
 * worker died in its middle bills each call once. A file leaves the
 * folder only after its records are on disk (the journal synced past its
 * last one).
 *
 * Not in the FreeSWITCH rating path; a batch worker: one file at a time,
 * back-pressure from the journal simply slows it.
 */
#ifndef APOLO_CUCM_H
#define APOLO_CUCM_H

#include "shm/conf.h"
#include "shm/proc.h"

/* The worker's main (children.h): folder index ctx->index of cucm.dirs. */
int cucm_main(proc_ctx_t *ctx);

/* Workers to run: the folders of cucm.dirs (0: none). */
int cucm_dir_count(const conf_t *conf);

/* Folder i (1-based) of cucm.dirs into out; 0, or -1 (no such folder,
 * too long). */
int cucm_dir(const conf_t *conf, int i, char *out, size_t cap);

#endif
