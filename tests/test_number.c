/*
 * test_number.c -- number.h: stripping, first-match rewrite, limits, and
 * the rule-list parser with its errors.
 */
#include "shm/number.h"
#include "tests/testhelp.h"

static number_rule_t rules[8];
static uint32_t nrules;

static void set_rules(const char *text)
{
    number_rule_error_t e = { 0, 0, NULL };
    int rc = number_rules_parse(text, strlen(text), rules, 8, &nrules, &e);

    if (rc != NUMBER_OK)
        TEST_FAIL_AT("rules \"%s\": %s at %u", text, e.reason, e.offset);
}

/* Normalised text, or the error's name. */
static const char *norm(const char *in, size_t cap)
{
    static char out[64];
    size_t len = 999;
    int rc = number_normalize(in, strlen(in), rules, nrules, out, cap, &len);

    if (rc != NUMBER_OK) {
        if (out[0] != '\0')
            return "(out not cleared)";
        return rc == NUMBER_EEMPTY ? "EEMPTY"
             : rc == NUMBER_ETOOLONG ? "ETOOLONG" : "EOTHER";
    }
    if (len != strlen(out))
        return "(bad length)";
    return out;
}

static void test_normalize(void)
{
    set_rules("00=>,0=>54");
    TEST_EQ_I64(nrules, 2);
    TEST_EQ_STR(norm("0054 11 4321-0000", 64), "541143210000");
    TEST_EQ_STR(norm("011 4321", 64), "54114321");
    TEST_EQ_STR(norm("+54 11 4321", 64), "54114321");
    TEST_EQ_STR(norm("(011) 15-4321.0000", 64), "5411154321" "0000");
    TEST_EQ_STR(norm("*99#1234", 64), "991234");     /* '*', '#' dropped */
    TEST_EQ_STR(norm("0", 64), "54");
    TEST_EQ_STR(norm("00", 64), "EEMPTY");           /* rewrite leaves none */
    TEST_EQ_STR(norm("", 64), "EEMPTY");
    TEST_EQ_STR(norm("+ - ()", 64), "EEMPTY");
    /* NUMBER_MAXLEN = 32 digits */
    TEST_EQ_STR(norm("12345678901234567890123456789012", 64),
                "12345678901234567890123456789012");
    TEST_EQ_STR(norm("123456789012345678901234567890123", 64), "ETOOLONG");
    /* 34 digits before, 32 after dropping "00" */
    TEST_EQ_STR(norm("0012345678901234567890123456789012", 64),
                "12345678901234567890123456789012");
    /* 31 digits "0..." become 32 with "54" */
    TEST_EQ_STR(norm("0234567890123456789012345678901", 64),
                "54234567890123456789012345678901");
    TEST_EQ_STR(norm("02345678901234567890123456789012", 64), "ETOOLONG");
    /* lots of junk around is fine, lots of digits is not */
    TEST_EQ_STR(norm("   +54 (11) 4321-0000 ext. ", 64), "541143210000");
    TEST_EQ_STR(norm("00000000000000000000000000000000000000000000000", 64),
                "ETOOLONG");
    /* capacity includes the NUL */
    TEST_EQ_STR(norm("011 4321", 9), "54114321");
    TEST_EQ_STR(norm("011 4321", 8), "ETOOLONG");
    /* a rule applies once */
    set_rules("0=>0");
    TEST_EQ_STR(norm("0011", 64), "0011");
    set_rules("1=>11");
    TEST_EQ_STR(norm("123", 64), "1123");
    /* empty match: catch-all, last */
    set_rules("54=>54,=>54");
    TEST_EQ_STR(norm("5411", 64), "5411");
    TEST_EQ_STR(norm("11", 64), "5411");
    /* no rules */
    nrules = 0;
    TEST_EQ_STR(norm("+1 (212) 555-0100", 64), "12125550100");
    {
        char out[4] = "xyz";
        TEST_EQ_I64(number_normalize("1", 1, NULL, 0, out, 0, NULL),
                    NUMBER_EINVAL);
        TEST_EQ_I64(number_normalize(NULL, 3, NULL, 0, out, 4, NULL),
                    NUMBER_EINVAL);
        TEST_EQ_I64(number_normalize("12", 1, NULL, 0, out, 4, NULL),
                    NUMBER_OK);                      /* only len bytes */
        TEST_EQ_STR(out, "1");
    }
}

static void test_find(void)
{
    set_rules("00=>,0=>54");
    TEST_EQ_I64(number_rule_find(rules, nrules, "0054", 4), 0);
    TEST_EQ_I64(number_rule_find(rules, nrules, "054", 3), 1);
    TEST_EQ_I64(number_rule_find(rules, nrules, "54", 2), -1);
    TEST_EQ_I64(number_rule_find(rules, nrules, "0", 1), 1);
}

/* Expects parsing `text` to fail with rc at offset for rule `rule`. */
static void parse_fails(const char *text, int rc_want, uint32_t offset,
                        uint32_t rule)
{
    number_rule_t r[2];
    number_rule_error_t e = { 999, 999, NULL };
    uint32_t n = 77;
    int rc = number_rules_parse(text, strlen(text), r, 2, &n, &e);

    test_checks++;
    if (rc != rc_want || e.offset != offset || e.rule != rule ||
        e.reason == NULL || n != 77)
        TEST_FAIL_AT("\"%s\": rc %d at %u rule %u (%s); expected %d at %u "
                     "rule %u", text, rc, e.offset, e.rule,
                     e.reason ? e.reason : "-", rc_want, offset, rule);
}

static void test_parse(void)
{
    number_rule_t r[4];
    uint32_t n = 77;
    char text[128];

    TEST_EQ_I64(number_rules_parse("", 0, r, 4, &n, NULL), NUMBER_OK);
    TEST_EQ_I64(n, 0);
    TEST_EQ_I64(number_rules_parse(" \t ", 3, r, 4, &n, NULL), NUMBER_OK);
    TEST_EQ_I64(n, 0);
    TEST_EQ_I64(number_rules_parse(" 00 => , 0 =>54 ", 16, r, 4, &n, NULL),
                NUMBER_OK);
    TEST_EQ_I64(n, 2);
    TEST_EQ_STR(r[0].match, "00");
    TEST_EQ_I64(r[0].match_len, 2);
    TEST_EQ_STR(r[0].replace, "");
    TEST_EQ_I64(r[0].replace_len, 0);
    TEST_EQ_STR(r[1].match, "0");
    TEST_EQ_STR(r[1].replace, "54");
    TEST_EQ_I64(r[1].replace_len, 2);
    TEST_EQ_I64(number_rules_format(r, n, text, sizeof text), 10);
    TEST_EQ_STR(text, "00=>,0=>54");
    TEST_EQ_I64(number_rules_format(r, n, text, 10), NUMBER_ETOOLONG);
    TEST_EQ_I64(number_rules_check(r, n, NULL), NUMBER_OK);

    parse_fails("0=>54,", NUMBER_ESYNTAX, 6, 2);           /* empty rule */
    parse_fails(",0=>54", NUMBER_ESYNTAX, 0, 1);
    parse_fails("0=>54,,1=>2", NUMBER_ESYNTAX, 6, 2);
    parse_fails("0>54", NUMBER_ESYNTAX, 1, 1);
    parse_fails("0=54", NUMBER_ESYNTAX, 1, 1);
    parse_fails("0=>54;1=>2", NUMBER_ESYNTAX, 5, 1);
    parse_fails("a=>1", NUMBER_ESYNTAX, 0, 1);
    parse_fails("0=>5a", NUMBER_ESYNTAX, 4, 1);
    parse_fails("+54=>54", NUMBER_ESYNTAX, 0, 1);
    parse_fails("0 0=>1", NUMBER_ESYNTAX, 2, 1);
    parse_fails("0=>54,00=>", NUMBER_ERULE, 6, 2);         /* shadowed */
    parse_fails("0=>1, 0=>2", NUMBER_ERULE, 6, 2);         /* duplicate */
    parse_fails("=>54,1=>2", NUMBER_ERULE, 5, 2);          /* after catch-all */
    parse_fails("1234567890123456=>1", NUMBER_ERULE, 0, 1);
    parse_fails("1=>1234567890123456", NUMBER_ERULE, 3, 1);
    parse_fails("1=>2,2=>3,3=>4", NUMBER_ETOOMANY, 10, 3);
    /* 15 digits is the limit, not 14 */
    TEST_EQ_I64(number_rules_parse("123456789012345=>543210987654321", 32, r,
                                   4, &n, NULL), NUMBER_OK);
    TEST_EQ_I64(r[0].match_len, 15);
    TEST_EQ_I64(r[0].replace_len, 15);
}

static void test_check(void)
{
    number_rule_t r[2];
    number_rule_error_t e = { 0, 0, NULL };

    memset(r, 0, sizeof r);
    memcpy(r[0].match, "00", 3);
    r[0].match_len = 2;
    memcpy(r[1].match, "0", 2);
    r[1].match_len = 1;
    memcpy(r[1].replace, "54", 3);
    r[1].replace_len = 2;
    TEST_EQ_I64(number_rules_check(r, 2, &e), NUMBER_OK);
    r[1].replace_len = 3;                        /* disagrees with the NUL */
    TEST_EQ_I64(number_rules_check(r, 2, &e), NUMBER_ERULE);
    TEST_EQ_I64(e.rule, 2);
    r[1].replace_len = 2;
    r[0].match[1] = 'x';
    TEST_EQ_I64(number_rules_check(r, 2, &e), NUMBER_ERULE);
    TEST_EQ_I64(e.rule, 1);
    r[0].match[1] = '0';
    r[0].match_len = 200;                        /* corrupt: never read */
    TEST_EQ_I64(number_rules_check(r, 2, &e), NUMBER_ERULE);
    TEST_EQ_I64(number_rule_find(r, 2, "0012", 4), 1);
    TEST_EQ_STR(number_strerror(NUMBER_ERULE), "invalid rewrite rule");
}

int main(void)
{
    test_normalize();
    test_find();
    test_parse();
    test_check();
    return TEST_REPORT();
}
