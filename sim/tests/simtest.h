/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * simtest.h - helpers for xensim's host tests: each test program re-executes itself with
 * LD_LIBRARY_PATH on xensim's drop-in libraries (it is linked against the system's libxen, so
 * this is also the ABI check), starts its own xensimd (+ xenstored) in a temporary directory,
 * and stops it at exit. Every wait is bounded; a watchdog alarm ends a stuck test.
 */
#ifndef XENSIM_SIMTEST_H
#define XENSIM_SIMTEST_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <xendevicemodel.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>
#include <xen/hvm/ioreq.h>

#include "xensim-guest.h"

extern const char *st_dir;              /* the host's directory */
extern int st_failures;

/* Re-exec on the drop-in libraries, arm the watchdog, start the host. */
void st_init(int argc, char **argv, unsigned watchdog_s);
/* Stop the host; returns the exit status for main (77 never: tests do not skip). */
int st_finish(void);
void st_fail_now(void);

#define CHECK(cond, ...)                                                                 \
        do {                                                                             \
                if (!(cond)) {                                                           \
                        fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);   \
                        fprintf(stderr, __VA_ARGS__);                                     \
                        fputc('\n', stderr);                                              \
                        st_failures++;                                                    \
                }                                                                        \
        } while (0)

/* expr must fail with -1 and errno err. */
#define CHECK_ERRNO(expr, err)                                                           \
        do {                                                                             \
                errno = 0;                                                               \
                long r_ = (long)(expr);                                                  \
                int e_ = errno;                                                          \
                CHECK(r_ == -1 && e_ == (err), "%s gave %ld errno %d (%s), want errno %d (%s)", \
                      #expr, r_, e_, strerror(e_), (err), strerror(err));                \
        } while (0)

#define CHECK_OK(expr)                                                                   \
        do {                                                                             \
                errno = 0;                                                               \
                long r_ = (long)(expr);                                                  \
                CHECK(r_ >= 0, "%s gave %ld errno %d (%s)", #expr, r_, errno,            \
                      strerror(errno));                                                  \
        } while (0)

xsg *st_guest(void);
uint32_t st_domain(const char *name, unsigned vcpus);
/*
 * Stop the host (SIGSTOP) or let it go on (SIGCONT): while it is stopped, connections wait to
 * be accepted and requests are queued unread, as on a host that gets no CPU.
 */
void st_host_stop(bool stop);

/* A raw connection to host.sock (the test fails at once if it cannot connect). */
int st_raw_connect(void);
/*
 * One raw request on it (xensim-shm.h), arguments a[0..na): returns the host's errno (0:
 * done), or -errno when no well-formed answer came within 2 s; rep gets the answer.
 */
struct xs_rep;
int st_raw_request(int fd, uint16_t op, const uint64_t *a, unsigned na, struct xs_rep *rep);
#define st_raw_call(fd, op, a0, a1, a2, rep) \
        st_raw_request((fd), (op), (const uint64_t[]){ (a0), (a1), (a2) }, 3, (rep))

/* A test-driven ioreq server on the real API. */
struct st_srv {
        xendevicemodel_handle *dm;
        xenforeignmemory_handle *fm;
        xenevtchn_handle *xce;
        xenforeignmemory_resource_handle *res;
        shared_iopage_t *page;
        ioservid_t id;
        uint32_t domid;
        unsigned nr_vcpus;
        evtchn_port_t lport[128];
};

/* Create, map the page, map [start,end] MMIO (if end >= start), enable, bind every vCPU,
 * and consume the events that binding raises. */
void st_srv_up(struct st_srv *s, uint32_t domid, uint64_t start, uint64_t end);
void st_srv_down(struct st_srv *s);
/* Wait (bounded) for a pending port; unmask it unless keep_masked. -1 on timeout. */
int st_wait_port(xenevtchn_handle *xce, int timeout_ms, bool keep_masked);
/* The vCPU whose port is `port`, or -1. */
int st_srv_vcpu(const struct st_srv *s, int port);
/* Answer vCPU v's request: data (for reads), IORESP_READY, notify. */
void st_srv_answer(struct st_srv *s, unsigned v, uint64_t data);

/* A guest access running in its own thread; r is ST_RUNNING until it returns. */
#define ST_RUNNING 1
struct st_async {
        pthread_t th;
        uint32_t domid;
        unsigned vcpu;
        struct xsg_io io;
        int r;
        bool invalidate;
};
void st_async_start(struct st_async *a);
int st_async_join(struct st_async *a);
/* Wait until slot `vcpu` of the page shows state st (bounded); false on timeout. */
bool st_wait_slot(shared_iopage_t *page, unsigned vcpu, unsigned st, int timeout_ms);

#endif
