/*
 * number.h -- dialled-number normalisation before the prefix lookup.
 *
 * Two steps, always in this order:
 *   1. strip: every byte that is not an ASCII digit is dropped ('+', spaces,
 *      dashes, dots, parentheses, '*', '#', letters...). Pass only the user
 *      part of a URI: the digits of "sip:+54911...@10.0.0.1" would include
 *      the host's.
 *   2. rewrite: the plan's rules are tried in order; the first rule whose
 *      `match` is a prefix of the digits replaces that prefix with
 *      `replace`, once (the result is not rewritten again).
 *      Example rules "00=>,0=>54": "0054 11 4321" -> "54114321" (the
 *      international prefix dropped), "011 4321" -> "54114321" (national
 *      to country code), "+54 11 4321" -> "54114321" (no rule applies).
 *
 * The result is 1..NUMBER_MAXLEN digits; empty or longer is an error.
 *
 * number_rule_t is POD and position-independent (no pointers): a plan's
 * rule array can be stored in the shared region. The text form is the SQL
 * column's: "match=>replace" items separated by ','; spaces and tabs
 * around items and around "=>" are ignored; "" is the empty list.
 *
 * All functions are pure (no state, no allocation, no locale): safe in any
 * process and thread.
 */
#ifndef APOLO_NUMBER_H
#define APOLO_NUMBER_H

#include <stddef.h>
#include <stdint.h>

#define NUMBER_MAXLEN    32   /* digits of a normalised number */
#define NUMBER_RULE_MAX  15   /* digits of a rule's match or replace */

enum {
    NUMBER_OK = 0,
    NUMBER_EINVAL = -1,    /* NULL argument, capacity 0 */
    NUMBER_EEMPTY = -2,    /* no digit left */
    NUMBER_ETOOLONG = -3,  /* more than NUMBER_MAXLEN digits, or than fits */
    NUMBER_ESYNTAX = -4,   /* rule text malformed */
    NUMBER_ERULE = -5,     /* rule well-formed but wrong (length,
                              unreachable, not digits) */
    NUMBER_ETOOMANY = -6   /* more rules than the caller's array holds */
};

/* One rewrite rule: digits only, NUL-terminated, lengths stored. */
typedef struct number_rule {
    char    match[NUMBER_RULE_MAX + 1];    /* may be empty: matches all */
    char    replace[NUMBER_RULE_MAX + 1];  /* may be empty: drop match */
    uint8_t match_len;
    uint8_t replace_len;
} number_rule_t;

/* Where and why a rule list was refused. */
typedef struct number_rule_error {
    uint32_t    offset;  /* byte of the text (parse) or 0 (check) */
    uint32_t    rule;    /* 1-based index of the offending rule, 0: none */
    const char *reason;  /* static English text */
} number_rule_error_t;

/*
 * Normalises in[0..len) (need not be NUL-terminated) with rules[0..nrules)
 * (rules may be NULL when nrules is 0) into out, NUL-terminated, capacity
 * cap bytes including the NUL. *outlen (may be NULL) gets the digit count.
 * Errors: NUMBER_EINVAL, NUMBER_EEMPTY (nothing left, before or after the
 * rewrite), NUMBER_ETOOLONG (result > NUMBER_MAXLEN digits or >= cap).
 * On error out[0] is '\0' when cap > 0, *outlen untouched.
 */
int number_normalize(const char *in, size_t len, const number_rule_t *rules,
                     uint32_t nrules, char *out, size_t cap, size_t *outlen);

/* Index of the rule number_normalize would apply to the stripped digits
 * digits[0..len), or -1 if none. */
int number_rule_find(const number_rule_t *rules, uint32_t nrules,
                     const char *digits, size_t len);

/*
 * Parses the text form s[0..len) into rules[0..cap), count in *nrules.
 * Checks each rule as number_rules_check does. Errors: NUMBER_EINVAL,
 * NUMBER_ESYNTAX (missing "=>", a non-digit, an empty item as in "0=>54,"),
 * NUMBER_ERULE (over NUMBER_RULE_MAX digits, unreachable rule),
 * NUMBER_ETOOMANY. *err (may be NULL) says where; on error *nrules is
 * untouched and rules[] partly written.
 */
int number_rules_parse(const char *s, size_t len, number_rule_t *rules,
                       uint32_t cap, uint32_t *nrules,
                       number_rule_error_t *err);

/*
 * Checks rules loaded from elsewhere: lengths agree with the NUL-terminated
 * digit strings, and no rule is unreachable (a rule is shadowed when an
 * earlier rule's match is a prefix of its match, as "0" shadows "00", and
 * an empty match shadows every later rule). NUMBER_ERULE with *err (may be
 * NULL) naming the rule.
 */
int number_rules_check(const number_rule_t *rules, uint32_t nrules,
                       number_rule_error_t *err);

/* Writes the text form ("00=>,0=>54") of rules, NUL-terminated, into buf of
 * cap bytes; returns the length, or NUMBER_ETOOLONG if it does not fit
 * (buf then holds a truncated prefix), NUMBER_ERULE for a stored length
 * over NUMBER_RULE_MAX, NUMBER_EINVAL for NULL or cap 0. */
int number_rules_format(const number_rule_t *rules, uint32_t nrules,
                        char *buf, size_t cap);

/* Static English text for a NUMBER_* code. */
const char *number_strerror(int err);

#endif
