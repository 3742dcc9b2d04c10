/*
 * esl_proto.h -- the FreeSWITCH Event Socket wire codec: an incremental
 * frame reader and a parser of text/event-plain bodies.
 *
 * What FreeSWITCH sends (tests/fixtures/freeswitch/README.md, real
 * captures of 1.11.0):
 *
 *   Content-Length: 2717            outer header block: "Name: value\n"
 *   Content-Type: text/event-plain  lines, ended by an empty line
 *                                   ("\n\n"); LF only, never CR
 *   Event-Name: CHANNEL_CREATE      body: exactly Content-Length bytes
 *   Event-Date-GMT: Wed,%2025%20... (none without Content-Length).
 *   ...                             An event-plain body is a second header
 *   variable_loopback_leg: A        block, values URL-encoded; a channel
 *                                   event ends with "\n\n"; BACKGROUND_JOB
 *                                   has an inner Content-Length and the job
 *                                   output after the inner blank line.
 *
 * The reader owns one growable buffer per connection. The caller read()s
 * straight into it (esl_reader_space / esl_reader_commit) and takes frames
 * out with esl_reader_next; frame fields point into the buffer (no copy,
 * no allocation per frame). The event parser then decodes only the header
 * values the caller asked for, in place, in one pass over the body.
 *
 *   read(fd, esl_reader_space(r, 4096, &avail), avail) -> n
 *   esl_reader_commit(r, n)
 *   while ((rc = esl_reader_next(r, &f)) == ESL_OK)
 *       if (f.type == ESL_T_EVENT_PLAIN)
 *           esl_event_parse(&want, f.body, f.body_len, &ev) ...
 *   rc == ESL_EAGAIN: read more; ESL_EPROTO: drop the connection (r->err)
 *
 * Not thread-safe: one reader per connection, used by one thread. The
 * esl_want_t table is read-only after esl_want_init and may be shared.
 * Nothing here logs: errors are return codes and a message in r->err.
 */
#ifndef APOLO_ESL_PROTO_H
#define APOLO_ESL_PROTO_H

#include <stddef.h>
#include <stdint.h>

enum {
    ESL_OK = 0,
    ESL_EAGAIN = 1,      /* no complete frame yet: read more bytes */
    ESL_EPROTO = -1,     /* malformed input (reader: drop the connection) */
    ESL_ENOMEM = -2,     /* allocation failed */
    ESL_EINVAL = -3      /* bad argument (esl_want_init) */
};

/* Limits. A header block (its lines and the blank line ending it) longer
 * than ESL_HEADER_MAX is malformed: FreeSWITCH's outer blocks are under
 * 200 bytes; only bodies are large. */
#define ESL_HEADER_MAX       65536u
#define ESL_BODY_MAX_DEFAULT (4u << 20)      /* 4 MiB, see esl_reader_init */
#define ESL_WANT_MAX         64              /* names of one esl_want_t */

typedef enum {
    ESL_T_UNKNOWN,           /* no or another Content-Type (log/data, ...) */
    ESL_T_AUTH_REQUEST,      /* auth/request: send "auth <password>" */
    ESL_T_COMMAND_REPLY,     /* command/reply: Reply-Text +OK... / -ERR... */
    ESL_T_API_RESPONSE,      /* api/response: the body is the api output */
    ESL_T_EVENT_PLAIN,       /* text/event-plain: esl_event_parse the body */
    ESL_T_EVENT_JSON,        /* text/event-json: one JSON object */
    ESL_T_DISCONNECT_NOTICE  /* text/disconnect-notice: FreeSWITCH closes */
} esl_type_t;

/* One frame, valid until the next call of esl_reader_next, esl_reader_space
 * or esl_reader_free on its reader. Strings point into the reader's buffer
 * and are NUL-terminated. */
typedef struct esl_frame {
    esl_type_t  type;
    const char *content_type;   /* raw value; "" when there is none */
    const char *reply_text;     /* Reply-Text or NULL */
    const char *job_uuid;       /* Job-UUID (bgapi's command/reply) or NULL */
    char       *body;           /* body_len bytes, then a NUL; writable (the
                                 * event parser decodes in place); "" and 0
                                 * without Content-Length. May hold NULs. */
    size_t      body_len;
} esl_frame_t;

/* The reader. Fields are private except err. */
typedef struct esl_reader {
    char   *buf;
    size_t  cap;             /* bytes allocated; one is kept for a NUL */
    size_t  start;           /* first byte of the frame being read */
    size_t  end;             /* end of the committed bytes */
    size_t  scan;            /* header scan resumes at start + scan */
    size_t  hdr_len;         /* > 0: headers parsed, block is hdr_len long */
    size_t  body_len;        /* of the frame being read, once hdr_len > 0 */
    size_t  max_body;
    size_t  ct_off, rt_off, job_off;   /* values, from start; SIZE_MAX: none */
    size_t  saved_pos;       /* byte overwritten by the body's NUL ... */
    char    saved;           /* ... and its value, restored on the next call */
    int     has_saved;
    int     failed;          /* ESL_EPROTO was returned: stays in error */
    char    err[160];        /* why, after ESL_EPROTO or ESL_ENOMEM */
} esl_reader_t;

/* Prepares r with an empty buffer (allocated here). max_body: the largest
 * Content-Length accepted (0: ESL_BODY_MAX_DEFAULT); a larger one is
 * ESL_EPROTO, since the frame cannot be skipped without reading it.
 * Returns ESL_OK or ESL_ENOMEM (r is then safe to esl_reader_free). */
int esl_reader_init(esl_reader_t *r, size_t max_body);

/* Releases the buffer; r may be initialised again. */
void esl_reader_free(esl_reader_t *r);

/* Where to read() into: returns a pointer to at least `want` free bytes
 * (want 0 counts as 1) and their exact number in *avail, compacting or
 * growing the buffer; this invalidates the last frame returned. Returns
 * NULL (and *avail = 0) when allocation fails (r->err says so) or after
 * ESL_EPROTO. The caller then commits how many bytes it wrote. */
char *esl_reader_space(esl_reader_t *r, size_t want, size_t *avail);

/* Records that n bytes (n <= the last *avail) were written at the pointer
 * esl_reader_space returned. */
void esl_reader_commit(esl_reader_t *r, size_t n);

/* The next complete frame into *f: ESL_OK, ESL_EAGAIN (nothing complete;
 * *f untouched), or ESL_EPROTO with r->err set, e.g.
 *   Content-Length 99999999999 exceeds 4194304
 *   bad Content-Length "12x"       (also negative, empty, repeated)
 *   header block exceeds 65536 bytes
 *   header line without ':'
 *   NUL byte in a header block
 *   empty header block              (a blank line where a frame starts)
 * A malformed frame is reported as soon as the bytes show it (a bad
 * Content-Length before its body arrives). After ESL_EPROTO the reader
 * stays in error: every later call returns ESL_EPROTO. Cost: each byte is
 * examined once by the header scan, even when bytes arrive one at a time;
 * body bytes are not examined. Header names are matched without regard to
 * case; a value starts after ':' and any spaces. */
int esl_reader_next(esl_reader_t *r, esl_frame_t *f);

/* Committed bytes not yet returned as frames (a partial frame). 0 at the
 * end of a capture means it held only whole frames. */
size_t esl_reader_pending(const esl_reader_t *r);

/* "auth/request", ... for a type; "unknown" otherwise. For logs. */
const char *esl_type_name(esl_type_t t);

/* ---- text/event-plain bodies ---- */

/* Which header names an event parse keeps: a hash table built once. A
 * name matches exactly (case-sensitive, as FreeSWITCH writes it). */
#define ESL_WANT_SLOTS 256     /* power of 2, >= 2 * (ESL_WANT_MAX + 1) */

typedef struct esl_want {
    const char *const *names;        /* the caller's array, kept by pointer */
    unsigned            n;
    /* private: open addressing, linear probing */
    uint64_t            key[ESL_WANT_SLOTS];   /* hash of the name */
    uint8_t             slot[ESL_WANT_SLOTS];  /* index + 1; 0: empty */
    uint16_t            len[ESL_WANT_MAX + 1];
    unsigned            cl_index;    /* inner Content-Length's index */
} esl_want_t;

/* Builds w for names[0..n): n <= ESL_WANT_MAX, names non-empty, without
 * ':' or '\n', distinct, shorter than 65536 bytes; names must outlive w
 * (kept by pointer). Returns ESL_OK or ESL_EINVAL (w unusable). Allocates
 * nothing. */
int esl_want_init(esl_want_t *w, const char *const *names, unsigned n);

/* Nothing to release today; call it anyway when w is done with. */
void esl_want_free(esl_want_t *w);

/* The result of a parse: val[i] is the value of names[i]. */
typedef struct esl_event {
    const char *val[ESL_WANT_MAX];   /* decoded, NUL-terminated, inside the
                                      * body; NULL when the header is absent */
    size_t      len[ESL_WANT_MAX];
    const char *body;                /* inner body (BACKGROUND_JOB's job
                                      * output), NUL-terminated, or NULL */
    size_t      body_len;
} esl_event_t;

/*
 * Parses an event-plain body (body[0..len), and body[len] must be writable:
 * a frame body from esl_reader_next qualifies). One pass over the header
 * lines up to the first empty line (or the end of the body): each name is
 * looked up in w in O(1); only wanted values are decoded, in place, and
 * NUL-terminated. Decoding is FreeSWITCH's switch_url_decode: %XX becomes
 * one byte, '+' stays '+', a '%' not followed by two hex digits is copied
 * as is. A header given twice keeps its first value (FreeSWITCH repeats
 * Hangup-Cause with the same value). The inner body is the Content-Length
 * bytes after the empty line. The parse is destructive (line ends become
 * NULs): parse a body once.
 *
 * Returns ESL_OK, or ESL_EPROTO for this event (the connection is fine):
 * a line without ':', a wanted value holding or decoding to a NUL byte, an
 * inner Content-Length that is not a number or runs beyond the body. *ev
 * is then partly filled and must not be used. Lines after the empty line
 * are not headers: they are the inner body, or ignored without an inner
 * Content-Length. Touches nothing outside body[0..len], len included.
 */
int esl_event_parse(const esl_want_t *w, char *body, size_t len,
                    esl_event_t *ev);

#endif
