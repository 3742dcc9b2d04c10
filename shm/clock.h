/*
 * clock.h -- the two clocks every process reads: monotonic (timers,
 * timeouts, deadlines: never steps) and wall (what is stored: CDR and
 * journal times, UTC). One definition instead of a copy per module.
 * Both are vDSO reads on Linux: no system call.
 */
#ifndef APOLO_CLOCK_H
#define APOLO_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static inline int64_t clock_mono_ms(void)
{
    return clock_mono_us() / 1000;
}

static inline int64_t clock_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
