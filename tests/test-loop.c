/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The worker's event loop (worker/loop.c): readable descriptors reach their
 * callback while they stay readable; a watcher stopped by another callback of
 * the same turn (or by a timer of that turn) is not called; a descriptor
 * closed before it was stopped, while another process keeps the file open,
 * neither reaches the stopped watcher nor spins the loop; timers fire once,
 * in time, never early; a timer restarted from its own callback and an idle
 * callback run once per turn and let descriptors in between; a due timer
 * that a descriptor's callback restarts in every turn still fires; idle
 * callbacks run only when nothing was ready; the loop blocks with no timeout
 * when no timer runs.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"
#include "unit-assert.h"

#define container_of(ptr, type, member) ((type *) ((char *) (ptr) - offsetof(type, member)))

typedef struct Ev {
        LoopIo io;
        int fd;
        unsigned calls;
        bool drain;                     /* read the counter (else it stays readable) */
        struct Ev *victim;              /* stopped (and its fd closed) by this one's callback */
        LoopTimer *rearm;               /* restarted at rearm_at by every call (a claim's answer re-arming its deadline) */
        uint64_t rearm_at;
        unsigned break_after;           /* loop_break() at this many calls (0: never) */
} Ev;

static void ev_cb(Loop *loop, LoopIo *io) {
        Ev *e = container_of(io, Ev, io);
        uint64_t n;

        e->calls++;
        if (e->drain)
                (void) !read(e->fd, &n, sizeof(n));
        if (e->victim) {
                loop_io_stop(loop, &e->victim->io);
                close(e->victim->fd);
                e->victim->fd = -1;
                e->victim = NULL;
        }
        if (e->rearm && e->rearm->active)
                loop_timer_start(loop, e->rearm, e->rearm_at);
        if (e->break_after && e->calls >= e->break_after)
                loop_break(loop);
}

static void ev_open(Ev *e, bool drain) {
        *e = (Ev) { .drain = drain };
        e->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        REQUIRE(e->fd >= 0);
        loop_io_init(&e->io, ev_cb, e->fd);
}

static void ev_kick(const Ev *e) {
        uint64_t one = 1;

        REQUIRE(write(e->fd, &one, sizeof(one)) == (ssize_t) sizeof(one));
}

typedef struct Tm {
        LoopTimer t;
        unsigned calls;
        uint64_t fired_ns;
        unsigned rearm;                 /* restart at once from the callback this many times */
        Ev *victim;                     /* stopped by the callback */
        Ev *stop_after;                 /* with rearm: loop_break() at the last restart, if this one was called */
} Tm;

static void tm_cb(Loop *loop, LoopTimer *t) {
        Tm *m = container_of(t, Tm, t);

        m->calls++;
        m->fired_ns = loop_monotonic_ns();
        if (m->victim)
                loop_io_stop(loop, &m->victim->io);
        if (m->rearm > 0) {
                m->rearm--;
                loop_timer_start(loop, t, 0);
        } else if (!m->stop_after)
                loop_break(loop);
        if (m->stop_after && m->stop_after->calls > 0 && m->rearm == 0)
                loop_break(loop);
}

typedef struct Idle {
        LoopIdle i;
        unsigned calls;
        unsigned stop_at;
        Ev *seen;                       /* its calls when the idle callback first ran */
        unsigned seen_calls;
        Ev *kick;                       /* kicked by the first call; its calls at the second */
        unsigned kick_calls;
} Idle;

static void idle_cb(Loop *loop, LoopIdle *i) {
        Idle *d = container_of(i, Idle, i);

        if (d->calls == 0 && d->seen)
                d->seen_calls = d->seen->calls;
        if (d->calls == 0 && d->kick)
                ev_kick(d->kick);
        if (d->calls == 1 && d->kick)
                d->kick_calls = d->kick->calls;
        d->calls++;
        if (d->calls >= d->stop_at) {
                loop_idle_stop(loop, i);
                loop_break(loop);
        }
}

int main(void) {
        Loop *loop;
        Ev a, b, c;
        Tm tm;
        Idle idle;
        uint64_t t0;

        ut_start(30);
        REQUIRE(loop_new(&loop) == 0);

        /* level-triggered: an undrained descriptor comes back every turn */
        ev_open(&a, false);
        a.break_after = 3;
        CHECK_INT(loop_io_start(loop, &a.io), 0);
        CHECK_INT(loop_io_start(loop, &a.io), 0);       /* started twice: one watch */
        ev_kick(&a);
        CHECK_INT(loop_run(loop), 0);
        CHECK_INT(a.calls, 3);

        /* a watcher stopped by another callback of the same turn is not called (epoll reports in order) */
        a.calls = 0;
        a.break_after = 0;
        a.drain = true;
        ev_open(&b, true);
        a.victim = &b;
        CHECK_INT(loop_io_start(loop, &b.io), 0);
        ev_kick(&a);
        ev_kick(&b);
        /* a timer ends the run */
        loop_timer_init(&tm.t, tm_cb);
        tm = (Tm) { .t = tm.t };
        loop_timer_start(loop, &tm.t, loop_monotonic_ns() + 20 * 1000000u);
        CHECK_INT(loop_run(loop), 0);
        CHECK_INT(tm.calls, 1);
        CHECK_INT(a.calls, 1);
        CHECK_INT(b.calls, 0);
        CHECK(a.victim == NULL);
        CHECK(!b.io.active);

        /* closed before stopped while another holder keeps it readable: no call, no spin */
        ev_open(&c, false);
        {
                int keep = dup(c.fd);

                REQUIRE(keep >= 0);
                CHECK_INT(loop_io_start(loop, &c.io), 0);
                ev_kick(&c);
                close(c.fd);
                loop_io_stop(loop, &c.io);
                c.fd = keep;
        }
        /* the loop now has only a: a turn for it, then a timer ends the run */
        tm = (Tm) { .t = tm.t };
        t0 = loop_monotonic_ns();
        loop_timer_start(loop, &tm.t, t0 + 20 * 1000000u);
        a.calls = 0;
        a.break_after = 0;
        ev_kick(&a);                    /* a turn before the timer is due: it must not fire then */
        CHECK_INT(loop_run(loop), 0);
        CHECK_INT(c.calls, 0);
        CHECK_INT(a.calls, 1);
        CHECK_INT(tm.calls, 1);
        /* never early, and not absurdly late */
        CHECK(tm.fired_ns >= t0 + 20 * 1000000u);
        CHECK(tm.fired_ns < t0 + 2000 * 1000000u);
        CHECK(!tm.t.active);
        close(c.fd);

        /* a timer restarted from its callback runs once per turn, and a descriptor gets its turns */
        tm = (Tm) { .t = tm.t, .rearm = 5, .stop_after = &a };
        a.calls = 0;
        a.drain = false;                /* readable, so called in every turn */
        ev_kick(&a);
        loop_timer_start(loop, &tm.t, 0);
        CHECK_INT(loop_run(loop), 0);
        CHECK_INT(tm.calls, 5);
        /* a in every turn but the last, which the fifth timer call ends before the descriptors */
        CHECK(a.calls + 1 >= tm.calls);
        loop_timer_stop(loop, &tm.t);
        a.drain = true;
        {
                uint64_t n;

                (void) !read(a.fd, &n, sizeof(n));
        }

        /* a due timer that a descriptor's callback restarts in every turn still fires, at its next turn */
        tm = (Tm) { .t = tm.t };
        a.calls = 0;
        a.drain = false;                /* readable, so called in every turn */
        ev_kick(&a);
        t0 = loop_monotonic_ns();
        a.rearm = &tm.t;
        a.rearm_at = t0 + 5 * 1000000u;
        loop_timer_start(loop, &tm.t, a.rearm_at);
        CHECK_INT(loop_run(loop), 0);
        CHECK_INT(tm.calls, 1);
        CHECK(tm.fired_ns >= t0 + 5 * 1000000u);
        CHECK(tm.fired_ns < t0 + 1000 * 1000000u);
        a.rearm = NULL;
        a.drain = true;
        {
                uint64_t n;

                (void) !read(a.fd, &n, sizeof(n));
        }

        /* a watcher stopped by a timer is not called in that turn, though its descriptor was ready */
        ev_open(&b, false);
        CHECK_INT(loop_io_start(loop, &b.io), 0);
        tm = (Tm) { .t = tm.t, .victim = &b, .stop_after = &a };
        a.calls = 0;
        a.break_after = 1;
        ev_kick(&b);
        ev_kick(&a);
        loop_timer_start(loop, &tm.t, 0);
        CHECK_INT(loop_run(loop), 0);
        CHECK_INT(tm.calls, 1);
        CHECK_INT(a.calls, 1);
        CHECK_INT(b.calls, 0);
        CHECK(!b.io.active);
        close(b.fd);
        a.break_after = 0;

        /* a stopped timer does not fire */
        tm = (Tm) { .t = tm.t };
        loop_timer_start(loop, &tm.t, loop_monotonic_ns());
        loop_timer_stop(loop, &tm.t);
        CHECK(!tm.t.active);

        /* idle callbacks: only in turns where nothing was ready, once per turn, the loop never sleeping */
        loop_idle_init(&idle.i, idle_cb);
        idle = (Idle) { .i = idle.i, .stop_at = 100, .seen = &a, .kick = &a };
        a.calls = 0;
        ev_kick(&a);
        loop_idle_start(loop, &idle.i);
        CHECK_INT(loop_run(loop), 0);
        CHECK_INT(idle.calls, 100);
        /* the pending kick was taken before the first idle turn */
        CHECK_INT(idle.seen_calls, 1);
        /* a descriptor made ready by an idle callback is served before that callback's next turn */
        CHECK_INT(idle.kick_calls, 2);
        CHECK(!idle.i.active);

        /* with no timer and no idle callback, the loop waits for as long as it takes */
        a.calls = 0;
        a.break_after = 1;
        /* a kick from another process after 100 ms is the only way out */
        {
                pid_t kicker = fork();

                REQUIRE(kicker >= 0);
                if (kicker == 0) {
                        usleep(100 * 1000);
                        ev_kick(&a);
                        _exit(0);
                }
                t0 = loop_monotonic_ns();
                CHECK_INT(loop_run(loop), 0);
                CHECK_INT(a.calls, 1);
                CHECK(loop_monotonic_ns() - t0 >= 90 * 1000000u);
                CHECK_INT(waitpid(kicker, NULL, 0), kicker);
        }

        loop_io_stop(loop, &a.io);
        close(a.fd);
        loop = loop_free(loop);
        return ut_finish("test-loop");
}
