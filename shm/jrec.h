/*
 * jrec.h -- the payload of a journal record (journal.h): msgpack, at most
 * JRN_PAYLOAD_MAX (448) bytes, one of two shapes.
 *
 *   movement (JRN_RECHARGE, JRN_ADJUSTMENT, JRN_REFUND):
 *     [0x11, reference, actor, reason]
 *   CDR (JRN_CDR, JRN_CALL_DEBIT):
 *     [0x21, call_id, source, account_id, extension, caller, callee, dialed,
 *      direction, start_us, answer_us, end_us, duration, billsec, cost,
 *      zone_id, prefix, plan_id, deck_version, period_id, rate_per_minute,
 *      connection_fee, first_inc, next_inc, min_sec, grace_sec, rounding,
 *      hangup_cause, fac_id, flags]
 *
 * A compact array, not a map: field names would not fit a CDR in 448 bytes.
 * The first element is the tag, (shape << 4) | version; a later version
 * adds fields at the end under a new tag and the decoder keeps reading
 * every older tag. Integers are packed in their smallest msgpack form;
 * enums are small integers; strings are msgpack str.
 *
 * The maximum lengths below are chosen so that ANY record whose fields are
 * within them fits: the worst-case CDR packs into 431 bytes and the worst
 * movement into 200 (tests/test_jrec.c packs both). An encoder therefore
 * fails only on bad input (JREC_EINVAL) or a buffer smaller than
 * JRN_PAYLOAD_MAX (JREC_ETOOBIG).
 *
 * Decoding is strict, because the bytes come back from a file that may be
 * damaged: exactly one array with the tag's exact number of elements, each
 * of its exact type (an integer where an integer is due, within its range;
 * a str within its maximum length, valid UTF-8 without NUL; a known enum
 * value), no trailing bytes. What the encoder refuses, the decoder refuses
 * too, so everything encoded decodes and a decoded record can be encoded
 * again. Garbage is an error, never a crash or an unbounded allocation:
 * the bytes are scanned (types and lengths only) before msgpack-c sees them.
 *
 * Encoding allocates nothing (a fixed-buffer write callback); decoding uses
 * one msgpack zone (one small malloc) per call. Pure functions otherwise:
 * safe in any process and thread.
 */
#ifndef APOLO_JREC_H
#define APOLO_JREC_H

#include "shm/money.h"

#include <stddef.h>
#include <stdint.h>

enum {
    JREC_OK = 0,
    JREC_EINVAL = -1,    /* encode: a field out of range, too long, bad enum */
    JREC_ETOOBIG = -2,   /* encode: does not fit the caller's buffer */
    JREC_EFORMAT = -3    /* decode: not a valid payload of that shape */
};

#define JREC_TAG_MOVE_V1 0x11
#define JREC_TAG_CDR_V1  0x21

/* Maximum lengths in bytes, without the NUL. */
#define JREC_REFERENCE_MAX 64    /* receipt, idempotency key, call id */
#define JREC_ACTOR_MAX     32    /* user name or process ("admin", "esl-1") */
#define JREC_REASON_MAX    96
#define JREC_CALL_ID_MAX   64    /* FreeSWITCH UUID 36; CUCM cluster:id */
#define JREC_EXT_MAX       32    /* extensions.number: ^\+?[0-9]{1,31}$ */
#define JREC_NUMBER_MAX    40    /* caller, callee, dialed */
#define JREC_PREFIX_MAX    20    /* rates.prefix: 1..20 digits */
#define JREC_CAUSE_MAX     32    /* "NORMAL_CLEARING", CUCM cause codes */

/* Worst cases of the encodings (checked by tests/test_jrec.c). */
#define JREC_MOVE_WORST 200
#define JREC_CDR_WORST  431

/* ---- movements -------------------------------------------------------- */

typedef struct jrec_move {
    char reference[JREC_REFERENCE_MAX + 1];   /* "" = none */
    char actor[JREC_ACTOR_MAX + 1];           /* required, non-empty */
    char reason[JREC_REASON_MAX + 1];         /* "" = none */
} jrec_move_t;

/* ---- CDRs ------------------------------------------------------------- */

typedef enum { JREC_SRC_FREESWITCH = 0, JREC_SRC_CUCM = 1 } jrec_source_t;

typedef enum {
    JREC_DIR_OUTBOUND = 0,
    JREC_DIR_INBOUND = 1,
    JREC_DIR_INTERNAL = 2
} jrec_direction_t;

/* The plan's rounding; NONE for an unrated call. */
typedef enum {
    JREC_ROUND_NONE = 0,
    JREC_ROUND_UP = 1,
    JREC_ROUND_DOWN = 2,
    JREC_ROUND_HALF_UP = 3
} jrec_rounding_t;

/*
 * One call, as the cdrs table holds it (sql/004_ledger_cdrs.sql). Zero or
 * "" means "none" (SQL NULL) where the table allows NULL: account_id,
 * zone_id, period_id, fac_id, answer_us, and the strings except call_id.
 * plan_id == 0 means the call was not rated: deck_version, rates,
 * increments and rounding are then NULL in the table whatever they hold.
 */
typedef struct jrec_cdr {
    char     call_id[JREC_CALL_ID_MAX + 1];   /* required, non-empty */
    char     extension[JREC_EXT_MAX + 1];
    char     caller[JREC_NUMBER_MAX + 1];
    char     callee[JREC_NUMBER_MAX + 1];
    char     dialed[JREC_NUMBER_MAX + 1];     /* as dialled, before rules */
    char     prefix[JREC_PREFIX_MAX + 1];     /* matched prefix */
    char     hangup_cause[JREC_CAUSE_MAX + 1];
    uint8_t  source;                          /* jrec_source_t */
    uint8_t  direction;                       /* jrec_direction_t */
    uint8_t  rounding;                        /* jrec_rounding_t */
    int64_t  account_id;                      /* >= 0 */
    int64_t  start_us, answer_us, end_us;     /* UTC microseconds; >= 0 */
    uint32_t duration, billsec;               /* seconds, <= INT32_MAX */
    money_t  cost;                            /* >= 0 */
    int64_t  zone_id, plan_id, deck_version, period_id, fac_id;   /* >= 0 */
    money_t  rate_per_minute, connection_fee; /* >= 0 */
    uint32_t first_inc, next_inc, min_sec, grace_sec;  /* <= INT32_MAX */
    uint32_t flags;                           /* JREC_F_*, bit 31 unused */
} jrec_cdr_t;

/*
 * The bits of jrec_cdr_t.flags (cdrs.flags; the CDR API names them). The
 * low ones are the active call's (shm/calls.h CALL_F_*, workers/esl_call.c)
 * carried into its CDR; the rest say something about how it was billed.
 */
#define JREC_F_UNCHARGED   0x01   /* inbound/internal: free by policy */
#define JREC_F_LOW         0x02   /* a low-balance warning was given */
#define JREC_F_CUT         0x04   /* cut when its money ended */
#define JREC_F_ESTIMATED   0x08   /* ended unseen: duration estimated */
#define JREC_F_REFUSED     0x10   /* refused at authorization */
#define JREC_F_UNBILLED    0x40   /* should have cost money, but did not
                                     (debit refused by a bound, no price):
                                     cost 0, to be billed by hand */
#define JREC_F_FAC_LEVEL   0x80   /* its authorization level is below its
                                     zone's min_auth_level */
#define JREC_F_FAC_UNKNOWN 0x100  /* carries a FAC that is not known (or
                                     not active) here */
#define JREC_F_NUMBER_CUT  0x200  /* a party number was longer than
                                     JREC_NUMBER_MAX and is cut */

/*
 * Encode into buf (cap bytes; pass JRN_PAYLOAD_MAX). *len receives the
 * payload length. JREC_EINVAL if a field breaks the rules above (a string
 * longer than its maximum or not NUL-terminated within its array is the
 * same thing), JREC_ETOOBIG if cap is too small. On error buf's contents
 * are unspecified and *len is untouched.
 */
int jrec_encode_move(const jrec_move_t *m, uint8_t *buf, size_t cap,
                     size_t *len);
int jrec_encode_cdr(const jrec_cdr_t *c, uint8_t *buf, size_t cap,
                    size_t *len);

/*
 * Decode len bytes. JREC_OK and *out filled, or JREC_EFORMAT with *why
 * (may be NULL) set to a static description ("caller: too long") and *out
 * unspecified.
 */
int jrec_decode_move(const void *buf, size_t len, jrec_move_t *out,
                     const char **why);
int jrec_decode_cdr(const void *buf, size_t len, jrec_cdr_t *out,
                    const char **why);

/* Text of the enums as the cdrs table spells them; NULL if out of range
 * (and for JREC_ROUND_NONE). */
const char *jrec_source_name(unsigned source);
const char *jrec_direction_name(unsigned direction);
const char *jrec_rounding_name(unsigned rounding);

#endif
