/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"

#define LOOP_BATCH      64      /* events taken per wake-up */

struct Loop {
        int epfd;
        bool stop;
        int error;                      /* the epoll set could not be made again: the loop ends with it */
        uint64_t turn;                  /* counts the loop's turns */
        uint64_t now_real;
        LoopIo *ios;                    /* active, for a rebuild of the epoll set */
        LoopTimer *timers;              /* active */
        LoopIdle *idles;                /* active */
        struct epoll_event batch[LOOP_BATCH];
        int batch_pos, batch_n;         /* the events being dispatched */
};

static uint64_t loop_clock_ns(clockid_t clock) {
        struct timespec ts;

        (void) clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * UINT64_C(1000000000) + (uint64_t) ts.tv_nsec;
}

uint64_t loop_monotonic_ns(void) {
        return loop_clock_ns(CLOCK_MONOTONIC);
}

int loop_new(Loop **ret) {
        Loop *loop = calloc(1, sizeof(*loop));

        if (!loop)
                return -ENOMEM;
        loop->epfd = epoll_create1(EPOLL_CLOEXEC);
        if (loop->epfd < 0) {
                int r = -errno;

                free(loop);
                return r;
        }
        loop->now_real = loop_clock_ns(CLOCK_REALTIME);
        *ret = loop;
        return 0;
}

Loop *loop_free(Loop *loop) {
        if (!loop)
                return NULL;
        close(loop->epfd);
        free(loop);
        return NULL;
}

int loop_stop_signals(void) {
        sigset_t set;
        int fd;

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
                return -errno;
        fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* ---- descriptors ---- */

void loop_io_init(LoopIo *io, LoopIoFn cb, int fd) {
        *io = (LoopIo) { .fd = fd, .cb = cb };
}

static int loop_io_add(Loop *loop, LoopIo *io) {
        struct epoll_event ev = { .events = EPOLLIN, .data.ptr = io };

        return epoll_ctl(loop->epfd, EPOLL_CTL_ADD, io->fd, &ev) < 0 ? -errno : 0;
}

int loop_io_start(Loop *loop, LoopIo *io) {
        int r;

        if (io->active)
                return 0;
        r = loop_io_add(loop, io);
        if (r < 0)
                return r;
        io->active = true;
        io->prev = NULL;
        io->next = loop->ios;
        if (loop->ios)
                loop->ios->prev = io;
        loop->ios = io;
        return 0;
}

/*
 * A new epoll set with every active descriptor: the way out when one could
 * not be removed from the old set (its descriptor closed first while another
 * process keeps the file open, so the set would still report it).
 */
static void loop_rebuild(Loop *loop) {
        int fd = epoll_create1(EPOLL_CLOEXEC);

        if (fd < 0) {
                loop->error = -errno;
                log_error_errno(loop->error, "Cannot make a new epoll set: %m");
                loop->stop = true;
                return;
        }
        close(loop->epfd);
        loop->epfd = fd;
        for (LoopIo *io = loop->ios; io; io = io->next)
                if (loop_io_add(loop, io) < 0) {
                        loop->error = -errno;
                        log_error_errno(loop->error, "Cannot watch descriptor %d again: %m", io->fd);
                        loop->stop = true;
                }
}

void loop_io_stop(Loop *loop, LoopIo *io) {
        if (!io->active)
                return;
        io->active = false;
        if (io->prev)
                io->prev->next = io->next;
        else
                loop->ios = io->next;
        if (io->next)
                io->next->prev = io->prev;
        io->prev = io->next = NULL;
        /* what this turn has still to dispatch does not reach it */
        for (int i = loop->batch_pos + 1; i < loop->batch_n; i++)
                if (loop->batch[i].data.ptr == io)
                        loop->batch[i].data.ptr = NULL;
        if (epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL) < 0) {
                log_debug("Descriptor %d left the epoll set unremoved (%s): a new set is made",
                          io->fd, errno == EBADF ? "closed first" : "another file now");
                loop_rebuild(loop);
        }
}

/* ---- timers and idle callbacks ---- */

/*
 * A timer or idle callback runs at most once per turn: one (re)started during
 * a turn waits for the next, so a callback that restarts its own watcher does
 * not hold the loop.
 */

void loop_timer_init(LoopTimer *t, LoopTimerFn cb) {
        *t = (LoopTimer) { .cb = cb };
}

void loop_timer_stop(Loop *loop, LoopTimer *t) {
        if (!t->active)
                return;
        for (LoopTimer **l = &loop->timers; *l; l = &(*l)->next)
                if (*l == t) {
                        *l = t->next;
                        break;
                }
        t->active = false;
        t->next = NULL;
}

void loop_timer_start(Loop *loop, LoopTimer *t, uint64_t at_ns) {
        loop_timer_stop(loop, t);
        t->at_ns = at_ns;
        t->turn = loop->turn;
        t->active = true;
        t->next = loop->timers;
        loop->timers = t;
}

void loop_idle_init(LoopIdle *i, LoopIdleFn cb) {
        *i = (LoopIdle) { .cb = cb };
}

void loop_idle_start(Loop *loop, LoopIdle *i) {
        if (i->active)
                return;
        i->turn = loop->turn;
        i->active = true;
        i->next = loop->idles;
        loop->idles = i;
}

void loop_idle_stop(Loop *loop, LoopIdle *i) {
        if (!i->active)
                return;
        for (LoopIdle **l = &loop->idles; *l; l = &(*l)->next)
                if (*l == i) {
                        *l = i->next;
                        break;
                }
        i->active = false;
        i->next = NULL;
}

/* ---- the loop ---- */

uint64_t loop_now_realtime(const Loop *loop) {
        return loop->now_real;
}

void loop_break(Loop *loop) {
        loop->stop = true;
}

/* How long the next wait may block, in ms: -1 for as long as it takes. */
static int loop_timeout(Loop *loop) {
        uint64_t next = UINT64_MAX, now, ms;

        if (loop->idles)
                return 0;
        for (LoopTimer *t = loop->timers; t; t = t->next)
                if (t->at_ns < next)
                        next = t->at_ns;
        if (next == UINT64_MAX)
                return -1;
        now = loop_monotonic_ns();
        if (next <= now)
                return 0;
        /* rounded up: a wait never ends before the timer is due */
        ms = (next - now) / 1000000u + ((next - now) % 1000000u != 0);
        return ms > INT_MAX ? INT_MAX : (int) ms;
}

/* Due timers, earliest first; those (re)started during this turn's timer callbacks wait for the next. */
static void loop_run_timers(Loop *loop) {
        uint64_t now = loop_monotonic_ns();

        while (!loop->stop) {
                LoopTimer *due = NULL;

                for (LoopTimer *t = loop->timers; t; t = t->next)
                        if (t->at_ns <= now && t->turn != loop->turn && (!due || t->at_ns < due->at_ns))
                                due = t;
                if (!due)
                        return;
                loop_timer_stop(loop, due);
                due->cb(loop, due);
        }
}

static void loop_run_idles(Loop *loop) {
        while (!loop->stop) {
                LoopIdle *run = NULL;

                for (LoopIdle *i = loop->idles; i; i = i->next)
                        if (i->turn != loop->turn) {
                                run = i;
                                break;
                        }
                if (!run)
                        return;
                run->turn = loop->turn;
                run->cb(loop, run);
        }
}

int loop_run(Loop *loop) {
        loop->stop = loop->error < 0;
        while (!loop->stop) {
                int n;

                loop->turn++;
                n = epoll_wait(loop->epfd, loop->batch, LOOP_BATCH, loop_timeout(loop));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                loop->now_real = loop_clock_ns(CLOCK_REALTIME);
                /* the whole batch is pending from here: a watcher stopped by a timer is not called either */
                loop->batch_n = n;
                loop->batch_pos = -1;
                /*
                 * Timers first: a descriptor callback that restarts a timer
                 * already due (a claim's answer re-arming the earliest
                 * deadline) cannot put it off for good.
                 */
                if (loop->timers)
                        loop_run_timers(loop);
                for (loop->batch_pos = 0; loop->batch_pos < n && !loop->stop; loop->batch_pos++) {
                        LoopIo *io = loop->batch[loop->batch_pos].data.ptr;

                        if (io)
                                io->cb(loop, io);
                }
                loop->batch_n = 0;
                loop->batch_pos = 0;
                /* only when nothing else was ready: another guest's event or a client comes first */
                if (n == 0 && loop->idles)
                        loop_run_idles(loop);
        }
        return loop->error;
}
