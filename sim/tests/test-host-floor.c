/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim: the floor server (a real-API ioreq server in its own process) round-trips guest
 * accesses and signals its eventfd on matching writes; a second floor server on the same
 * range takes over (highest id) and gives it back when it exits; INVALIDATE reaches both.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "simtest.h"

#define MATCH 0xfe000050ull

struct floor {
        pid_t pid;
        int efd;
};

static void floor_start(struct floor *f, uint32_t dom) {
        int pfd[2];
        char buf[16];

        f->efd = eventfd(0, EFD_NONBLOCK);      /* inherited by the floor server */
        if (f->efd < 0 || pipe(pfd) < 0) {
                perror("FAIL: eventfd/pipe");
                st_fail_now();
        }
        f->pid = fork();
        if (f->pid == 0) {
                char d[16], e[16], r[16];
                snprintf(d, sizeof(d), "%u", dom);
                snprintf(e, sizeof(e), "%d", f->efd);
                snprintf(r, sizeof(r), "%d", pfd[1]);
                close(pfd[0]);
                int devnull = open("/dev/null", O_WRONLY);
                dup2(devnull, 1);
                execl(XENSIM_BUILDDIR "/xensim-floor", "xensim-floor", "--domid", d, "--range",
                      "0xfe000000-0xfe000fff", "--match", "0xfe000050=2", "--eventfd", e,
                      "--ready-fd", r, (char *)NULL);
                _exit(127);
        }
        close(pfd[1]);
        struct pollfd p = { .fd = pfd[0], .events = POLLIN };
        if (poll(&p, 1, 5000) != 1 || read(pfd[0], buf, sizeof(buf)) < 5) {
                fprintf(stderr, "FAIL: the floor server did not become ready\n");
                st_fail_now();
        }
        close(pfd[0]);
}

static int floor_stop(struct floor *f) {
        int status = -1;
        kill(f->pid, SIGTERM);
        for (int i = 0; i < 300; i++) {
                if (waitpid(f->pid, &status, WNOHANG) == f->pid)
                        break;
                struct timespec ts = { 0, 10 * 1000 * 1000 };
                nanosleep(&ts, NULL);
        }
        close(f->efd);
        return status;
}

static bool signalled(struct floor *f, int ms) {
        struct pollfd p = { .fd = f->efd, .events = POLLIN };
        uint64_t v;
        if (poll(&p, 1, ms) != 1)
                return false;
        return read(f->efd, &v, sizeof(v)) == sizeof(v) && v >= 1;
}

int main(int argc, char **argv) {
        st_init(argc, argv, 60);
        xsg *g = st_guest();
        uint32_t dom = st_domain("floor", 2);
        struct floor a, b;
        uint64_t v = 0;

        floor_start(&a, dom);
        CHECK(xsg_write(g, dom, 0, XSG_MMIO, MATCH, 4, 2, 2000) == 0, "matching write");
        CHECK(signalled(&a, 1000), "no eventfd signal for a matching write");
        CHECK(xsg_write(g, dom, 1, XSG_MMIO, MATCH, 4, 3, 2000) == 0, "other value");
        CHECK(!signalled(&a, 100), "signal for a non-matching value");
        CHECK(xsg_write(g, dom, 0, XSG_MMIO, 0xfe000000, 4, 0x1234, 2000) == 0, "write");
        CHECK(!signalled(&a, 100), "signal for another address");
        CHECK(xsg_read(g, dom, 1, XSG_MMIO, 0xfe000000, 4, &v, 2000) == 0 && v == 0x1234,
              "read back %llx", (unsigned long long)v);

        struct xsg_load_opts o = { .domids = &dom, .nr_domids = 1, .vcpus = 2, .count = 4000,
                                   .space = XSG_MMIO, .dir = XSG_WRITE, .addr = 0xfe000000,
                                   .size = 4, .data = 5, .timeout_ms = 2000 };
        struct xsg_load_result res;
        CHECK(xsg_load(g, &o, &res) == 0 && res.count == 4000 && res.errors == 0,
              "load: %llu done, %llu errors", (unsigned long long)res.count,
              (unsigned long long)res.errors);

        /* A second server on the same range: the higher id gets the accesses. */
        floor_start(&b, dom);
        CHECK(xsg_write(g, dom, 0, XSG_MMIO, MATCH, 4, 2, 2000) == 0, "write");
        CHECK(signalled(&b, 1000), "the higher id (second floor) did not get the write");
        CHECK(!signalled(&a, 100), "the lower id got it");
        CHECK(xsg_invalidate(g, dom, 1, 2000) == 2, "INVALIDATE not answered by both");
        int st = floor_stop(&b);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "second floor exit 0x%x", st);
        CHECK(xsg_write(g, dom, 0, XSG_MMIO, MATCH, 4, 2, 2000) == 0, "write");
        CHECK(signalled(&a, 1000), "the first floor did not get the range back");
        CHECK(xsg_invalidate(g, dom, 0, 2000) == 1, "INVALIDATE to one server");
        st = floor_stop(&a);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "first floor exit 0x%x", st);
        CHECK(xsg_read(g, dom, 0, XSG_MMIO, 0xfe000000, 4, &v, 2000) == 0 && v == 0xffffffff,
              "no server after both exited");
        return st_finish();
}
