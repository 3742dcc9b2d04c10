/*
 * cucm_cdr.h -- the parser of Cisco CUCM CDR flat files (issue 7): a
 * reader over a whole file in memory (mmap'd) that maps the columns the
 * billing needs by header name and yields one call record at a time.
 *
 * What CUCM writes (tests/fixtures/cucm/README.md, real files of 9.x,
 * 12.5/14 and 14/15):
 *
 *   "cdrRecordType","globalCallID_callManagerId",...   line 1: names
 *   INTEGER,INTEGER,INTEGER,...,VARCHAR(50),...        line 2: types
 *   1,2,27065,42420836,1685764618,2,0,-871692278,"4925010000","",...
 *   ...                                                one CDR a line
 *
 * Comma-separated, LF (CRLF accepted), strings quoted or not (a file
 * saved by a spreadsheet has its quotes stripped), integers bare and
 * possibly empty (= 0), times as UTC epoch seconds, a final newline or
 * not, a UTF-8 byte order mark or not. Columns are found by NAME, never
 * by position: each CUCM release appends fields to the end of the
 * previous header (118 fields in 9.x/10.x, 129 in 11.x, 133 in 12.5-15),
 * and unknown or extra columns are ignored. A CMR file (call quality,
 * not calls: its header has numberPacketsSent / varVQMetrics and no
 * dateTimeOrigination) opens fine and yields nothing; a record with
 * cdrRecordType 2 (CMR) or 0 (start record, unused) inside a CDR file is
 * skipped silently and counted.
 *
 *   cucm_cdr_map_t m;   cucm_cdr_reader_t r;   cucm_cdr_t c;
 *   cucm_cdr_map(path, &m)                       -> OK | ESYS (errno)
 *   cucm_cdr_open(&r, m.data, m.len)             -> OK | EFILE (r.err)
 *   while ((rc = cucm_cdr_next(&r, &c)) != CUCM_CDR_EOF)
 *       if (rc == CUCM_CDR_OK)  bill c (c.line for logs)
 *       else                    report r.err_line, r.err_field, r.err
 *   cucm_cdr_unmap(&m)
 *
 * Layouts covered: CUCM 9.x/10.x (118 fields; a real 2015 file), 11.x
 * (129; the 2023 file cut to its first 129 columns, since 11.x's header
 * is that prefix), 12.5 to 15 (133; real 2023 and 2025 files). Older
 * layouts work if they have the required columns.
 *
 * POLICY. A file whose header cannot be understood (empty, no
 * cdrRecordType, a required name missing, a name given twice, no types
 * line, a mapped integer column not declared INTEGER, too many columns,
 * a header line longer than CUCM_CDR_LINE_MAX) is
 * a FILE error: cucm_cdr_open fails and nothing is yielded (the worker
 * quarantines the file). Anything wrong with one data line is a RECORD
 * error: cucm_cdr_next returns CUCM_CDR_EREC with the line, the field
 * (when one is to blame) and the reason, and the next call goes on with
 * the next line. Records are lines: a newline always ends a record, even
 * inside quotes (CUCM never writes one there), so one bad record can
 * never swallow the next. Record errors:
 *   - a field count different from the header's (a truncated last line);
 *   - a quoted string without its closing quote;
 *   - an integer field that is not digits, is negative, or does not fit
 *     0..4294967295 (cause codes reach 1459617833 and more: unsigned);
 *     a required one (marked R below) that is empty;
 *   - a string longer than its CUCM VARCHAR size, or holding a control
 *     byte (< 0x20, 0x7f) or invalid UTF-8;
 *   - cdrRecordType other than 0, 1 or 2;
 *   - a line longer than CUCM_CDR_LINE_MAX;
 *   - in a file that quotes its strings, a last line without a newline
 *     whose last (string) field is empty and unquoted: the file was cut
 *     right after a comma. (In a file without quotes such a cut cannot
 *     be told from a record whose last field is empty: no parser can.)
 * Empty lines are skipped. Nothing is ever truncated or guessed: a value
 * is exact or its record is an error.
 *
 * Quoting: a field starting with '"' runs to the next '"' followed by a
 * ',' or the end of the line; '""' inside is one '"'; any other '"' inside
 * is kept as is (CUCM does not escape). A '"' inside an unquoted field is
 * an ordinary byte.
 *
 * Memory and cost: cucm_cdr_open / cucm_cdr_next allocate nothing; the
 * reader holds the column map and scratch space for one line (about
 * 21 KB). Each line is split whole (64 bytes a step with SSE2; the field
 * count must match the header's), then only the ~24 wanted fields are
 * decoded: 2.3M to 3.2M records/s (1.5 to 2 GB/s) of CUCM 14 records,
 * release build, one core (bench/bench_cucm_parse.c). The input is
 * read-only and may be an mmap of any size: the parser's memory does not
 * grow with the file; the mapped pages are the kernel's clean page
 * cache, read ahead sequentially (cucm_cdr_map).
 *
 * Not thread-safe per reader; readers are independent. Nothing here logs.
 */
#ifndef APOLO_CUCM_CDR_H
#define APOLO_CUCM_CDR_H

#include <stddef.h>
#include <stdint.h>

enum {
    CUCM_CDR_OK = 0,
    CUCM_CDR_EOF = 1,        /* next: no more records */
    CUCM_CDR_EREC = 2,       /* next: this line is bad (r->err); go on */
    CUCM_CDR_EFILE = -1,     /* open: not a CUCM CDR/CMR file (r->err) */
    CUCM_CDR_ESYS = -2       /* map: a system call failed (errno kept) */
};

/* Limits. CUCM's widest record (133 fields, every VARCHAR full) is under
 * 12 KB; a longer line is an error of that line, not a reason to grow. */
#define CUCM_CDR_LINE_MAX    65536u   /* bytes of one line, without EOL */
#define CUCM_CDR_FIELDS_MAX  1024u    /* columns of the header */

/* String sizes in bytes (without the NUL): CUCM's VARCHAR sizes. */
#define CUCM_CDR_NUM_MAX     50       /* party numbers, DNs, cluster id */
#define CUCM_CDR_DEVICE_MAX  129      /* device names */
#define CUCM_CDR_PKID_MAX    36       /* UNIQUEIDENTIFIER, a UUID */
#define CUCM_CDR_CODE_MAX    32       /* clientMatterCode, auth code value */

/* The exactly-once call id (cucm_cdr_call_id): at most this many bytes,
 * equal to JREC_CALL_ID_MAX of shm/jrec.h (checked by the tests). */
#define CUCM_CDR_CALL_ID_MAX 64

typedef enum { CUCM_CDR_KIND_CDR = 1, CUCM_CDR_KIND_CMR = 2 } cucm_cdr_kind_t;

/*
 * One call record (cdrRecordType 1). Integers: empty in the file = 0.
 * R = required column (the header must have it; the value must not be
 * empty). Columns marked "opt" may be missing from the header (older
 * layouts): the value is then 0 / "" and the bit CUCM_CDR_HAVE_x of the
 * reader's `have` says so. Strings are NUL-terminated, unquoted, valid
 * UTF-8 without control bytes.
 */
typedef struct cucm_cdr {
    uint64_t line;             /* 1-based line of the file (header = 1) */
    uint32_t record_type;      /* cdrRecordType, R: always 1 here */
    uint32_t cm_id;            /* globalCallID_callManagerId, R */
    uint32_t call_id;          /* globalCallID_callId, R */
    uint32_t orig_leg;         /* origLegCallIdentifier */
    uint32_t dest_leg;         /* destLegIdentifier */
    int64_t  t_origination;    /* dateTimeOrigination, UTC epoch s, R */
    int64_t  t_connect;        /* dateTimeConnect: 0 = never answered */
    int64_t  t_disconnect;     /* dateTimeDisconnect */
    uint32_t duration;         /* duration, s: disconnect - connect, 0 if
                                * never connected */
    uint32_t orig_cause;       /* origCause_value (Q.850, or > INT32_MAX */
    uint32_t dest_cause;       /* destCause_value  for mapped SIP codes) */
    uint32_t auth_level;       /* authorizationLevel (opt) */
    char cluster_id[CUCM_CDR_NUM_MAX + 1];     /* globalCallId_ClusterID */
    char pkid[CUCM_CDR_PKID_MAX + 1];          /* pkid */
    char calling[CUCM_CDR_NUM_MAX + 1];        /* callingPartyNumber */
    char orig_called[CUCM_CDR_NUM_MAX + 1];    /* originalCalledPartyNumber */
    char final_called[CUCM_CDR_NUM_MAX + 1];   /* finalCalledPartyNumber */
    char last_redirect[CUCM_CDR_NUM_MAX + 1];  /* lastRedirectDn (opt) */
    char orig_device[CUCM_CDR_DEVICE_MAX + 1]; /* origDeviceName (opt) */
    char dest_device[CUCM_CDR_DEVICE_MAX + 1]; /* destDeviceName (opt) */
    char auth_desc[CUCM_CDR_NUM_MAX + 1];      /* authCodeDescription (opt):
                                                * the FAC's name */
    char client_matter[CUCM_CDR_CODE_MAX + 1]; /* clientMatterCode (opt) */
    char auth_code[CUCM_CDR_CODE_MAX + 1];     /* authorizationCodeValue
                                                * (opt; only with "Display
                                                * FAC in CDR" on) */
    char hunt_pilot[CUCM_CDR_NUM_MAX + 1];     /* huntPilotDN (opt) */
} cucm_cdr_t;

/* Bits of cucm_cdr_reader_t.have for the optional columns. */
enum {
    CUCM_CDR_HAVE_LAST_REDIRECT = 1u << 0,
    CUCM_CDR_HAVE_DEVICES       = 1u << 1,   /* both device names */
    CUCM_CDR_HAVE_FAC           = 1u << 2,   /* authCodeDescription and
                                              * authorizationLevel */
    CUCM_CDR_HAVE_CLIENT_MATTER = 1u << 3,
    CUCM_CDR_HAVE_AUTH_CODE     = 1u << 4,   /* authorizationCodeValue */
    CUCM_CDR_HAVE_HUNT_PILOT    = 1u << 5
};

#define CUCM_CDR_NWANT 24                    /* columns the reader maps */

/* The reader. Read-only for the caller except through the functions;
 * the public fields are documented. */
typedef struct cucm_cdr_reader {
    /* public */
    cucm_cdr_kind_t kind;      /* after a successful open */
    unsigned        nfields;   /* columns of the header */
    unsigned        have;      /* CUCM_CDR_HAVE_* */
    uint64_t        records;   /* call records yielded (CUCM_CDR_OK) */
    uint64_t        bad;       /* record errors (CUCM_CDR_EREC) */
    uint64_t        skipped;   /* CMR / start records skipped */
    uint64_t        err_line;  /* after EREC / EFILE: the line (1-based);
                                * 0 when no line is to blame */
    const char     *err_field; /* the CUCM column name, or NULL */
    char            err[224];  /* "line 7: destCause_value: ..." */
    /* private */
    const char *buf;
    size_t      len, pos;
    uint64_t    line;
    unsigned    nwant;
    uint16_t    col[CUCM_CDR_NWANT];      /* wanted fields, by column */
    uint8_t     id[CUCM_CDR_NWANT];       /* which wanted field */
    uint16_t    type_col;                 /* cdrRecordType's column */
    int         eol;                      /* the current line had a '\n' */
    int         quoted_tail;              /* names quoted, last column a
                                           * string: see cc_record */
    uint32_t    off[CUCM_CDR_FIELDS_MAX + 2];  /* a record is split up to
                                           * nfields + 1 fields */
    uint64_t    sep[CUCM_CDR_LINE_MAX / 64 + 1];   /* separator bits */
    uint64_t    quo[CUCM_CDR_LINE_MAX / 64 + 1];   /* quote bits */
} cucm_cdr_reader_t;

/*
 * Opens buf[0..len) (a whole file; need not be NUL-terminated; must stay
 * mapped and unchanged while r is used): skips a UTF-8 BOM, reads the
 * names line and the types line, maps the columns. Returns CUCM_CDR_OK
 * (r->kind says CDR or CMR; a CMR file yields CUCM_CDR_EOF at once) or
 * CUCM_CDR_EFILE with r->err (and r->err_line, r->err_field) saying why:
 *   empty file | line 1: not a CUCM CDR header (no cdrRecordType)
 *   line 1: finalCalledPartyNumber: required column missing
 *   line 1: duration: column given twice | line 1: more than 1024 fields
 *   line 2: missing types line
 *   line 2: not a types line for 133 names (130 fields)
 *   line 2: duration: declared "VARCHAR(50)", not INTEGER
 * r needs no release.
 */
int cucm_cdr_open(cucm_cdr_reader_t *r, const char *buf, size_t len);

/*
 * The next call record into *c: CUCM_CDR_OK, CUCM_CDR_EOF (also every
 * later call), or CUCM_CDR_EREC: the line r->err_line is bad for the
 * reason in r->err (field r->err_field, or NULL), *c is unspecified, and
 * the next call continues with the following line. Examples:
 *   line 20: 90 fields, the header has 133
 *   line 4: destCause_value: "99999999999" is not an integer in
 *           0..4294967295
 *   line 9: callingPartyNumber: longer than 50 bytes
 *   line 3: quoted string without its closing quote
 * Must follow a successful cucm_cdr_open.
 */
int cucm_cdr_next(cucm_cdr_reader_t *r, cucm_cdr_t *c);

/*
 * The exactly-once key of a record, into out (cap >= CUCM_CDR_CALL_ID_MAX
 * + 1), NUL-terminated; returns its length, or -1 if cap is too small.
 *
 *   cucm:<globalCallId_ClusterID>:<callManagerId>:<callId>:<origLeg>:<destLeg>
 *   e.g. cucm:StandAloneCluster:2:1202772:41537292:41537293
 *
 * Why unique: CUCM documents ClusterID + callManagerId + callId as the
 * unique key of a call (the callId is allocated by the node callManagerId
 * alone, sequentially, and survives restarts by jumping ahead; "unique at
 * least for a certain number of days"); the cluster id tells clusters
 * apart. One call may give several CDRs (transfer, conference, forward):
 * they share the global call id and differ in their leg pair (the
 * originating leg stays constant across a transfer, so it alone is not
 * enough; the pair is). The same record delivered twice gives the same
 * key, whatever the file name.
 *
 * Fitting 64 bytes: the numbers take at most 44 bytes with their colons,
 * so the cluster id is written as is when the whole key fits and it holds
 * only [A-Za-z0-9._-]; otherwise as '#' and 14 hex digits of a 64-bit
 * FNV-1a hash of it (cucm:#1f2e3d4c5b6a79:2:...). The two forms cannot
 * collide with each other ('#' is not in the literal alphabet).
 */
int cucm_cdr_call_id(const cucm_cdr_t *c, char *out, size_t cap);

/* What a file name in the CUCM drop folder is, by its base name:
 * PARTIAL for a name starting with '_' (CUCM still writing it) or '.',
 * CMR for "cmr*", CDR for "cdr*", OTHER otherwise. */
typedef enum {
    CUCM_NAME_OTHER = 0, CUCM_NAME_PARTIAL, CUCM_NAME_CDR, CUCM_NAME_CMR
} cucm_name_kind_t;
cucm_name_kind_t cucm_cdr_name_kind(const char *base);

/* A read-only mapping of a whole file. */
typedef struct cucm_cdr_map {
    const char *data;          /* NULL for an empty file */
    size_t      len;
} cucm_cdr_map_t;

/* Maps path read-only (MAP_PRIVATE, MADV_SEQUENTIAL). CUCM_CDR_OK, or
 * CUCM_CDR_ESYS with errno from the failed open/fstat/mmap (m zeroed). */
int cucm_cdr_map(const char *path, cucm_cdr_map_t *m);

/* Unmaps; m may be zeroed or already unmapped. */
void cucm_cdr_unmap(cucm_cdr_map_t *m);

#endif
