/*
 * number.c -- strip to digits, then at most one prefix rewrite.
 *
 * Design: normalisation is a copy of the digits into a stack buffer, a
 * linear search of the (few) rules for the first matching prefix, and one
 * splice into the caller's buffer. The rule parser is a hand-written
 * scanner over the SQL text form that reports the byte offset of the first
 * problem, and refuses rule lists where a rule can never apply.
 *
 * NOTES (traps):
 * - Rules are order-sensitive: "0=>54,00=>" never drops "00" because "0"
 *   matches first. Such a list is refused (NUMBER_ERULE) rather than
 *   silently rating international calls as national ones.
 * - A rule applies once: "0=>0" or "0=>054" do not loop.
 * - The stripped digits may be longer than NUMBER_MAXLEN and still give a
 *   valid result once a rule removes its match, so the stack buffer holds
 *   NUMBER_MAXLEN + NUMBER_RULE_MAX digits; beyond that no rule can help.
 * - Rules may come from shared memory: their stored lengths are bounded
 *   before use so that a corrupt rule cannot make us read past it.
 */
#include "shm/number.h"

#include <string.h>

static int number_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int number_is_space(char c)
{
    return c == ' ' || c == '\t';
}

int number_rule_find(const number_rule_t *rules, uint32_t nrules,
                     const char *digits, size_t len)
{
    uint32_t i;

    for (i = 0; i < nrules; i++) {
        size_t m = rules[i].match_len;
        if (m <= NUMBER_RULE_MAX && m <= len &&
            memcmp(rules[i].match, digits, m) == 0)
            return (int)i;
    }
    return -1;
}

int number_normalize(const char *in, size_t len, const number_rule_t *rules,
                     uint32_t nrules, char *out, size_t cap, size_t *outlen)
{
    char digits[NUMBER_MAXLEN + NUMBER_RULE_MAX];
    size_t n = 0, i, mlen = 0, rlen = 0, total;
    const char *rep = "";
    int r;

    if (out == NULL || cap == 0)
        return NUMBER_EINVAL;
    out[0] = '\0';
    if ((in == NULL && len > 0) || (rules == NULL && nrules > 0))
        return NUMBER_EINVAL;
    for (i = 0; i < len; i++) {
        if (!number_is_digit(in[i]))
            continue;
        if (n == sizeof digits)
            return NUMBER_ETOOLONG;      /* no rule removes that many */
        digits[n++] = in[i];
    }
    if (n == 0)
        return NUMBER_EEMPTY;
    r = number_rule_find(rules, nrules, digits, n);
    if (r >= 0) {
        mlen = rules[r].match_len;
        rlen = rules[r].replace_len;
        rep = rules[r].replace;
        if (rlen > NUMBER_RULE_MAX)
            return NUMBER_ERULE;         /* corrupt rule */
    }
    total = n - mlen + rlen;
    if (total == 0)
        return NUMBER_EEMPTY;            /* "00" with rule "00=>" */
    if (total > NUMBER_MAXLEN || total >= cap)
        return NUMBER_ETOOLONG;
    memcpy(out, rep, rlen);
    memcpy(out + rlen, digits + mlen, n - mlen);
    out[total] = '\0';
    if (outlen != NULL)
        *outlen = total;
    return NUMBER_OK;
}

static int number_fail(number_rule_error_t *err, int rc, size_t offset,
                       uint32_t rule, const char *reason)
{
    if (err != NULL) {
        err->offset = (uint32_t)offset;
        err->rule = rule;
        err->reason = reason;
    }
    return rc;
}

/* Index of an earlier rule whose match is a prefix of rule i's, or -1. */
static int number_shadowed_by(const number_rule_t *rules, uint32_t i)
{
    return number_rule_find(rules, i, rules[i].match, rules[i].match_len);
}

/* A field is NUL-terminated at len, digits only, len <= NUMBER_RULE_MAX. */
static int number_field_ok(const char *f, uint8_t len)
{
    uint8_t i;

    if (len > NUMBER_RULE_MAX || f[len] != '\0')
        return 0;
    for (i = 0; i < len; i++)
        if (!number_is_digit(f[i]))
            return 0;
    return 1;
}

int number_rules_check(const number_rule_t *rules, uint32_t nrules,
                       number_rule_error_t *err)
{
    uint32_t i;

    if (rules == NULL && nrules > 0)
        return number_fail(err, NUMBER_EINVAL, 0, 0, "no rule array");
    for (i = 0; i < nrules; i++) {
        if (!number_field_ok(rules[i].match, rules[i].match_len) ||
            !number_field_ok(rules[i].replace, rules[i].replace_len))
            return number_fail(err, NUMBER_ERULE, 0, i + 1,
                               "not 0..15 digits with a matching length");
        if (number_shadowed_by(rules, i) >= 0)
            return number_fail(err, NUMBER_ERULE, 0, i + 1,
                               "rule can never apply: an earlier rule's "
                               "match is a prefix of its match");
    }
    return NUMBER_OK;
}

/* Scanner over the text form. */
typedef struct number_cur {
    const char *s;
    size_t len, pos;
} number_cur_t;

static void number_skip_space(number_cur_t *c)
{
    while (c->pos < c->len && number_is_space(c->s[c->pos]))
        c->pos++;
}

/* Reads up to NUMBER_RULE_MAX digits into dst (NUL-terminated). */
static int number_scan_field(number_cur_t *c, char *dst, uint8_t *dlen,
                             uint32_t rule, number_rule_error_t *err,
                             const char *toolong)
{
    size_t n = 0, start = c->pos;

    while (c->pos < c->len && number_is_digit(c->s[c->pos])) {
        if (n == NUMBER_RULE_MAX)
            return number_fail(err, NUMBER_ERULE, start, rule, toolong);
        dst[n++] = c->s[c->pos++];
    }
    dst[n] = '\0';
    *dlen = (uint8_t)n;
    return NUMBER_OK;
}

/* Parses one "match=>replace" item at the cursor into *r. */
static int number_parse_item(number_cur_t *c, number_rule_t *r,
                             uint32_t rule, number_rule_error_t *err)
{
    int rc;

    memset(r, 0, sizeof *r);
    number_skip_space(c);
    if (c->pos == c->len || c->s[c->pos] == ',')
        return number_fail(err, NUMBER_ESYNTAX, c->pos, rule, "empty rule");
    rc = number_scan_field(c, r->match, &r->match_len, rule, err,
                           "match longer than 15 digits");
    if (rc != NUMBER_OK)
        return rc;
    number_skip_space(c);
    if (c->len - c->pos < 2 || c->s[c->pos] != '=' || c->s[c->pos + 1] != '>')
        return number_fail(err, NUMBER_ESYNTAX, c->pos, rule,
                           "expected digits then \"=>\"");
    c->pos += 2;
    number_skip_space(c);
    rc = number_scan_field(c, r->replace, &r->replace_len, rule, err,
                           "replacement longer than 15 digits");
    if (rc != NUMBER_OK)
        return rc;
    number_skip_space(c);
    if (c->pos < c->len && c->s[c->pos] != ',')
        return number_fail(err, NUMBER_ESYNTAX, c->pos, rule,
                           "expected digits, ',' or the end");
    return NUMBER_OK;
}

int number_rules_parse(const char *s, size_t len, number_rule_t *rules,
                       uint32_t cap, uint32_t *nrules,
                       number_rule_error_t *err)
{
    number_cur_t c = { s, len, 0 };
    uint32_t n = 0;
    size_t start;
    int rc;

    if ((s == NULL && len > 0) || (rules == NULL && cap > 0) ||
        nrules == NULL)
        return number_fail(err, NUMBER_EINVAL, 0, 0, "invalid argument");
    number_skip_space(&c);
    while (c.pos < c.len) {      /* blank text: the empty list */
        if (n == cap)
            return number_fail(err, NUMBER_ETOOMANY, c.pos, n + 1,
                               "more rules than room for them");
        number_skip_space(&c);
        start = c.pos;
        rc = number_parse_item(&c, &rules[n], n + 1, err);
        if (rc != NUMBER_OK)
            return rc;
        if (number_shadowed_by(rules, n) >= 0)
            return number_fail(err, NUMBER_ERULE, start, n + 1,
                               "rule can never apply: an earlier rule's "
                               "match is a prefix of its match");
        n++;
        if (c.pos < c.len && ++c.pos == c.len)   /* consume the ',' */
            return number_fail(err, NUMBER_ESYNTAX, c.pos, n + 1,
                               "empty rule");
    }
    *nrules = n;
    return NUMBER_OK;
}

/* Appends src[0..n) to buf at *pos if it fits with a final NUL. */
static int number_append(char *buf, size_t cap, size_t *pos, const char *src,
                         size_t n)
{
    if (cap - *pos <= n)
        return 0;
    memcpy(buf + *pos, src, n);
    *pos += n;
    buf[*pos] = '\0';
    return 1;
}

int number_rules_format(const number_rule_t *rules, uint32_t nrules,
                        char *buf, size_t cap)
{
    size_t pos = 0;
    uint32_t i;

    if (buf == NULL || cap == 0 || (rules == NULL && nrules > 0))
        return NUMBER_EINVAL;
    buf[0] = '\0';
    for (i = 0; i < nrules; i++) {
        const number_rule_t *r = &rules[i];
        if (r->match_len > NUMBER_RULE_MAX ||
            r->replace_len > NUMBER_RULE_MAX)
            return NUMBER_ERULE;
        if ((i > 0 && !number_append(buf, cap, &pos, ",", 1)) ||
            !number_append(buf, cap, &pos, r->match, r->match_len) ||
            !number_append(buf, cap, &pos, "=>", 2) ||
            !number_append(buf, cap, &pos, r->replace, r->replace_len))
            return NUMBER_ETOOLONG;
    }
    return (int)pos;
}

const char *number_strerror(int err)
{
    switch (err) {
    case NUMBER_OK:       return "success";
    case NUMBER_EINVAL:   return "invalid argument";
    case NUMBER_EEMPTY:   return "number has no digits";
    case NUMBER_ETOOLONG: return "number too long";
    case NUMBER_ESYNTAX:  return "malformed rewrite rules";
    case NUMBER_ERULE:    return "invalid rewrite rule";
    case NUMBER_ETOOMANY: return "too many rewrite rules";
    default:              return "unknown number error";
    }
}
