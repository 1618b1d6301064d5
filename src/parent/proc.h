/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A worker process as the parent sees it: started with its channel as
 * descriptor 3, the parent's death as its own (PR_SET_PDEATHSIG), a clean
 * environment and no other descriptor; requests sent in order, each with a
 * context that its reply brings back; its end, however it comes, reported
 * once.
 *
 * What comes from the worker is checked like a client's request: a bad or
 * unexpected message kills the worker (it is then reported as ended).
 */
#pragma once

#include <stdbool.h>
#include <sched.h>
#include <stddef.h>
#include <sys/types.h>
#include <ev.h>

#include "wire.h"

typedef struct Proc Proc;

typedef struct ProcOps {
        /* The answer to the oldest request still open, with its context. */
        void (*reply)(Proc *p, void *userdata, void *context, const WireMsg *reply);
        /* The worker's own FAILED. */
        void (*failed)(Proc *p, void *userdata, int error);
        /* The worker's own EXPIRED: the claim with that id broke (its connection must go). */
        void (*expired)(Proc *p, void *userdata, uint32_t claim_id);
        /*
         * The worker is gone (status as waitpid() gives it); the contexts of
         * the requests it never answered follow, oldest first, through
         * dropped() before this is called.  The Proc is freed after.
         */
        void (*dropped)(Proc *p, void *userdata, void *context);
        void (*ended)(Proc *p, void *userdata, int status);
} ProcOps;

typedef struct ProcConfig {
        int exe_fd;                     /* O_PATH descriptor of xen-ioreqd-worker */
        int devnull_fd;                 /* the workers' stdin and stdout */
        int slot_channel, slot_log;     /* where a new worker's channel and stderr pass through */
        int slot_end;                   /* the descriptors below are all a new worker gets a copy of */
        bool idle_spares;               /* spares run as SCHED_IDLE until handed out */
        int policy;                     /* ... and then with this process's policy */
        struct sched_param param;
        char **env;                     /* its environment */
        bool log_prefix;                /* -d */
        bool verbose;                   /* -v */
        uid_t uid;                      /* what the workers drop to */
        gid_t gid;
        uint32_t uid_base;              /* > 0: base + domid instead */
} ProcConfig;

/* Start a worker (a spare if one is ready).  0 or -errno. */
int proc_spawn(Proc **ret, struct ev_loop *loop, const ProcConfig *config, const ProcOps *ops, void *userdata);

/* Send a request (fd >= 0 is attached, and stays the caller's).  Its context comes back with its reply. */
int proc_send(Proc *p, const void *buf, size_t len, int fd, void *context);
/* The same with up to WIRE_MAX_FDS descriptors (duplicated: the caller keeps its own). */
int proc_send_fds(Proc *p, const void *buf, size_t len, const int *fds, unsigned nfds, void *context);

/* SIGKILL; the end is reported as usual. */
void proc_kill(Proc *p);

/*
 * The owner goes away first: nothing is reported to it any more, the
 * contexts of open requests are released with free_context, and the Proc
 * frees itself once the worker has ended.
 */
void proc_detach(Proc *p, void (*free_context)(void *context));

pid_t proc_pid(const Proc *p);
/* Requests sent and not answered yet. */
size_t proc_pending(const Proc *p);

/*
 * The descriptors workers are started from, at low numbers above WIRE_FD
 * (moved to the lowest free one if that is lower): the worker's binary (xen-ioreqd-worker next to the running
 * xen-ioreqd, else in the installed location; the path found goes to buf),
 * /dev/null and the two slots.  Call it before the main process has many
 * descriptors of its own (a worker's start copies those below slot_end).
 * It also looks whether spares may run as SCHED_IDLE (idle_spares) and logs
 * it when not.  0 or -errno; proc_config_close() closes them.
 */
int proc_config_open(ProcConfig *c, char *buf, size_t size);
void proc_config_close(ProcConfig *c);

/* The environment workers get: this one without the service manager's variables.  Free with proc_env_free(). */
char **proc_env_new(void);
void proc_env_free(char **env);
