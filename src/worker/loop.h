/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/*
 * The worker's event loop: level-triggered epoll, a few timers and idle
 * callbacks, nothing more.
 *
 * It blocks with no timeout when no timer runs.  A general-purpose loop (libev)
 * passes a timeout to every epoll_wait even then, and the kernel arms and
 * cancels a high-resolution timer for each one: on the worker's hot path that
 * is one per kick, measured at about a tenth of a kick's round trip and CPU
 * (bench P1/P5, pinned to one CPU: 1.17-1.23x the floor server with it,
 * 1.03-1.08x without).
 *
 * Rules for the user: a LoopIo is stopped before its descriptor is closed
 * (loop_io_stop() is what removes it from the epoll set), and any watcher may
 * be started or stopped, or freed once stopped, from any callback.  If a
 * descriptor was closed first anyway, the loop makes a new epoll set when it
 * notices (the number closed or given to an unwatched file): a best effort,
 * not a licence.
 *
 * A turn: wait, run the timers that are due, call the ready descriptors'
 * callbacks, then, only if no descriptor was ready, the idle callbacks.
 */

#include <stdbool.h>
#include <stdint.h>

typedef struct Loop Loop;
typedef struct LoopIo LoopIo;
typedef struct LoopTimer LoopTimer;
typedef struct LoopIdle LoopIdle;

/* Called while fd is readable, or has an error or hang-up to report. */
typedef void (*LoopIoFn)(Loop *loop, LoopIo *io);
typedef void (*LoopTimerFn)(Loop *loop, LoopTimer *t);
typedef void (*LoopIdleFn)(Loop *loop, LoopIdle *i);

struct LoopIo {
        int fd;
        LoopIoFn cb;
        bool active;
        LoopIo *prev, *next;            /* the loop's active ones */
};

struct LoopTimer {
        uint64_t at_ns;                 /* CLOCK_MONOTONIC */
        LoopTimerFn cb;
        bool active;
        uint64_t turn;                  /* the loop's turn it was started in */
        LoopTimer *next;
};

/*
 * Run once per turn of the loop in which no descriptor was ready (so never
 * while descriptors keep it busy: for polling, not for deferred work); the
 * loop does not sleep while one is active.
 */
struct LoopIdle {
        LoopIdleFn cb;
        bool active;
        uint64_t turn;                  /* the loop's turn it last ran (or was started) in */
        LoopIdle *next;
};

int loop_new(Loop **ret);
Loop *loop_free(Loop *loop);

void loop_io_init(LoopIo *io, LoopIoFn cb, int fd);
/* -errno from epoll_ctl (ENOMEM, ENOSPC: the user's epoll watch limit) */
int loop_io_start(Loop *loop, LoopIo *io);
void loop_io_stop(Loop *loop, LoopIo *io);

void loop_timer_init(LoopTimer *t, LoopTimerFn cb);
/* (Re)start t to fire once at at_ns, CLOCK_MONOTONIC (at once if that has passed). */
void loop_timer_start(Loop *loop, LoopTimer *t, uint64_t at_ns);
void loop_timer_stop(Loop *loop, LoopTimer *t);

void loop_idle_init(LoopIdle *i, LoopIdleFn cb);
void loop_idle_start(Loop *loop, LoopIdle *i);
void loop_idle_stop(Loop *loop, LoopIdle *i);

/*
 * SIGTERM and SIGINT blocked (idempotent) and taken through a new signalfd,
 * non-blocking and close-on-exec: its descriptor, or -errno.  No handler runs
 * in a process under a system call filter; called first thing in main(), no
 * such signal is lost or kills the process before its loop runs.
 */
int loop_stop_signals(void);

/* CLOCK_REALTIME in ns, read when the loop last woke up. */
uint64_t loop_now_realtime(const Loop *loop);
uint64_t loop_monotonic_ns(void);

/* The running loop_run() returns once the current callback is done (a break before loop_run() is forgotten). */
void loop_break(Loop *loop);
/* Until loop_break(): 0, or -errno if the loop itself failed (waiting, or making its epoll set anew). */
int loop_run(Loop *loop);
