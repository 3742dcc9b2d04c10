/*
 * test_axl.c -- the parts of admin/axl.h that need no CUCM: the FAC code
 * hash (HMAC-SHA256 against RFC 4231's vectors, so that the CUCM worker and
 * any other implementation agree), the code rule, the axl.* configuration,
 * and a transport failure. The SOAP exchange itself is tested against
 * tests/axl_sink.py by tests/t_api_fac.sh.
 */
#include "admin/axl.h"
#include "shm/catalog.h"
#include "tests/testhelp.h"

#include <stdlib.h>
#include <string.h>

static void test_hash(void)
{
    char out[65];
    /* RFC 4231 test case 2 */
    TEST_EQ_I64(cat_fac_code_hash("Jefe", "what do ya want for nothing?",
                                  out), 0);
    TEST_EQ_STR(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b"
                     "964ec3843");
    /* RFC 4231 test case 6: a key longer than the block (131 x 0xaa) */
    char key[132];
    memset(key, 0xaa, 131);
    key[131] = '\0';
    TEST_EQ_I64(cat_fac_code_hash(key, "Test Using Larger Than Block-Size "
                                  "Key - Hash Key First", out), 0);
    TEST_EQ_STR(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040"
                     "f0ee37f54");
    /* deterministic, keyed */
    char a[65], b[65];
    TEST_EQ_I64(cat_fac_code_hash("s1", "1234", a), 0);
    TEST_EQ_I64(cat_fac_code_hash("s1", "1234", b), 0);
    TEST_EQ_STR(a, b);
    TEST_EQ_I64(cat_fac_code_hash("s2", "1234", b), 0);
    TEST_CHECK(strcmp(a, b) != 0);
    TEST_EQ_I64(cat_fac_code_hash("", "1234", b), -1);
}

static void test_code_ok(void)
{
    TEST_CHECK(axl_code_ok("0"));
    TEST_CHECK(axl_code_ok("1234567890123456"));
    TEST_CHECK(!axl_code_ok(""));
    TEST_CHECK(!axl_code_ok("12345678901234567"));
    TEST_CHECK(!axl_code_ok("12a4"));
    TEST_CHECK(!axl_code_ok(" 12"));
    TEST_CHECK(!axl_code_ok("-12"));
    TEST_CHECK(!axl_code_ok("+12"));
}

/* conf from the environment only; returns axl_configure's result. */
static int configure(const char *url, const char *version, const char *tls,
                     axl_cfg_t *k, char *err)
{
    conf_t c;
    conf_err_t cerr;
    setenv("APOLO_AXL_URL", url, 1);
    setenv("APOLO_AXL_VERSION", version, 1);
    setenv("APOLO_AXL_VERIFY_TLS", tls, 1);
    setenv("APOLO_AXL_USER", "u", 1);
    setenv("APOLO_AXL_PASSWORD", "p", 1);
    if (conf_load(&c, NULL, &cerr) != CONF_OK) {
        fprintf(stderr, "conf_load: %s\n", cerr.msg);
        return -100;
    }
    err[0] = '\0';
    int rc = axl_configure(&c, k, err, AXL_ERR_CAP);
    conf_free(&c);
    return rc;
}

static void test_configure(void)
{
    axl_cfg_t k;
    char err[AXL_ERR_CAP];
    TEST_EQ_I64(configure("", "14.0", "1", &k, err), 0);
    TEST_EQ_I64(configure("ftp://cucm/axl/", "14.0", "1", &k, err),
                AXL_ECONF);
    TEST_CHECK(strstr(err, "axl.url") != NULL);
    TEST_EQ_I64(configure("https://cucm:8443/axl/", "14.x", "1", &k, err),
                AXL_ECONF);
    TEST_CHECK(strstr(err, "axl.version") != NULL);
    TEST_EQ_I64(configure("https://cucm:8443/axl/", "12.5", "1", &k, err), 1);
    TEST_EQ_STR(k.url, "https://cucm:8443/axl/");
    TEST_EQ_STR(k.version, "12.5");
    TEST_EQ_STR(k.user, "u");
    TEST_EQ_I64(k.verify_tls, 1);
    TEST_EQ_I64(k.timeout_ms, 10000);
    TEST_EQ_I64(configure("https://cucm:8443/axl/", "14.0", "0", &k, err), 1);
    TEST_EQ_I64(k.verify_tls, 0);
}

static void test_unreachable(void)
{
    axl_cfg_t k;
    char err[AXL_ERR_CAP];
    TEST_EQ_I64(configure("http://127.0.0.1:1/axl/", "14.0", "1", &k, err),
                1);
    TEST_EQ_I64(axl_fac_remove(&k, "Legal", err, sizeof err), AXL_ENET);
    TEST_CHECK(strstr(err, "removeFacInfo") != NULL);
    axl_fac_t *list = (axl_fac_t *)1;
    size_t n = 7;
    TEST_EQ_I64(axl_fac_list(&k, &list, &n, err, sizeof err), AXL_ENET);
    TEST_CHECK(list == NULL && n == 0);
}

int main(void)
{
    test_hash();
    test_code_ok();
    test_configure();
    test_unreachable();
    return TEST_REPORT();
}
