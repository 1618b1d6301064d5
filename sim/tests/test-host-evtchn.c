/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim: event channels behave like Xen 4.17 + Linux's /dev/xen/evtchn (FACTS 3h, 3i, 5, 7c,
 * 11c): immediate event after bind, masking until unmask, coalescing, EAGAIN when
 * non-blocking, poll-readable exactly while a port is pending, bind/unbind errors.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <xen/memory.h>

#include "simtest.h"

static bool readable(xenevtchn_handle *xce, int ms) {
        struct pollfd p = { .fd = xenevtchn_fd(xce), .events = POLLIN };
        return poll(&p, 1, ms) == 1;
}

struct late {
        uint32_t dom;
        int ms;
};

static void *late_notify(void *p) {
        struct late *l = p;
        struct timespec ts = { 0, l->ms * 1000000L };
        nanosleep(&ts, NULL);
        xsg_inject_notify(st_guest(), l->dom, 0, 0);
        return NULL;
}

int main(int argc, char **argv) {
        st_init(argc, argv, 60);
        uint32_t dom = st_domain("evtchn", 1);
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        xenforeignmemory_handle *fm = xenforeignmemory_open(NULL, 0);
        xenevtchn_handle *xce = xenevtchn_open(NULL, 0), *xce2 = xenevtchn_open(NULL, 0);
        shared_iopage_t *page = NULL;
        ioservid_t id;
        int l, p;

        CHECK(dm && fm && xce && xce2, "open");
        if (!dm || !fm || !xce || !xce2)
                return st_finish() | 1;
        CHECK_OK(xendevicemodel_create_ioreq_server(dm, dom, 0, &id));
        xenforeignmemory_resource_handle *res = xenforeignmemory_map_resource(
                fm, dom, XENMEM_resource_ioreq_server, id, 1, 1, (void **)&page,
                PROT_READ | PROT_WRITE, 0);
        CHECK_OK(xendevicemodel_set_ioreq_server_state(dm, dom, id, 1));
        if (!res)
                return st_finish() | 1;
        evtchn_port_t vp = page->vcpu_ioreq[0].vp_eport;

        /* Nothing pending on a fresh handle. */
        CHECK(!readable(xce, 0), "fresh handle readable");
        int fl = fcntl(xenevtchn_fd(xce), F_GETFL);
        CHECK_OK(fcntl(xenevtchn_fd(xce), F_SETFL, fl | O_NONBLOCK));
        CHECK_ERRNO(xenevtchn_pending(xce), EAGAIN);

        /* bind: an event is pending at once, the slot untouched. */
        l = xenevtchn_bind_interdomain(xce, dom, vp);
        CHECK(l > 0, "bind: %s", strerror(errno));
        CHECK(readable(xce, 1000), "no event right after bind");
        p = xenevtchn_pending(xce);
        CHECK(p == l, "pending %d, want %d", p, l);
        CHECK(page->vcpu_ioreq[0].state == STATE_IOREQ_NONE, "slot state %u",
              page->vcpu_ioreq[0].state);
        CHECK(!readable(xce, 0), "still readable after the only event was taken");
        CHECK_ERRNO(xenevtchn_pending(xce), EAGAIN);

        /* Not unmasked: further notifications are not delivered... */
        CHECK(xsg_inject_notify(st_guest(), dom, id, 0) == 0, "notify");
        CHECK(xsg_inject_notify(st_guest(), dom, id, 0) == 0, "notify");
        CHECK(!readable(xce, 300), "a masked port was delivered");
        /* ...until unmask, then exactly once. */
        CHECK_OK(xenevtchn_unmask(xce, (evtchn_port_t)l));
        CHECK(readable(xce, 1000), "the masked notifications were lost");
        CHECK(xenevtchn_pending(xce) == l, "pending after unmask");
        CHECK_ERRNO(xenevtchn_pending(xce), EAGAIN);
        CHECK(!readable(xce, 100), "two masked notifications delivered twice");

        /* Unmasked: 3 quick notifications give one delivery now and one after unmask. */
        CHECK_OK(xenevtchn_unmask(xce, (evtchn_port_t)l));
        CHECK(!readable(xce, 100), "unmask without pending delivered something");
        for (int i = 0; i < 3; i++)
                xsg_inject_notify(st_guest(), dom, id, 0);
        CHECK(readable(xce, 1000), "not delivered");
        CHECK(xenevtchn_pending(xce) == l, "first delivery");
        CHECK_ERRNO(xenevtchn_pending(xce), EAGAIN);
        CHECK_OK(xenevtchn_unmask(xce, (evtchn_port_t)l));
        CHECK(readable(xce, 1000), "second delivery missing");
        CHECK(xenevtchn_pending(xce) == l, "second delivery");
        CHECK_ERRNO(xenevtchn_pending(xce), EAGAIN);
        CHECK_OK(xenevtchn_unmask(xce, (evtchn_port_t)l));
        CHECK(!readable(xce, 100), "a third delivery");

        /* Blocking mode: pending waits for the next event. */
        CHECK_OK(fcntl(xenevtchn_fd(xce), F_SETFL, fl));
        pthread_t th;
        struct late lt = { dom, 150 };
        pthread_create(&th, NULL, late_notify, &lt);
        p = xenevtchn_pending(xce);
        CHECK(p == l, "blocking pending gave %d", p);
        pthread_join(th, NULL);
        xenevtchn_unmask(xce, (evtchn_port_t)l);

        /* Bind errors. */
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce, dom, vp), EINVAL);
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce2, dom, vp), EINVAL);
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce2, dom, 1), EINVAL);
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce2, dom, 4000), EINVAL);
        CHECK_ERRNO(xenevtchn_bind_interdomain(xce2, 1234, 3), ESRCH);
        /* Ports that are not this handle's. */
        CHECK_ERRNO(xenevtchn_notify(xce, 999), ENOTCONN);
        CHECK_ERRNO(xenevtchn_notify(xce2, (evtchn_port_t)l), ENOTCONN);
        CHECK_OK(xenevtchn_unmask(xce, 999));
        CHECK_ERRNO(xenevtchn_unbind(xce2, (evtchn_port_t)l), ENOTCONN);

        /* Unbind; the remote port can be bound again (by another handle). */
        CHECK_OK(xenevtchn_unbind(xce, (evtchn_port_t)l));
        CHECK_ERRNO(xenevtchn_notify(xce, (evtchn_port_t)l), ENOTCONN);
        int l2 = xenevtchn_bind_interdomain(xce2, dom, vp);
        CHECK(l2 > 0, "re-bind after unbind: %s", strerror(errno));
        CHECK(st_wait_port(xce2, 1000, false) == l2, "event after re-bind");

        /* A handle that goes away releases its ports. */
        xenevtchn_close(xce2);
        xce2 = xenevtchn_open(NULL, 0);
        l2 = xenevtchn_bind_interdomain(xce2, dom, vp);
        CHECK(l2 > 0, "bind after the owner closed: %s", strerror(errno));
        st_wait_port(xce2, 1000, false);

        /* The guest side goes away: notify is silently dropped, unbind works. */
        CHECK_OK(xendevicemodel_destroy_ioreq_server(dm, dom, id));
        CHECK_OK(xenevtchn_notify(xce2, (evtchn_port_t)l2));
        CHECK(!readable(xce2, 100), "event after the peer closed");
        CHECK_OK(xenevtchn_unbind(xce2, (evtchn_port_t)l2));

        xenforeignmemory_unmap_resource(fm, res);
        xenevtchn_close(xce);
        xenevtchn_close(xce2);
        xenforeignmemory_close(fm);
        xendevicemodel_close(dm);
        return st_finish();
}
