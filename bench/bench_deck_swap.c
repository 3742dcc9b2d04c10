/*
 * bench_deck_swap.c -- rating latency while the supervisor swaps decks.
 *
 * The parent plays the supervisor: it builds a 1M-prefix deck (lpm_gen.h),
 * copies it into the region heap (pub_deck), publishes a catalog naming it
 * (pub_catalog), retires the old deck (pub_retire) and polls pub_reclaim
 * from its loop, as engine/load.c and the supervisor do. Each version
 * changes every rate: per_minute = version * 2,000,000 + rate_id.
 *
 * NREADERS forked reader processes play the workers: together they rate
 * RATE_TOTAL calls a second, paced (each reader sleeps offline in QSBR
 * until its next slot, then comes online; a slot missed by more than a
 * period is skipped, not made up in a burst), each rating one call with
 * cat_current + rating_authorize on a number that hits the deck, timed by
 * clock_gettime around those two calls only, then a quiescent point.
 * Around each timed call the reader takes getrusage(RUSAGE_THREAD), so a
 * slow rating is classified: blocked (a voluntary context switch during
 * it: the reader slept, i.e. waited for something, in a page fault or
 * elsewhere), preempted (an involuntary switch only: scheduling noise),
 * faulted (a page fault and no switch: the first touch of a page of a new
 * deck), or neither (cache and TLB misses, interrupts, the hypervisor).
 * Nothing on the reader's own path waits for the writer: "blocked" counts
 * what the kernel might add.
 *
 * Every rating is checked, outside the timed part but before the reader's
 * quiescent point: catalog and deck magic, the deck version equal to the
 * plan's and to the quote's and never going backwards nor past the one
 * published, the quote's rate and prefix against the generator's deck, the
 * price rule of that version, and a second deck_lookup whose entry must
 * pass deck_entry_verify (the check word mixes the version in). Reclaimed
 * blocks are poisoned (PUB_POISON), so a read of a freed deck fails these
 * checks or crashes the reader (a wild offset); either fails the run.
 *
 * Phases, the same readers at the same pace throughout:
 *   idle    baseline: the writer sleeps
 *   spin    baseline: the writer spins on arithmetic (a CPU, no memory)
 *   build   baseline: the writer does all of a swap's work (build, copy
 *           into the heap, retire, reclaim with its poisoning) except the
 *           root store: readers never see these decks
 *   swap    MAX_SWAPS new versions built, copied, published (at least
 *           a second apart); old ones reclaimed after their grace period
 *
 * Output: "BENCH <name> <value> <unit>" on stdout; per-phase and
 * per-version details and the slowest ratings on stderr. Exit 1 when a
 * reader saw a bad deck or crashed, or an old version was not reclaimed;
 * 2 when the set-up failed.
 * BENCH_QUICK=1: a 100k-prefix deck, 3 swaps, 2 s baselines.
 * BENCH_DECK_SWAP_TRACE=file: one line per rating over 10 us.
 */
#include "bench/lpm_gen.h"
#include "shm/catalog.h"
#include "shm/publish.h"
#include "shm/qsbr.h"
#include "shm/rating.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <urcu/uatomic.h>

#define NREADERS     2
#define RATE_TOTAL   5000                         /* ratings/s, all readers */
#define PERIOD_NS    ((int64_t)NREADERS * 1000000000 / RATE_TOTAL)
#define BIN_NS       10                           /* histogram resolution */
#define NBINS        20000                        /* 200 us, then overflow */
#define NSLOW        12                           /* slowest kept per phase */
#define SLOW_NS      10000                        /* the goal: 10 us */
#define MAX_SWAPS    10
#define NVER         (MAX_SWAPS + 2)              /* versions 1..11 */
#define NTRACE       32768
#define START        1700000000                   /* calls' start, UTC */
#define AVAILABLE    ((money_t)100 * 1000000)     /* 100.00 to authorize */
#define SEC          ((int64_t)1000000000)

enum { PH_WARM, PH_IDLE, PH_SPIN, PH_BUILD, PH_SWAP, PH_DRAIN, NPH };
static const char *const ph_name[NPH] = {
    "warm", "idle", "spin", "build", "swap", "drain" };

/* What the writer is doing; each rating records it. */
enum { ST_IDLE, ST_SPIN, ST_BUILD, ST_COPY, ST_PUBLISH, ST_RECLAIM, NST };
static const char *const st_name[NST] = {
    "idle", "spin", "build", "copy", "publish", "reclaim" };

typedef struct slow {
    uint32_t lat_ns, t_ms;        /* latency; when, from the phase start */
    uint32_t version;
    uint8_t  step, flt, first;
    uint8_t  vcsw, icsw;          /* voluntary (blocked), involuntary */
} slow_t;

typedef struct pstats {
    uint64_t n, sum_ns, max_ns;
    uint64_t max_nocsw_ns;        /* ratings with no context switch */
    uint64_t over, over_blocked, over_preempted, over_flt, over_other;
    uint64_t blocked_ratings, preempted_ratings, flt_ratings, faults;
    uint64_t first_n, first_max_ns, first_flt;   /* first on a new version */
    uint64_t skipped, lag_max_ns, lag_over_100us;
    slow_t   slow[NSLOW];
    uint32_t hist[NBINS + 1];
} pstats_t;

typedef struct vstats {           /* swap phase, per deck version read */
    uint64_t n, sum_ns, max_ns, over, flt_ratings;
} vstats_t;

typedef struct trace {
    int64_t  t_ns;                /* start, CLOCK_MONOTONIC */
    uint32_t lat_ns, version;
    uint8_t  phase, step, flt, vcsw, icsw;
} trace_t;

typedef struct shared {
    int      phase, stop, step;
    uint64_t published;           /* highest deck version ever stored */
    int64_t  phase_t0[NPH];
    int      ready[NREADERS];
    int64_t  clock_ns[NREADERS];  /* cost of a clock_gettime pair */
    uint64_t bad[NREADERS], versions_seen[NREADERS];
    char     bad_what[NREADERS][128];
    pstats_t st[NREADERS][NPH];
    vstats_t vs[NREADERS][NVER];
    uint32_t ntrace[NREADERS];
    trace_t  trace[NREADERS][NTRACE];
} shared_t;

static region_t  region;
static shared_t *sh;
static char    (*deck)[LPM_GEN_MAXLEN];
static size_t    ndeck;
static char    (*nums)[LPM_GEN_MAXLEN];
static uint8_t  *lens;
static size_t    nnum;
static volatile uint64_t sink;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * SEC + ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
    struct timespec ts = { (time_t)(ns / SEC), (long)(ns % SEC) };
    nanosleep(&ts, NULL);
}

static money_t price_of(uint64_t version, int64_t rate_id)
{
    return (money_t)version * 2000000 + rate_id;
}

/* ---- readers ------------------------------------------------------------ */

static void record(pstats_t *s, const slow_t *what)
{
    uint64_t lat = what->lat_ns;
    s->n++;
    s->sum_ns += lat;
    s->hist[lat / BIN_NS < NBINS ? lat / BIN_NS : NBINS]++;
    if (lat > s->max_ns)
        s->max_ns = lat;
    if (!what->vcsw && !what->icsw && lat > s->max_nocsw_ns)
        s->max_nocsw_ns = lat;
    s->blocked_ratings += what->vcsw != 0;
    s->preempted_ratings += what->vcsw == 0 && what->icsw != 0;
    s->flt_ratings += what->flt != 0;
    s->faults += what->flt;
    if (what->first) {
        s->first_n++;
        s->first_flt += what->flt != 0;
        if (lat > s->first_max_ns)
            s->first_max_ns = lat;
    }
    if (lat > SLOW_NS) {
        s->over++;
        if (what->vcsw)
            s->over_blocked++;
        else if (what->icsw)
            s->over_preempted++;
        else if (what->flt)
            s->over_flt++;
        else
            s->over_other++;
    }
    int lo = 0;
    for (int i = 1; i < NSLOW; i++)
        if (s->slow[i].lat_ns < s->slow[lo].lat_ns)
            lo = i;
    if (lat > s->slow[lo].lat_ns)
        s->slow[lo] = *what;
}

static void bad_read(int me, const char *what, const char *num)
{
    if (sh->bad[me]++ == 0)
        snprintf(sh->bad_what[me], sizeof sh->bad_what[me], "%s (%s)",
                 what, num);
}

/* The checks of one rating, inside the same critical section. */
static void verify(int me, const cat_hdr_t *c, int rc, const rating_quote_t *q,
                   const char *num, uint64_t *last)
{
    const char *why = NULL;
    const cat_plan_t *p = NULL;
    const deck_hdr_t *d = NULL;
    deck_match_t m;

    if (rc != RATING_OK)
        why = rating_strerror(rc);
    else if (c == NULL || c->magic != CAT_MAGIC)
        why = "catalog magic";
    else if ((p = cat_plan(c, 1)) == NULL || (d = cat_deck(&region, p)) == NULL)
        why = "plan or deck missing";
    else if (d->magic != DECK_MAGIC || d->version != p->deck_version
             || d->version != q->deck_version)
        why = "deck magic or version";
    else if (q->deck_version < *last
             || q->deck_version > uatomic_read(&sh->published))
        why = "deck version out of order";
    else if (q->rate_id < 1 || (uint64_t)q->rate_id > ndeck
             || strcmp(deck[q->rate_id - 1], q->prefix) != 0
             || q->tariff.per_minute != price_of(q->deck_version, q->rate_id))
        why = "quote: rate, prefix or price";
    else if (deck_lookup(d, q->number, strlen(q->number), START, &m)
                 != DECK_OK || m.rows[0]->rate_id != q->rate_id
             || !deck_entry_verify(d, m.rows[0]))
        why = "entry check word";
    if (why != NULL)
        bad_read(me, why, num);
    else
        *last = q->deck_version;
}

/* Reads one byte of every page of the current deck: a worker that has run
 * for a while has them mapped; the baselines start from there. */
static void prefault(void)
{
    const cat_hdr_t *c = cat_current(&region);
    const deck_hdr_t *d = cat_deck(&region, cat_plan(c, 1));
    uint64_t s = 0;
    for (uint64_t o = 0; o < d->size; o += 4096)
        s += ((const volatile uint8_t *)d)[o];
    for (uint64_t o = 0; o < c->size; o += 4096)
        s += ((const volatile uint8_t *)c)[o];
    sink = s;
}

static int64_t clock_cost(void)
{
    int64_t best = INT64_MAX;
    for (int i = 0; i < 10000; i++) {
        int64_t a = now_ns(), b = now_ns();
        if (b - a < best)
            best = b - a;
    }
    return best;
}

/* Sleeps offline until the next slot; returns the time it woke up. */
static int64_t pace(qsbr_reader_t *qr, pstats_t *s, int64_t *next)
{
    int64_t t = now_ns();
    if (t < *next) {
        struct timespec ts = { (time_t)(*next / SEC), (long)(*next % SEC) };
        qsbr_offline(qr);
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
        qsbr_online(qr);
        t = now_ns();
    }
    int64_t lag = t - *next;
    if (lag > 0) {
        if ((uint64_t)lag > s->lag_max_ns)
            s->lag_max_ns = (uint64_t)lag;
        s->lag_over_100us += lag > 100000;
    }
    if (lag >= PERIOD_NS) {                   /* missed slots: skip them */
        s->skipped += (uint64_t)(lag / PERIOD_NS);
        *next += lag / PERIOD_NS * PERIOD_NS;
    }
    *next += PERIOD_NS;
    return t;
}

static void reader(int me)
{
    qsbr_reader_t qr;
    lpm_rng_t rng = { 0x2545F4914F6CDD1DULL + (uint64_t)me * 7919 };
    uint64_t last = 0, seen = 0;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1)
        _exit(4);
    prctl(PR_SET_TIMERSLACK, 1000UL);        /* wake within ~1 us */
    if (qsbr_register(region_area(&region, REGION_AREA_QSBR), &qr) != QSBR_OK)
        _exit(3);
    memset(sh->st[me], 0, sizeof sh->st[me]);   /* map our pages now */
    memset(sh->vs[me], 0, sizeof sh->vs[me]);
    memset(sh->trace[me], 0, sizeof sh->trace[me]);
    sh->clock_ns[me] = clock_cost();
    qsbr_online(&qr);
    prefault();
    uatomic_set(&sh->ready[me], 1);

    int64_t next = now_ns() + PERIOD_NS / NREADERS * me;
    while (!uatomic_read(&sh->stop)) {
        int ph = uatomic_read(&sh->phase);
        pstats_t *s = &sh->st[me][ph];
        pace(&qr, s, &next);

        size_t i = lpm_rng_below(&rng, (uint32_t)nnum);
        slow_t what = { .step = (uint8_t)uatomic_read(&sh->step) };
        struct rusage r0, r1;
        rating_quote_t q;
        uint32_t max_sec = 0;
        q.cost = 0;

        getrusage(RUSAGE_THREAD, &r0);
        int64_t t0 = now_ns();
        const cat_hdr_t *c = cat_current(&region);
        int rc = rating_authorize(&region, c, 1, nums[i], lens[i], START,
                                  AVAILABLE, 3600, &max_sec, &q);
        int64_t t1 = now_ns();
        getrusage(RUSAGE_THREAD, &r1);

        uint64_t before = last;
        verify(me, c, rc, &q, nums[i], &last);
        seen += last != before;
        long flt = (r1.ru_minflt - r0.ru_minflt) + (r1.ru_majflt - r0.ru_majflt);
        long vcsw = r1.ru_nvcsw - r0.ru_nvcsw;
        long icsw = r1.ru_nivcsw - r0.ru_nivcsw;
        what.lat_ns = t1 - t0 > UINT32_MAX ? UINT32_MAX : (uint32_t)(t1 - t0);
        what.t_ms = (uint32_t)((t0 - sh->phase_t0[ph]) / 1000000);
        what.version = (uint32_t)last;
        what.flt = (uint8_t)(flt > 255 ? 255 : flt);
        what.vcsw = (uint8_t)(vcsw > 255 ? 255 : vcsw);
        what.icsw = (uint8_t)(icsw > 255 ? 255 : icsw);
        what.first = before != 0 && last != before;
        record(s, &what);
        if (ph == PH_SWAP && last < NVER) {
            vstats_t *v = &sh->vs[me][last];
            v->n++;
            v->sum_ns += what.lat_ns;
            v->max_ns = what.lat_ns > v->max_ns ? what.lat_ns : v->max_ns;
            v->over += what.lat_ns > SLOW_NS;
            v->flt_ratings += flt != 0;
        }
        if (what.lat_ns > SLOW_NS && sh->ntrace[me] < NTRACE)
            sh->trace[me][sh->ntrace[me]++] = (trace_t){
                .t_ns = t0, .lat_ns = what.lat_ns, .version = what.version,
                .phase = (uint8_t)ph, .step = what.step, .flt = what.flt,
                .vcsw = what.vcsw, .icsw = what.icsw };
        sink += (uint64_t)q.cost + max_sec;
        qsbr_quiescent(&qr);
    }
    sh->versions_seen[me] = seen;
    qsbr_unregister(&qr);
    _exit(0);
}

/* ---- the writer --------------------------------------------------------- */

typedef struct writer {
    pub_t   *pub;
    uint64_t deck_off;            /* the published deck */
    uint64_t retired;             /* blocks ever pushed on the FIFO */
    size_t   pending;
    double   build_s[2 * MAX_SWAPS + 1], copy_s[2 * MAX_SWAPS + 1];
    int      nbuild;
    double   catalog_ms_max;      /* cat_builder_new + plan (tz table) */
    double   publish_us_max;      /* pub_catalog + retiring the old deck */
    double   reclaim_ms_max;      /* one pub_reclaim call that freed */
    double   grace_ms_max;        /* from the swap to the old deck freed */
    int64_t  pub_at[NVER];        /* root store of version v */
    uint64_t ver_off[NVER];       /* its heap block */
} writer_t;

static void set_step(int st)
{
    uatomic_set(&sh->step, st);
}

static void set_phase(int ph)
{
    sh->phase_t0[ph] = now_ns();
    uatomic_set(&sh->phase, ph);
}

/* Rows, finish, copy into the heap; *off the new block. */
static int build(writer_t *w, uint64_t version, uint64_t *off)
{
    int64_t t0 = now_ns();
    set_step(ST_BUILD);
    deck_builder_t *b = deck_builder_new(1, version);
    if (b == NULL || deck_builder_zone(b, 1, "World", 0) != DECK_OK)
        return -1;
    for (size_t i = 0; i < ndeck; i++) {
        deck_row_t row = {
            .prefix = deck[i], .rate_id = (int64_t)i + 1, .zone_id = 1,
            .tariff = { .per_minute = price_of(version, (int64_t)i + 1),
                        .connect_fee = (money_t)(i % 3) * 100,
                        .first_inc = 30, .next_inc = 6 },
            .eff_from = 0, .eff_to = DECK_EFF_OPEN };
        if (deck_builder_row(b, &row) != DECK_OK)
            return -1;
    }
    if (deck_builder_finish(b) != DECK_OK)
        return -1;
    int64_t t1 = now_ns();
    set_step(ST_COPY);
    int rc = pub_deck(w->pub, b, off);
    int64_t t2 = now_ns();
    set_step(ST_IDLE);
    deck_builder_free(b);
    if (rc != PUB_OK)
        return -1;
    if (w->nbuild < 2 * MAX_SWAPS + 1) {
        w->build_s[w->nbuild] = (double)(t2 - t0) / 1e9;
        w->copy_s[w->nbuild++] = (double)(t2 - t1) / 1e9;
    }
    return 0;
}

static void retire(writer_t *w, uint64_t off)
{
    pub_retire(w->pub, off);
    w->retired++;
    w->pending++;
}

/* The catalog naming deck `off` of `version`, made current; the old deck
 * retired (pub_catalog retires the old catalog). */
static int publish(writer_t *w, uint64_t version, uint64_t off)
{
    int64_t t0 = now_ns();
    set_step(ST_PUBLISH);
    int had = cat_current(&region) != NULL;
    cat_builder_t *cb = cat_builder_new(version);
    cat_plan_in_t plan = { .id = 1, .name = "bench", .currency = "USD",
                           .time_zone = "UTC", .number_rules = "00=>",
                           .rounding = MONEY_ROUND_UP, .deck_off = off,
                           .deck_version = version };
    if (cb == NULL || cat_builder_plan(cb, &plan) != CAT_OK)
        return -1;
    int64_t t1 = now_ns();
    uatomic_set(&sh->published, version);     /* before the root store */
    if (pub_catalog(w->pub, cb) != PUB_OK)
        return -1;
    int64_t stored = now_ns();
    if (had) {
        w->retired++;
        w->pending++;
    }
    if (w->deck_off != 0)
        retire(w, w->deck_off);
    w->deck_off = off;
    int64_t t2 = now_ns();
    set_step(ST_IDLE);
    cat_builder_free(cb);
    double cat_ms = (double)(t1 - t0) / 1e6, pub_us = (double)(t2 - t1) / 1e3;
    w->catalog_ms_max = cat_ms > w->catalog_ms_max ? cat_ms : w->catalog_ms_max;
    w->publish_us_max = pub_us > w->publish_us_max ? pub_us : w->publish_us_max;
    if (version < NVER) {
        w->pub_at[version] = stored;
        w->ver_off[version] = off;
    }
    return 0;
}

/* The supervisor's loop between jobs: pub_reclaim every millisecond until
 * nothing waits and `until` has passed, or `deadline`. Returns pending. */
static size_t reclaim_loop(writer_t *w, int64_t since, int64_t until,
                           int64_t deadline)
{
    for (;;) {
        int64_t t0 = now_ns();
        set_step(ST_RECLAIM);
        size_t left = pub_reclaim(w->pub, NULL);
        set_step(ST_IDLE);
        int64_t t1 = now_ns();
        if (left < w->pending) {
            double ms = (double)(t1 - t0) / 1e6;
            double grace = (double)(t1 - since) / 1e6;
            w->reclaim_ms_max = ms > w->reclaim_ms_max ? ms : w->reclaim_ms_max;
            w->grace_ms_max = grace > w->grace_ms_max ? grace : w->grace_ms_max;
        }
        w->pending = left;
        if ((left == 0 && t1 >= until) || t1 >= deadline)
            return left;
        sleep_ns(1000000);
    }
}

static void spin_until(int64_t end)
{
    uint64_t x = 88172645463325252ULL;
    set_step(ST_SPIN);
    while (now_ns() < end)
        for (int i = 0; i < 100000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
        }
    set_step(ST_IDLE);
    sink = x;
}

/* ---- figures ------------------------------------------------------------ */

static void merge(int ph, pstats_t *m)
{
    memset(m, 0, sizeof *m);
    for (int r = 0; r < NREADERS; r++) {
        const pstats_t *s = &sh->st[r][ph];
#define MAXOF(f) m->f = s->f > m->f ? s->f : m->f
        m->n += s->n;
        m->sum_ns += s->sum_ns;
        MAXOF(max_ns);
        MAXOF(max_nocsw_ns);
        m->over += s->over;
        m->over_blocked += s->over_blocked;
        m->over_preempted += s->over_preempted;
        m->over_flt += s->over_flt;
        m->over_other += s->over_other;
        m->blocked_ratings += s->blocked_ratings;
        m->preempted_ratings += s->preempted_ratings;
        m->flt_ratings += s->flt_ratings;
        m->faults += s->faults;
        m->first_n += s->first_n;
        m->first_flt += s->first_flt;
        MAXOF(first_max_ns);
        m->skipped += s->skipped;
        MAXOF(lag_max_ns);
        m->lag_over_100us += s->lag_over_100us;
#undef MAXOF
        for (int b = 0; b <= NBINS; b++)
            m->hist[b] += s->hist[b];
    }
}

/* Upper edge of the bin holding quantile q, in us (the max past 200 us). */
static double quantile_us(const pstats_t *m, double q)
{
    uint64_t want = (uint64_t)(q * (double)m->n + 0.999999), acc = 0;
    for (int b = 0; b < NBINS && want > 0; b++) {
        acc += m->hist[b];
        if (acc >= want)
            return (double)(b + 1) * BIN_NS / 1e3;
    }
    return (double)m->max_ns / 1e3;
}

static void print_slowest(int ph)
{
    slow_t all[NREADERS * NSLOW];
    int n = 0;
    for (int r = 0; r < NREADERS; r++)
        for (int k = 0; k < NSLOW; k++)
            if (sh->st[r][ph].slow[k].lat_ns > 0)
                all[n++] = sh->st[r][ph].slow[k];
    for (int a = 0; a < n; a++)              /* slowest first */
        for (int b = a + 1; b < n; b++)
            if (all[b].lat_ns > all[a].lat_ns) {
                slow_t t = all[a];
                all[a] = all[b];
                all[b] = t;
            }
    fprintf(stderr, "      slowest (us@ms into the phase, writer step):");
    for (int a = 0; a < n && a < 8; a++)
        fprintf(stderr, " %.1f@%u(%s%s%s%s,v%u)", all[a].lat_ns / 1e3,
                all[a].t_ms, st_name[all[a].step],
                all[a].vcsw ? ",blocked" : all[a].icsw ? ",preempted" : "",
                all[a].flt ? ",fault" : "", all[a].first ? ",first" : "",
                all[a].version);
    fprintf(stderr, "\n");
}

static void report_phase(int ph, const char *prefix, int64_t dur_ns)
{
    pstats_t *m = malloc(sizeof *m);
    if (m == NULL)
        exit(2);
    merge(ph, m);
    printf("BENCH %s_max_rating_latency_us %.2f us\n", prefix,
           (double)m->max_ns / 1e3);
    printf("BENCH %s_p99_rating_latency_us %.2f us\n", prefix,
           quantile_us(m, 0.99));
    printf("BENCH %s_over_10us_ratings %llu ratings\n", prefix,
           (unsigned long long)m->over);
    if (ph == PH_SWAP) {
        printf("BENCH %s_over_10us_unswitched_ratings %llu ratings\n", prefix,
               (unsigned long long)(m->over - m->over_blocked
                                    - m->over_preempted));
        printf("BENCH %s_max_unswitched_rating_latency_us %.2f us\n", prefix,
               (double)m->max_nocsw_ns / 1e3);
        printf("BENCH %s_blocked_ratings %llu ratings\n", prefix,
               (unsigned long long)m->blocked_ratings);
        printf("BENCH %s_ratings_per_sec %.0f ratings/s\n", prefix,
               (double)m->n * 1e9 / (double)dur_ns);
    }
    fflush(stdout);
    fprintf(stderr, "phase %-5s %5.1f s, %6llu ratings (%.0f/s, %llu slots "
            "skipped): mean %.2f p50 %.2f p99 %.2f p99.9 %.2f max %.2f us, "
            "max without a switch %.2f us\n", ph_name[ph],
            (double)dur_ns / 1e9, (unsigned long long)m->n,
            (double)m->n * 1e9 / (double)dur_ns,
            (unsigned long long)m->skipped,
            m->n ? (double)m->sum_ns / (double)m->n / 1e3 : 0.0,
            quantile_us(m, 0.5), quantile_us(m, 0.99), quantile_us(m, 0.999),
            (double)m->max_ns / 1e3, (double)m->max_nocsw_ns / 1e3);
    fprintf(stderr, "      > 10 us: %llu (%.0f per 100k; blocked %llu, "
            "preempted %llu, faulted %llu, neither %llu); ratings that "
            "blocked %llu, preempted %llu, with a fault %llu (%llu faults); "
            "first ratings on a new version %llu (max %.2f us, %llu "
            "faulted); wake-up lag max %.0f us, > 100 us %llu times\n",
            (unsigned long long)m->over,
            m->n ? (double)m->over * 1e5 / (double)m->n : 0.0,
            (unsigned long long)m->over_blocked,
            (unsigned long long)m->over_preempted,
            (unsigned long long)m->over_flt,
            (unsigned long long)m->over_other,
            (unsigned long long)m->blocked_ratings,
            (unsigned long long)m->preempted_ratings,
            (unsigned long long)m->flt_ratings,
            (unsigned long long)m->faults, (unsigned long long)m->first_n,
            (double)m->first_max_ns / 1e3, (unsigned long long)m->first_flt,
            (double)m->lag_max_ns / 1e3,
            (unsigned long long)m->lag_over_100us);
    print_slowest(ph);
    free(m);
}

/* Swap phase, per version read: where its block was and how it rated. */
static void report_versions(const writer_t *w, uint64_t last)
{
    for (uint64_t v = 1; v <= last && v < NVER; v++) {
        vstats_t t = { 0 };
        for (int r = 0; r < NREADERS; r++) {
            const vstats_t *s = &sh->vs[r][v];
            t.n += s->n;
            t.sum_ns += s->sum_ns;
            t.max_ns = s->max_ns > t.max_ns ? s->max_ns : t.max_ns;
            t.over += s->over;
            t.flt_ratings += s->flt_ratings;
        }
        fprintf(stderr, "      v%-2llu heap +%6.1f MB: %6llu ratings, mean "
                "%5.2f us, > 10 us %5.1f%%, max %8.2f us, %llu with a "
                "fault\n", (unsigned long long)v,
                (double)w->ver_off[v] / 1048576.0,
                (unsigned long long)t.n,
                t.n ? (double)t.sum_ns / (double)t.n / 1e3 : 0.0,
                t.n ? (double)t.over * 100.0 / (double)t.n : 0.0,
                (double)t.max_ns / 1e3, (unsigned long long)t.flt_ratings);
    }
}

/* One line per rating over 10 us: reader, phase, ms from the phase start,
 * ms from the root store of the version it read, us, version, writer step,
 * faults, voluntary and involuntary context switches. */
static void dump_trace(const writer_t *w, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return;
    fprintf(f, "reader phase t_ms since_pub_ms lat_us version step flt "
            "vcsw icsw\n");
    for (int r = 0; r < NREADERS; r++)
        for (uint32_t i = 0; i < sh->ntrace[r]; i++) {
            const trace_t *e = &sh->trace[r][i];
            int64_t pub = e->version < NVER ? w->pub_at[e->version] : 0;
            fprintf(f, "%d %s %.3f %.3f %.2f %u %s %u %u %u\n", r,
                    ph_name[e->phase],
                    (double)(e->t_ns - sh->phase_t0[e->phase]) / 1e6,
                    pub ? (double)(e->t_ns - pub) / 1e6 : -1.0,
                    e->lat_ns / 1e3, e->version, st_name[e->step], e->flt,
                    e->vcsw, e->icsw);
        }
    fclose(f);
}

static int dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    if (n == 0)
        return 0;
    qsort(v, (size_t)n, sizeof *v, dbl_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(void)
{
    int quick = getenv("BENCH_QUICK") != NULL;
    int nswaps = quick ? 3 : MAX_SWAPS;
    int64_t base_ns = (quick ? 2 : 10) * SEC;
    int64_t min_gap = SEC;                    /* between two publications */
    const char *size = quick ? "100k" : "1m";
    int status = 0;
    writer_t w = { 0 };
    pid_t pids[NREADERS];
    int64_t t_start = now_ns(), dur[NPH] = { 0 };

    ndeck = quick ? 100000 : 1000000;
    nnum = quick ? (size_t)1 << 18 : (size_t)1 << 20;
    region_config_t cfg = { .max_readers = 8, .max_accounts = 16,
                            .heap_bytes = (uint64_t)(quick ? 256 : 1024) << 20 };
    if (region_create(&region, &cfg) != REGION_OK
        || (w.pub = pub_new(&region, PUB_POISON)) == NULL)
        return 2;
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    deck = malloc(ndeck * LPM_GEN_MAXLEN);
    nums = malloc(nnum * LPM_GEN_MAXLEN);
    lens = malloc(nnum);
    if (sh == MAP_FAILED || !deck || !nums || !lens
        || lpm_gen_deck(deck, ndeck) != 0)
        return 2;
    lpm_gen_hits(nums, nnum, deck, ndeck, 42);
    for (size_t i = 0; i < nnum; i++)
        lens[i] = (uint8_t)strlen(nums[i]);

    /* Version 1, before the workers exist (the supervisor's first load). */
    uint64_t off, version = 1;
    if (build(&w, version, &off) != 0 || publish(&w, version, off) != 0) {
        fprintf(stderr, "bench_deck_swap: cannot build or publish v1\n");
        return 2;
    }
    double first_build = w.build_s[0];
    w.nbuild = 0;

    for (int r = 0; r < NREADERS; r++) {
        pids[r] = fork();
        if (pids[r] == 0)
            reader(r);
        if (pids[r] < 0)
            return 2;
    }
    int64_t deadline = now_ns() + 30 * SEC;
    for (int r = 0; r < NREADERS; r++)
        while (!uatomic_read(&sh->ready[r]) && now_ns() < deadline)
            sleep_ns(1000000);

    /* Readers settle on version 1: the first seconds of reading a block
     * are slower here (see the fragment), and the baseline is the steady
     * state. */
    set_phase(PH_WARM);
    sleep_ns(quick ? SEC : 5 * SEC);

    int64_t t = now_ns();
    set_phase(PH_IDLE);
    sleep_ns(base_ns);
    dur[PH_IDLE] = now_ns() - t;

    t = now_ns();
    set_phase(PH_SPIN);
    spin_until(t + base_ns);
    dur[PH_SPIN] = now_ns() - t;

    /* The swap's work without the swap: decks nobody ever sees. */
    t = now_ns();
    set_phase(PH_BUILD);
    for (int i = 0; i < nswaps && status == 0; i++) {
        int64_t t0 = now_ns();
        if (build(&w, 1000 + (uint64_t)i, &off) != 0) {
            status = 2;
            break;
        }
        retire(&w, off);
        reclaim_loop(&w, now_ns(), t0 + min_gap, now_ns() + 5 * SEC);
    }
    dur[PH_BUILD] = now_ns() - t;
    int nbuild_base = w.nbuild;

    t = now_ns();
    set_phase(PH_SWAP);
    uint64_t retired_before = w.retired;
    for (int i = 0; i < nswaps && status == 0; i++) {
        int64_t t0 = now_ns();
        version++;
        if (build(&w, version, &off) != 0 || publish(&w, version, off) != 0) {
            fprintf(stderr, "bench_deck_swap: swap to v%llu failed\n",
                    (unsigned long long)version);
            status = 2;
            break;
        }
        reclaim_loop(&w, w.pub_at[version], t0 + min_gap, now_ns() + 5 * SEC);
    }
    dur[PH_SWAP] = now_ns() - t;

    /* Readers still running: every old version must go. */
    set_phase(PH_DRAIN);
    size_t left = reclaim_loop(&w, now_ns(), 0, now_ns() + 10 * SEC);
    uint64_t swap_retired = w.retired - retired_before;
    /* The FIFO frees in order: what still waits was retired last. */
    uint64_t swap_freed = swap_retired - (left < swap_retired ? left
                                                             : swap_retired);

    uatomic_set(&sh->stop, 1);
    int crashed = 0;
    for (int r = 0; r < NREADERS; r++) {
        int st = 0;
        if (waitpid(pids[r], &st, 0) != pids[r] || !WIFEXITED(st)
            || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench_deck_swap: reader %d ended badly "
                    "(status 0x%x)\n", r, st);
            crashed++;
        }
        qsbr_forget_pid(region_area(&region, REGION_AREA_QSBR), pids[r]);
    }
    size_t after = pub_reclaim(w.pub, NULL);
    const cat_hdr_t *c = cat_current(&region);
    const deck_hdr_t *d = cat_deck(&region, cat_plan(c, 1));
    uint64_t expect = region_align(c->size) + region_align(d->size);

    double *builds = w.build_s + nbuild_base, *copies = w.copy_s + nbuild_base;
    int nb = w.nbuild - nbuild_base;
    double build_med = median(builds, nb), copy_med = median(copies, nb);
    printf("BENCH deck_build_%s_sec %.2f s\n", size, build_med);
    printf("BENCH deck_copy_%s_sec %.3f s\n", size, copy_med);
    printf("BENCH deck_publish_us %.1f us\n", w.publish_us_max);
    fflush(stdout);
    fprintf(stderr, "deck %s, block %.1f MB: first build (no readers) %.2f s; "
            "during the swaps %.2f-%.2f s, median %.2f s, of which the copy "
            "into the heap %.3f s; catalog build (tz table) max %.1f ms; "
            "pub_catalog + retire max %.1f us; old deck freed %.1f ms after "
            "the swap at most; one reclaim call (poisoning a deck) max "
            "%.1f ms\n", size, (double)d->size / 1048576.0, first_build,
            nb ? builds[0] : 0.0, nb ? builds[nb - 1] : 0.0,
            build_med, copy_med, w.catalog_ms_max,
            w.publish_us_max, w.grace_ms_max, w.reclaim_ms_max);
    fprintf(stderr, "clock_gettime pair %lld ns; pace %d ratings/s in %d "
            "processes, one every %lld us each\n", (long long)sh->clock_ns[0],
            RATE_TOTAL, NREADERS, (long long)(PERIOD_NS / 1000));

    report_phase(PH_IDLE, "deck_swap_baseline", dur[PH_IDLE]);
    report_phase(PH_SPIN, "deck_swap_busy_baseline", dur[PH_SPIN]);
    report_phase(PH_BUILD, "deck_swap_build_baseline", dur[PH_BUILD]);
    report_phase(PH_SWAP, "deck_swap", dur[PH_SWAP]);
    report_versions(&w, version);

    uint64_t bad = 0;
    for (int r = 0; r < NREADERS; r++) {
        bad += sh->bad[r];
        fprintf(stderr, "reader %d: %llu bad reads%s%s; %llu versions "
                "seen\n", r, (unsigned long long)sh->bad[r],
                sh->bad[r] ? ", first: " : "", sh->bad_what[r],
                (unsigned long long)sh->versions_seen[r]);
    }
    /* Each swap retires an old catalog and an old deck, in that order. */
    printf("BENCH deck_swap_versions_reclaimed %llu versions\n",
           (unsigned long long)(swap_freed / 2));
    printf("BENCH deck_swap_bad_reads %llu ratings\n",
           (unsigned long long)(bad + (uint64_t)crashed));
    fflush(stdout);
    fprintf(stderr, "reclaim: %llu of %llu blocks retired by the swaps freed "
            "while the readers ran, %zu waiting after they stopped; heap "
            "%llu bytes used, the current version %llu\n",
            (unsigned long long)swap_freed, (unsigned long long)swap_retired,
            after, (unsigned long long)pub_heap_used(w.pub),
            (unsigned long long)expect);
    if (getenv("BENCH_DECK_SWAP_TRACE") != NULL)
        dump_trace(&w, getenv("BENCH_DECK_SWAP_TRACE"));
    fprintf(stderr, "run time %.1f s\n", (double)(now_ns() - t_start) / 1e9);

    if (bad > 0 || crashed > 0) {
        fprintf(stderr, "bench_deck_swap: FAIL: a reader saw a bad deck\n");
        status = 1;
    }
    if (swap_freed != swap_retired || left != 0 || after != 0
        || pub_heap_used(w.pub) != expect) {
        fprintf(stderr, "bench_deck_swap: FAIL: old versions not all "
                "reclaimed\n");
        status = 1;
    }
    for (int r = 0; r < NREADERS; r++)
        if (sh->versions_seen[r] < (uint64_t)nswaps + 1) {
            fprintf(stderr, "bench_deck_swap: FAIL: reader %d saw %llu of "
                    "%d versions\n", r,
                    (unsigned long long)sh->versions_seen[r], nswaps + 1);
            status = 1;
        }
    pub_delete(w.pub);
    region_destroy(&region);
    return status;
}
