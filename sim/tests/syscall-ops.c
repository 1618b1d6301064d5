/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim: the event-channel operations of an ioreq server, each between two markers, for
 * test-host-syscalls.sh to count their system calls under strace. On Linux
 * xenevtchn_pending is one read() of /dev/xen/evtchn (also when it fails with EAGAIN),
 * xenevtchn_unmask one write() and xenevtchn_notify one ioctl(); the simulated library must
 * not cost more on any path. The marker is write(-1, "XENSIM-MARK begin|end NAME"), which
 * fails with EBADF and is easy to find in a trace. The results are checked here too.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "simtest.h"

static void mark(const char *what, const char *name) {
        char buf[96];
        int n = snprintf(buf, sizeof(buf), "XENSIM-MARK %s %s", what, name);
        ssize_t w = write(-1, buf, (size_t)n);
        (void)w;
}

#define MEASURE(name, expr)                                                              \
        ({                                                                               \
                mark("begin", name);                                                     \
                long v_ = (long)(expr);                                                  \
                int e_ = errno;                                                          \
                mark("end", name);                                                       \
                errno = e_;                                                              \
                v_;                                                                      \
        })

static bool readable(xenevtchn_handle *xce, int ms) {
        struct pollfd p = { .fd = xenevtchn_fd(xce), .events = POLLIN };
        return poll(&p, 1, ms) == 1;
}

struct late {
        uint32_t dom;
        ioservid_t id;
};

static void *late_notify(void *p) {
        struct late *l = p;
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        xsg_inject_notify(st_guest(), l->dom, l->id, 0);
        return NULL;
}

int main(int argc, char **argv) {
        struct st_srv s;
        uint32_t dom;
        long p, q;
        int fl;

        st_init(argc, argv, 60);
        dom = st_domain("syscalls", 2);
        st_srv_up(&s, dom, 0xfe000000, 0xfe000fff);
        fl = fcntl(xenevtchn_fd(s.xce), F_GETFL);
        CHECK(fl >= 0 && fcntl(xenevtchn_fd(s.xce), F_SETFL, fl | O_NONBLOCK) == 0, "O_NONBLOCK");

        /* Nothing pending, non-blocking: EAGAIN. */
        errno = 0;
        p = MEASURE("pending-eagain", xenevtchn_pending(s.xce));
        CHECK(p == -1 && errno == EAGAIN, "pending on nothing: %ld errno %d", p, errno);

        /* Two ports delivered: each pending takes one; then EAGAIN again. */
        xsg_inject_notify(st_guest(), dom, s.id, 0);
        xsg_inject_notify(st_guest(), dom, s.id, 1);
        CHECK(readable(s.xce, 2000), "no event after two notifications");
        p = MEASURE("pending-first", xenevtchn_pending(s.xce));
        q = MEASURE("pending-last", xenevtchn_pending(s.xce));
        CHECK((p == s.lport[0] && q == s.lport[1]) || (p == s.lport[1] && q == s.lport[0]),
              "pending gave %ld and %ld, want ports %u and %u", p, q, s.lport[0], s.lport[1]);
        CHECK(!readable(s.xce, 0), "readable with nothing pending");
        errno = 0;
        p = MEASURE("pending-eagain-after", xenevtchn_pending(s.xce));
        CHECK(p == -1 && errno == EAGAIN, "pending after the last port: %ld errno %d", p, errno);

        /* Both masked now; a notification on vCPU 0 stays pending until its unmask. */
        xsg_inject_notify(st_guest(), dom, s.id, 0);
        CHECK(!readable(s.xce, 100), "a masked port was delivered");
        p = MEASURE("unmask-deliver", xenevtchn_unmask(s.xce, s.lport[0]));
        CHECK(p == 0, "unmask: %ld", p);
        p = MEASURE("unmask-quiet", xenevtchn_unmask(s.xce, s.lport[1]));
        CHECK(p == 0, "unmask: %ld", p);
        CHECK(readable(s.xce, 1000), "the masked notification was lost at unmask");
        p = MEASURE("pending-after-unmask", xenevtchn_pending(s.xce));
        CHECK(p == s.lport[0], "pending after unmask gave %ld, want %u", p, s.lport[0]);
        xenevtchn_unmask(s.xce, s.lport[0]);

        /* Blocking: pending sleeps until the event comes. */
        CHECK(fcntl(xenevtchn_fd(s.xce), F_SETFL, fl) == 0, "blocking");
        struct late lt = { dom, s.id };
        pthread_t th;
        if (pthread_create(&th, NULL, late_notify, &lt)) {
                fprintf(stderr, "FAIL: pthread_create\n");
                st_fail_now();
        }
        p = MEASURE("pending-block", xenevtchn_pending(s.xce));
        pthread_join(th, NULL);
        CHECK(p == s.lport[0], "blocking pending gave %ld, want %u", p, s.lport[0]);
        xenevtchn_unmask(s.xce, s.lport[0]);

        /* Notify towards the guest. */
        p = MEASURE("notify", xenevtchn_notify(s.xce, s.lport[1]));
        CHECK(p == 0, "notify: %ld", p);

        st_srv_down(&s);
        return st_finish();
}
