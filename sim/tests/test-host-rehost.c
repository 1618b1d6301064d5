/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim: one process, two hosts. The drop-in libraries and the guest driver map a host's
 * shared memory once per process and host: the evtchn and foreignmemory handles of a process
 * share one mapping, handles on two xensimd at once each see their own host, the last close
 * unmaps, and a process that closed everything on one host and opens handles on another
 * (another XENSIM_DIR) drives the new host.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "simtest.h"
#include "xensim-shm.h"

#define BASE 0xfe000000ull

static char dir_b[64];
static pid_t pid_b;

static void stop_b(void) {
        char cmd[128];
        if (pid_b > 0) {
                kill(pid_b, SIGTERM);
                for (int i = 0; i < 250 && waitpid(pid_b, NULL, WNOHANG) != pid_b; i++) {
                        struct timespec ts = { 0, 20 * 1000 * 1000 };
                        nanosleep(&ts, NULL);
                        if (i == 249) {
                                kill(pid_b, SIGKILL);
                                waitpid(pid_b, NULL, 0);
                        }
                }
                pid_b = 0;
        }
        if (dir_b[0]) {
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir_b);
                if (system(cmd) != 0)
                        fprintf(stderr, "warning: cannot remove %s\n", dir_b);
                dir_b[0] = '\0';
        }
}

/* A second xensimd (no xenstored) in its own directory. */
static void start_b(void) {
        int pfd[2];
        char buf[16];

        snprintf(dir_b, sizeof(dir_b), "/tmp/xensim-test-b.XXXXXX");
        if (!mkdtemp(dir_b) || pipe2(pfd, O_CLOEXEC) < 0) {
                perror("FAIL: mkdtemp/pipe");
                st_fail_now();
        }
        pid_b = fork();
        if (pid_b == 0) {
                char fdarg[16];
                int fd = dup(pfd[1]);
                int devnull = open("/dev/null", O_WRONLY);
                prctl(PR_SET_PDEATHSIG, SIGTERM);       /* even if the watchdog ends us */
                snprintf(fdarg, sizeof(fdarg), "%d", fd);
                dup2(devnull, 1);
                execl(XENSIM_BUILDDIR "/xensimd", "xensimd", "--dir", dir_b, "--no-xenstore",
                      "--ready-fd", fdarg, (char *)NULL);
                _exit(127);
        }
        close(pfd[1]);
        struct pollfd p = { .fd = pfd[0], .events = POLLIN };
        if (poll(&p, 1, 15000) != 1 || read(pfd[0], buf, sizeof(buf)) < 5) {
                fprintf(stderr, "FAIL: the second xensimd did not become ready\n");
                stop_b();
                st_fail_now();
        }
        close(pfd[0]);
        atexit(stop_b);
}

/* Mappings of a whole xensim shm in this process (the ioreq page mappings are 4 KiB). */
static int shm_mappings(void) {
        FILE *f = fopen("/proc/self/maps", "re");
        char line[512];
        int n = 0;

        if (!f) {
                perror("FAIL: /proc/self/maps");
                st_fail_now();
        }
        while (fgets(line, sizeof(line), f)) {
                uint64_t a, b;
                if (!strstr(line, "memfd:xensim-shm") ||
                    sscanf(line, "%" SCNx64 "-%" SCNx64, &a, &b) != 2)
                        continue;
                if (b - a == XS_SHM_SIZE)
                        n++;
        }
        fclose(f);
        return n;
}

/* Serves one request of s: answers a read with value. */
struct responder {
        pthread_t th;
        struct st_srv *s;
        uint64_t value;
        bool served;
};

static void *respond(void *p) {
        struct responder *r = p;
        int port = st_wait_port(r->s->xce, 3000, false);
        int v = port < 0 ? -1 : st_srv_vcpu(r->s, port);
        if (v >= 0 && st_wait_slot(r->s->page, (unsigned)v, STATE_IOREQ_READY, 3000)) {
                st_srv_answer(r->s, (unsigned)v, r->value);
                r->served = true;
        }
        return NULL;
}

/* A read from vCPU 0 of domid through g, answered by s with value. */
static void read_through(xsg *g, uint32_t domid, struct st_srv *s, uint64_t value,
                         const char *what) {
        struct responder r = { .s = s, .value = value };
        uint64_t got = 0;
        int rc;

        if (pthread_create(&r.th, NULL, respond, &r)) {
                fprintf(stderr, "FAIL: pthread_create\n");
                st_fail_now();
        }
        rc = xsg_read(g, domid, 0, XSG_MMIO, BASE, 4, &got, 3000);
        pthread_join(r.th, NULL);
        CHECK(rc == 0 && r.served && got == value,
              "%s: read gave %d (%s), value 0x%" PRIx64 ", server %s (want 0x%" PRIx64 ")",
              what, rc, strerror(rc < 0 ? -rc : 0), got, r.served ? "served" : "saw nothing",
              value);
}

static xsg *guest_on(const char *dir) {
        xsg *g = NULL;
        int r = xsg_open(&g, dir);
        CHECK(r == 0, "xsg_open on %s: %s", dir, strerror(-r));
        if (r < 0)
                st_fail_now();
        return g;
}

static uint32_t domain_on(xsg *g, const char *name) {
        uint32_t domid = 0;
        int r = xsg_domain_create(g, name, 1, &domid);
        CHECK(r == 0, "create %s: %s", name, strerror(-r));
        if (r < 0)
                st_fail_now();
        return domid;
}

int main(int argc, char **argv) {
        struct st_srv sa, sb;
        xenforeignmemory_handle *fm;
        xenevtchn_handle *xce;
        uint32_t doma, domb;
        xsg *ga, *gb;

        st_init(argc, argv, 60);

        /* The libraries of one process share one mapping of the host. */
        CHECK(shm_mappings() == 0, "%d shm mappings before any handle", shm_mappings());
        fm = xenforeignmemory_open(NULL, 0);
        xce = xenevtchn_open(NULL, 0);
        CHECK(fm && xce, "open: %s", strerror(errno));
        CHECK(shm_mappings() == 1, "foreignmemory + evtchn handles: %d shm mappings, want 1",
              shm_mappings());
        xenevtchn_close(xce);
        CHECK(shm_mappings() == 1, "one handle left: %d shm mappings, want 1", shm_mappings());
        xenforeignmemory_close(fm);
        CHECK(shm_mappings() == 0, "after the last close: %d shm mappings, want 0",
              shm_mappings());

        /* Host A: guest driver (one mapping) and a server on the libraries (one more). */
        ga = guest_on(st_dir);
        doma = domain_on(ga, "on-a");
        st_srv_up(&sa, doma, BASE, BASE + 0xfff);
        CHECK(shm_mappings() == 2, "guest + server on one host: %d shm mappings, want 2",
              shm_mappings());
        read_through(ga, doma, &sa, 0xa1, "host A");

        /* Host B while A's handles stay open: each handle sees its own host. */
        start_b();
        setenv("XENSIM_DIR", dir_b, 1);
        gb = guest_on(dir_b);
        domb = domain_on(gb, "on-b");
        CHECK(domb == doma, "domids %u and %u: both hosts start at the same one", doma, domb);
        st_srv_up(&sb, domb, BASE, BASE + 0xfff);
        CHECK(shm_mappings() == 4, "two hosts: %d shm mappings, want 4", shm_mappings());
        read_through(gb, domb, &sb, 0xb1, "host B, A open");
        read_through(ga, doma, &sa, 0xa2, "host A, B open");
        st_srv_down(&sb);
        gb = xsg_close(gb);
        CHECK(shm_mappings() == 2, "B closed: %d shm mappings, want 2 (A's)", shm_mappings());

        /* Everything on A closed, then handles and a guest on B: they drive B. */
        st_srv_down(&sa);
        ga = xsg_close(ga);
        CHECK(shm_mappings() == 0, "all closed: %d shm mappings, want 0", shm_mappings());
        gb = guest_on(dir_b);
        domb = domain_on(gb, "on-b-2");
        st_srv_up(&sb, domb, BASE, BASE + 0xfff);
        read_through(gb, domb, &sb, 0xb2, "host B after A");
        st_srv_down(&sb);
        gb = xsg_close(gb);

        /* And back to A (the test's host, with its xenstored). */
        setenv("XENSIM_DIR", st_dir, 1);
        ga = guest_on(st_dir);
        doma = domain_on(ga, "on-a-2");
        st_srv_up(&sa, doma, BASE, BASE + 0xfff);
        read_through(ga, doma, &sa, 0xa3, "host A after B");
        st_srv_down(&sa);
        ga = xsg_close(ga);

        stop_b();
        return st_finish();
}
