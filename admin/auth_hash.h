/*
 * auth_hash.h -- the secrets of the admin API: password hashes (argon2id),
 * session tokens and their hashes (libsodium).
 *
 * Shared by the HTTP server (admin/http.c, admin/api_auth.c) and by
 * `apolod user add` (engine/main.c), so that engine/ does not depend on
 * libsodium itself.
 *
 *   password  -> crypto_pwhash_str (argon2id, OPSLIMIT/MEMLIMIT_INTERACTIVE:
 *                2 passes, 64 MiB; ~0.1 s) -> users.password_hash
 *   token     =  32 random bytes, 64 lower-case hex characters, given to
 *                the client once (cookie or bearer)
 *   token     -> crypto_generichash (BLAKE2b-256), 64 hex -> sessions.
 *                token_hash: a leaked table does not leak live sessions
 *
 * Thread safe. Every function calls auth_init() itself; nothing is logged.
 */
#ifndef APOLO_AUTH_HASH_H
#define APOLO_AUTH_HASH_H

#include <stddef.h>

#define AUTH_HASH_MAX   128     /* crypto_pwhash_STRBYTES, with the NUL */
#define AUTH_TOKEN_LEN  64      /* hex characters, without the NUL */
#define AUTH_PW_MIN     10      /* shortest password accepted */
#define AUTH_PW_MAX     1024    /* longest (bounds the hashing work) */

/* Initialises libsodium once: 0, or -1 (no usable randomness). */
int auth_init(void);

/* Hashes pw (NUL-terminated) into out: 0, or -1 (out of memory). */
int auth_hash_password(const char *pw, char out[AUTH_HASH_MAX]);

/* 1 when pw matches hash, else 0 (a malformed hash is a mismatch). */
int auth_verify_password(const char *pw, const char *hash);

/* A hash of a random password, made once: verifying against it costs what
 * verifying a real user's password does (an unknown user answers in the
 * same time as a wrong password). NULL on failure. */
const char *auth_dummy_hash(void);

/* A new random token: 64 hex characters and a NUL. */
void auth_new_token(char out[AUTH_TOKEN_LEN + 1]);

/* 1 when s is exactly AUTH_TOKEN_LEN lower-case hex characters. */
int auth_token_valid(const char *s);

/* The hex hash of a token, as stored in sessions.token_hash. */
void auth_token_hash(const char *token, char out[AUTH_TOKEN_LEN + 1]);

#endif
