/*
 * auth_hash.c -- argon2id password hashes, random session tokens and their
 * BLAKE2b hashes, on libsodium (see auth_hash.h).
 *
 * NOTES
 * - crypto_pwhash_str_verify takes its cost parameters from the stored
 *   string, so the dummy hash is made with the same limits as real ones:
 *   if the limits change, old hashes keep verifying (at their old cost)
 *   and the dummy follows the new cost.
 * - MEMLIMIT_INTERACTIVE is 64 MiB per verification in progress: with
 *   admin.threads = 8, concurrent logins may touch 512 MiB for ~0.1 s.
 */
#include "admin/auth_hash.h"

#include <pthread.h>
#include <sodium.h>
#include <string.h>

static pthread_once_t auth_once = PTHREAD_ONCE_INIT;
static pthread_once_t auth_dummy_once = PTHREAD_ONCE_INIT;
static int auth_ok;
static char auth_dummy[AUTH_HASH_MAX];

static void auth_init_once(void)
{
    if (sodium_init() >= 0)
        auth_ok = 1;
}

/* Made at the first need (a login for an unknown user), not at start: a
 * restarted admin process must not spend 64 MiB and a core's burst on it
 * while the flusher catches up and the workers rate calls. */
static void auth_dummy_once_fn(void)
{
    /* a password nobody knows, hashed like a real one */
    unsigned char rnd[24];
    char pw[2 * sizeof rnd + 1];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(pw, sizeof pw, rnd, sizeof rnd);
    if (crypto_pwhash_str(auth_dummy, pw, strlen(pw),
                          crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        auth_dummy[0] = '\0';
}

int auth_init(void)
{
    pthread_once(&auth_once, auth_init_once);
    return auth_ok ? 0 : -1;
}

int auth_hash_password(const char *pw, char out[AUTH_HASH_MAX])
{
    if (auth_init() != 0)
        return -1;
    return crypto_pwhash_str(out, pw, strlen(pw),
                             crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0 ? 0 : -1;
}

int auth_verify_password(const char *pw, const char *hash)
{
    if (auth_init() != 0 || hash == NULL || hash[0] == '\0')
        return 0;
    return crypto_pwhash_str_verify(hash, pw, strlen(pw)) == 0;
}

const char *auth_dummy_hash(void)
{
    if (auth_init() != 0)
        return NULL;
    pthread_once(&auth_dummy_once, auth_dummy_once_fn);
    if (auth_dummy[0] == '\0')
        return NULL;
    return auth_dummy;
}

void auth_new_token(char out[AUTH_TOKEN_LEN + 1])
{
    unsigned char rnd[AUTH_TOKEN_LEN / 2];
    (void)auth_init();
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(out, AUTH_TOKEN_LEN + 1, rnd, sizeof rnd);
    sodium_memzero(rnd, sizeof rnd);
}

int auth_token_valid(const char *s)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (n >= AUTH_TOKEN_LEN
            || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return n == AUTH_TOKEN_LEN;
}

void auth_token_hash(const char *token, char out[AUTH_TOKEN_LEN + 1])
{
    unsigned char h[AUTH_TOKEN_LEN / 2];
    (void)auth_init();
    crypto_generichash(h, sizeof h, (const unsigned char *)token,
                       strlen(token), NULL, 0);
    sodium_bin2hex(out, AUTH_TOKEN_LEN + 1, h, sizeof h);
}
