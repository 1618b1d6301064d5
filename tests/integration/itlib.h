/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Integration test library: the real xen-ioreqd binary on xensim.
 *
 * it_init() makes a temporary directory, starts xensimd there (with its
 * xenstored), points this process and the daemon at it (XENSIM_DIR,
 * XENSTORED_PATH, LD_LIBRARY_PATH to the drop-in Xen libraries: the test
 * re-executes itself once so that it uses them too) and arms a watchdog
 * alarm.  it_daemon_start() writes nothing: tests write the config files
 * first, then start the daemon with NOTIFY_SOCKET pointing at a socket of
 * this process and wait for READY=1 (IT_DAEMON_WRAPPER="valgrind …" runs it
 * under a wrapper).  Every wait is bounded; a failed
 * check prints what was expected, the daemon's log tail, and exits 1.
 */
#ifndef XENIOREQD_ITLIB_H
#define XENIOREQD_ITLIB_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "xenioreqd/protocol.h"
#include "xensim-guest.h"

/* every bounded wait; IT_TIMEOUT_SCALE=N multiplies them (e.g. for a daemon under valgrind) */
extern int it_timeout_scale;
#define IT_TIMEOUT_MS   (5000 * it_timeout_scale)
#define IT_NOTES_MAX    256

typedef struct It {
        const char *name;
        char dir[256];                  /* temporary directory */
        char simdir[300];
        char conf[300];                 /* global config file */
        char guests_dir[300];
        char sockets_dir[300];
        char log[300];                  /* the daemon's stderr */
        char notify_path[300];
        pid_t xensimd;
        pid_t daemon;
        int daemon_status;              /* after it_daemon_wait() */
        int notify_fd;
        int pass_fd;                    /* >= 0: passed to the daemon as fd 3 (socket activation) */
        bool worker_deaths_expected;    /* the test kills workers: their deaths are not failures */
        bool supervised;                /* it_daemon_start() runs it under tests/xirq-supervise */
        char *notes[IT_NOTES_MAX];      /* sd_notify messages received, in order */
        size_t n_notes;
        size_t notes_seen;              /* it_wait_note() scans from here */
        xsg *xsg;
} It;

extern It *it_current;

void it_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4), noreturn));
#define IT_FAIL(...) it_fail(__FILE__, __LINE__, __VA_ARGS__)
#define CHECK(cond, ...)                                                        \
        do {                                                                    \
                if (!(cond))                                                    \
                        it_fail(__FILE__, __LINE__, "check failed: " #cond ": " __VA_ARGS__); \
        } while (0)
#define CHECK_EQ(a, b, what)                                                    \
        do {                                                                    \
                long long _a = (long long) (a), _b = (long long) (b);           \
                if (_a != _b)                                                   \
                        it_fail(__FILE__, __LINE__, "%s: expected %lld, got %lld", (what), _b, _a); \
        } while (0)

void it_init(It *it, const char *name, int argc, char **argv);
void it_fini(It *it);
void it_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* config files; extra is appended verbatim (may be NULL) */
void it_write_global(It *it, const char *extra);
void it_write_guest(It *it, const char *name, const char *extra);
void it_remove_guest(It *it, const char *name);
void it_socket_path(It *it, const char *guest, char *buf, size_t size);

/* descriptors process pid holds (the test fails if /proc cannot tell) */
unsigned it_count_fds(pid_t pid);

/* the daemon's pid: it->daemon, or under xirq-supervise the service it runs now (0 if none) */
pid_t it_daemon_pid(It *it);
/* the daemon's workers (its children), up to n; returns how many there are */
size_t it_workers(It *it, pid_t *buf, size_t n);
/* the worker serving domid (its name is xirq-dDOMID), or 0 */
pid_t it_worker_of(It *it, uint32_t domid);
/* wait until domid has a worker other than not (0: any); returns it, fails the test after the timeout */
pid_t it_wait_worker(It *it, uint32_t domid, pid_t not, int timeout_ms);
/*
 * The daemon's spare workers (its children that are no guest's worker yet: started ahead of
 * need), up to n into buf (may be NULL), in the order they were started; returns how many.
 */
size_t it_spares(It *it, pid_t *buf, size_t n);
/* descriptors the daemon holds per spare worker (its channel, the pipe of its log) */
#define IT_SPARE_FDS 2u
/* the spare workers the daemon keeps once it has started its first worker (PROC_SPARES) */
#define IT_SPARES 4u
/*
 * The daemon's descriptors less its spare workers', read once they are settled: the spares
 * are all started (or none was, before the first worker) and two readings 10 ms apart agree
 * (a spare being started holds its channel and log pipe before it is a child).
 */
unsigned it_own_fds(It *it);

/* the daemon */
void it_daemon_start(It *it, const char *const *extra_env);
void it_daemon_signal(It *it, int sig);
/* wait for the daemon to exit; returns its exit status (or 128+signal) */
int it_daemon_wait(It *it, int timeout_ms);
bool it_daemon_alive(It *it);
/* run "xen-ioreqd ARGS…" to completion, output into out; returns its exit status */
int it_daemon_run(It *it, char *out, size_t size, const char *arg, ...);
/* the log so far contains s? */
bool it_log_contains(It *it, const char *s);
/* it_log_contains() within timeout_ms: a line the daemon writes after the effect a test saw */
bool it_wait_log(It *it, const char *s, int timeout_ms);

/* sd_notify: wait for a message with a line starting with prefix (after the last one matched) */
const char *it_wait_note(It *it, const char *prefix, int timeout_ms);
/* receive whatever is queued now, no wait */
void it_drain_notes(It *it);
/* the messages not looked at yet that start with prefix, counted (and now looked at) */
size_t it_count_notes(It *it, const char *prefix);

/* xensim */
uint32_t it_domain_create(It *it, const char *name, unsigned vcpus);
void it_domain_destroy(It *it, uint32_t domid);
/* number of ioreq servers of domid; ranges of server id in space (XSG_MMIO/XSG_PIO) */
int it_servers(It *it, uint32_t domid, struct xsg_server_info *buf, size_t n);
int it_ranges(It *it, uint32_t domid, unsigned id, int space, struct xsg_range *buf, size_t n);
/* guest accesses: return the xsg error (0, -ETIMEDOUT for a hung vCPU, …) */
int it_write(It *it, uint32_t domid, unsigned vcpu, int space, uint64_t addr, unsigned size, uint64_t value);
int it_read(It *it, uint32_t domid, unsigned vcpu, int space, uint64_t addr, unsigned size, uint64_t *value);

/* wait until cond_fn(arg) or timeout; returns the last value */
bool it_wait_for(bool (*cond_fn)(void *arg), void *arg, int timeout_ms);

/* protocol client (raw structs from protocol.h) */
int it_connect(It *it, const char *guest);
/* errno of connect() when it fails, else the fd */
int it_connect_errno(It *it, const char *guest);
/* one packet with nfds (at most TU_MAX_FDS, testutil.h) descriptors attached; 0 or -errno */
int it_send(int fd, const void *buf, size_t len, const int *fds, unsigned nfds);
/* one reply packet, bounded wait; returns its length, 0 on EOF, -ETIMEDOUT */
ssize_t it_recv(int fd, void *buf, size_t size, int timeout_ms);
/* HELLO; returns the reply's error (positive errno, 0), domid in *domid */
int it_hello(int fd, uint32_t *domid);
/* the reply of a request just sent: checks type/seq, returns its error */
int it_reply_error(int fd, uint16_t type, uint32_t seq);
int it_assign(int fd, uint8_t space, uint8_t len, uint8_t match, uint64_t addr, uint64_t value, uint64_t mask,
              int efd);
int it_deassign(int fd, uint8_t space, uint8_t len, uint8_t match, uint64_t addr, uint64_t value, uint64_t mask);
int it_virtio(int fd, uint64_t base, uint16_t queue, bool deassign, int efd);
int it_query(int fd, struct xirq_query_reply *ret);
/* is the connection closed by the daemon (EOF within timeout)? */
bool it_closed(int fd, int timeout_ms);

/* eventfds */
int it_eventfd(void);
/* the counter (read and reset), 0 if not signalled */
uint64_t it_efd_take(int efd);

/*
 * A program of the build tree (argv[0] relative to it) with its standard output on a pipe:
 * it_program_line() reads its lines until one starts with prefix (and fails the test at its
 * end of file, with what it said).
 */
typedef struct ItProgram {
        pid_t pid;
        FILE *out;
        char text[16384];               /* what it said so far */
        size_t len;
} ItProgram;
void it_program_start(ItProgram *p, const char *const *argv);
const char *it_program_line(ItProgram *p, const char *prefix);

#endif
