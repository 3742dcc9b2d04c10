/*
 * axl.h -- a small client of Cisco CUCM's AXL API (SOAP 1.1 over HTTPS)
 * for Forced Authorization Codes: addFacInfo, updateFacInfo, removeFacInfo,
 * listFacInfo; and the FAC code hash shared with the CUCM worker.
 *
 *   POST axl.url  (https://<publisher>:8443/axl/)
 *   Content-Type: text/xml; charset=utf-8
 *   SOAPAction: "CUCM:DB ver=<axl.version> <operation>"
 *   basic auth axl.user / axl.password
 *   <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
 *                     xmlns:ns="http://www.cisco.com/AXL/API/<axl.version>">
 *     <soapenv:Header/><soapenv:Body><ns:addFacInfo><facInfo>
 *       <name>..</name><code>..</code><authorizationLevel>..</authorizationLevel>
 *     </facInfo></ns:addFacInfo></soapenv:Body></soapenv:Envelope>
 *
 * Success is HTTP 200 without a SOAP fault; CUCM answers faults with HTTP
 * 500 and <soapenv:Fault><faultstring>. Responses are parsed with libexpat
 * (a DOCTYPE is refused: no entity expansion).
 *
 * Threads: every function may be called from any thread at once (one
 * libcurl easy handle per call, nothing shared but the read-only config).
 * Blocking: each call waits for CUCM, at most axl.timeout_ms. Call them
 * with no PostgreSQL transaction open.
 *
 * Secrets: the code travels in the envelope (CUCM needs it) and nowhere
 * else: never logged; an error text that would contain it (a fault that
 * echoes the request) has it replaced by "***". axl.password is never
 * logged.
 */
#ifndef APOLO_AXL_H
#define APOLO_AXL_H

#include "shm/conf.h"

#include <stddef.h>

enum {
    AXL_OK = 0,
    AXL_EFAULT = -1,     /* CUCM refused: err = "AXL fault: <faultstring>" */
    AXL_ENET = -2,       /* no answer, TLS, HTTP status, unreadable reply */
    AXL_ECONF = -3       /* axl.* values unusable (err says which) */
};

#define AXL_NAME_MAX   50      /* CUCM: String50 */
#define AXL_CODE_MAX   16      /* CUCM: String16, digits */
#define AXL_LEVEL_MAX  255
#define AXL_UUID_CAP   64      /* "{6A2F...}" with the braces, NUL */
#define AXL_ERR_CAP    320

typedef struct axl_cfg {
    char url[512];
    char user[128];
    char password[256];
    char version[16];          /* "14.0": digits and dots */
    long timeout_ms;
    int  verify_tls;
} axl_cfg_t;

/* One FAC as CUCM lists it. code is "" when CUCM did not return it. */
typedef struct axl_fac {
    char name[4 * AXL_NAME_MAX + 1];   /* UTF-8 */
    char code[AXL_CODE_MAX + 1];
    int  level;                        /* -1: not returned or not 0..255 */
    char uuid[AXL_UUID_CAP];
} axl_fac_t;

/*
 * The axl.* keys of c into *out. 1: configured; 0: axl.url empty (no AXL:
 * FACs stay local); AXL_ECONF with err set (axl.version not digits and
 * dots, a value too long, axl.url not http(s)://). The first call of a
 * process that finds axl.verify_tls = 0 logs a warning.
 */
int axl_configure(const conf_t *c, axl_cfg_t *out, char *err, size_t cap);

/* addFacInfo. AXL_OK with uuid (CUCM's <return>, "" if none), or an
 * error with err set. */
int axl_fac_add(const axl_cfg_t *k, const char *name, const char *code,
                int level, char uuid[AXL_UUID_CAP], char *err, size_t cap);

/* updateFacInfo of the FAC CUCM knows as name: new_name (NULL or equal:
 * unchanged), code (NULL: unchanged), level. AXL_OK, or an error. */
int axl_fac_update(const axl_cfg_t *k, const char *name,
                   const char *new_name, const char *code, int level,
                   char *err, size_t cap);

/* removeFacInfo of the FAC CUCM knows as name. AXL_OK, or an error. */
int axl_fac_remove(const axl_cfg_t *k, const char *name, char *err,
                   size_t cap);

/*
 * listFacInfo (every name: searchCriteria name "%"; returnedTags name, code,
 * authorizationLevel), in pages of 500 (skip/first). AXL_OK with *out
 * (malloc'd, the caller frees it; NULL when *n is 0) and *n, or an error
 * (*out NULL, *n 0).
 */
int axl_fac_list(const axl_cfg_t *k, axl_fac_t **out, size_t *n, char *err,
                 size_t cap);

/* 1 when s is a FAC code CUCM accepts: 1..16 ASCII digits. */
int axl_code_ok(const char *s);

#endif
