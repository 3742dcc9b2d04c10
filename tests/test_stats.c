/*
 * test_stats.c -- per-process counters in the region (shm/stats.h): a
 * slot is claimed by tag, found again by the same tag (a restarted worker
 * goes on counting), never shared by two tags; a full area says NULL; the
 * region gives the area region.max_readers slots; counters added by
 * several processes at once (each its own slot) are exact.
 */
#include "shm/calls.h"
#include "shm/region.h"
#include "shm/stats.h"
#include "tests/testhelp.h"

#include <sys/wait.h>
#include <unistd.h>

#define NPROC 4
#define ADDS  200000

int main(void)
{
    region_t r;
    region_config_t cfg = { .max_readers = 8, .max_accounts = 16,
                            .heap_bytes = 1 << 20 };
    TEST_EQ_I64(region_create(&r, &cfg), REGION_OK);
    TEST_EQ_I64(region_check(&r), REGION_OK);
    stats_shm_t *st = region_area(&r, REGION_AREA_STATS);
    TEST_EQ_I64(st->nslots, 8);
    TEST_CHECK(r.hdr->area_len[REGION_AREA_STATS] >= stats_shm_size(8));
    TEST_EQ_I64(sizeof(stats_slot_t) % 64, 0);

    uint32_t t1 = calls_tag(CALLS_KIND_ESL, 1), t2 = calls_tag(CALLS_KIND_ESL, 2);
    stats_slot_t *a = stats_claim(st, t1), *b = stats_claim(st, t2);
    TEST_CHECK(a != NULL && b != NULL && a != b);
    TEST_CHECK(stats_claim(st, t1) == a);          /* a restart finds it */
    TEST_CHECK(stats_claim(st, 0) == NULL);
    STATS_INC(a, calls_authorized);
    STATS_ADD(a, events, 5);
    STATS_SET(a, connected, 1);
    stats_slot_t out;
    TEST_EQ_I64(stats_read(st, (uint32_t)(a - st->slots), &out), 1);
    TEST_EQ_I64(out.tag, t1);
    TEST_EQ_I64(out.calls_authorized, 1);
    TEST_EQ_I64(out.events, 5);
    TEST_EQ_I64(out.connected, 1);
    TEST_EQ_I64(stats_read(st, 7, &out), 0);        /* free */
    TEST_EQ_I64(stats_read(st, 8, &out), 0);        /* out of range */

    /* Processes, each with its own tag, counting at once. */
    pid_t pids[NPROC];
    for (int i = 0; i < NPROC; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            stats_slot_t *s = stats_claim(st, calls_tag(CALLS_KIND_ESL,
                                                        10 + (unsigned)i));
            if (s == NULL)
                _exit(1);
            for (int k = 0; k < ADDS; k++)
                STATS_INC(s, events);
            _exit(0);
        }
    }
    for (int i = 0; i < NPROC; i++) {
        int ws;
        waitpid(pids[i], &ws, 0);
        TEST_CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    uint64_t total = 0;
    int claimed = 0;
    for (uint32_t i = 0; i < st->nslots; i++)
        if (stats_read(st, i, &out)) {
            claimed++;
            if (out.tag >= calls_tag(CALLS_KIND_ESL, 10))
                total += out.events;
        }
    TEST_EQ_I64(claimed, 2 + NPROC);
    TEST_EQ_I64(total, (uint64_t)NPROC * ADDS);
    /* Fill the rest: 8 slots in all, then NULL. */
    TEST_CHECK(stats_claim(st, calls_tag(CALLS_KIND_ESL, 100)) != NULL);
    TEST_CHECK(stats_claim(st, calls_tag(CALLS_KIND_ESL, 101)) != NULL);
    TEST_CHECK(stats_claim(st, calls_tag(CALLS_KIND_ESL, 102)) == NULL);
    TEST_CHECK(stats_claim(st, t2) == b);
    region_destroy(&r);
    return TEST_REPORT();
}
