/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim: bad input on host.sock (garbage, truncated and oversized packets, unknown ops,
 * passed fds, requests naming things that do not exist, clients killed mid-request) is
 * refused without crashing xensimd or disturbing its other clients.
 */
#include "autoconfig.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <xen/memory.h>

#include "simtest.h"
#include "xensim-shm.h"

/* After a bad packet the host must hang up on us (recv → 0) within a bounded time. */
static bool dropped(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        char b[64];
        if (poll(&p, 1, 2000) != 1)
                return false;
        return recv(fd, b, sizeof(b), MSG_DONTWAIT) == 0;
}

static void host_alive(const char *after) {
        struct xsg_domain_info di;
        int n = xsg_domain_list(st_guest(), &di, 1);
        uint32_t d;
        CHECK(n >= 1, "list after %s", after);
        int r = xsg_domain_create(st_guest(), "alive", 1, &d);
        CHECK(r == 0, "create after %s: %s", after, strerror(-r));
        if (r == 0)
                CHECK(xsg_domain_destroy(st_guest(), d) == 0, "destroy after %s", after);
}

int main(int argc, char **argv) {
        st_init(argc, argv, 60);
        uint32_t dom = st_domain("victim", 1);
        struct xs_rep rep;
        int fd;

        /* A well-behaved client connected before the abuse. */
        xsg *good = st_guest();
        (void)good;

        fd = st_raw_connect();
        CHECK(send(fd, "abc", 3, 0) == 3, "send");
        CHECK(dropped(fd), "3 garbage bytes not refused");
        close(fd);

        fd = st_raw_connect();
        struct xs_req req;
        memset(&req, 0xa5, sizeof(req));
        CHECK(send(fd, &req, sizeof(req), 0) == sizeof(req), "send");
        CHECK(dropped(fd), "bad magic not refused");
        close(fd);

        fd = st_raw_connect();
        char big[4096];
        memset(big, 0, sizeof(big));
        memcpy(big, &(uint32_t){ XS_PROTO_MAGIC }, 4);
        CHECK(send(fd, big, sizeof(big), 0) == sizeof(big), "send");
        CHECK(dropped(fd), "oversized packet not refused");
        close(fd);

        fd = st_raw_connect();
        req = (struct xs_req){ .magic = XS_PROTO_MAGIC, .version = XS_PROTO_VERSION,
                               .op = XS_OP_DOM_CREATE };
        CHECK(send(fd, &req, sizeof(req) - 1, 0) == sizeof(req) - 1, "send");
        CHECK(dropped(fd), "truncated packet not refused");
        close(fd);

        fd = st_raw_connect();
        req.version = 99;
        CHECK(send(fd, &req, sizeof(req), 0) == sizeof(req), "send");
        CHECK(dropped(fd), "wrong version not refused");
        close(fd);

        /*
         * One-way: ops that answer something (HELLO, a domain creation), an unknown flag,
         * refused ones (a restriction to dom0, kind 99).
         */
        static const struct xs_req oneway[] = {
                { .op = XS_OP_HELLO, .flags = XS_REQ_ONEWAY },
                { .op = XS_OP_DOM_CREATE, .flags = XS_REQ_ONEWAY, .a = { 1 } },
                { .op = XS_OP_DM_RESTRICT, .flags = 2, .a = { 1 } },
                { .op = XS_OP_EVT_RESTRICT, .flags = XS_REQ_ONEWAY },
                { .op = XS_OP_CLIENT_KIND, .flags = XS_REQ_ONEWAY, .a = { 99 } },
        };
        for (size_t i = 0; i < sizeof(oneway) / sizeof(oneway[0]); i++) {
                fd = st_raw_connect();
                req = oneway[i];
                req.magic = XS_PROTO_MAGIC;
                req.version = XS_PROTO_VERSION;
                CHECK(send(fd, &req, sizeof(req), 0) == sizeof(req), "send");
                CHECK(dropped(fd), "one-way op %u flags %u a0 %" PRIu64 " not refused",
                      (unsigned)req.op, (unsigned)req.flags, req.a[0]);
                close(fd);
        }
        /* Accepted one-way: no answer; the next request's answer is the next packet. */
        fd = st_raw_connect();
        req = (struct xs_req){ .magic = XS_PROTO_MAGIC, .version = XS_PROTO_VERSION,
                               .op = XS_OP_DM_RESTRICT, .flags = XS_REQ_ONEWAY, .a = { dom } };
        CHECK(send(fd, &req, sizeof(req), 0) == sizeof(req), "send");
        CHECK(st_raw_call(fd, XS_OP_DM_NR_VCPUS, dom + 1, 0, 0, &rep) == EPERM,
              "one-way restriction applied to the next request");
        CHECK(st_raw_call(fd, XS_OP_DM_RESTRICT, dom + 1, 0, 0, &rep) == EINVAL,
              "restriction to another domain after a one-way one");
        close(fd);

        /* A packet carrying file descriptors. */
        fd = st_raw_connect();
        {
                union {
                        struct cmsghdr h;
                        char buf[CMSG_SPACE(sizeof(int))];
                } ctl;
                int pass = open("/dev/null", O_RDONLY | O_CLOEXEC);
                req = (struct xs_req){ .magic = XS_PROTO_MAGIC, .version = XS_PROTO_VERSION,
                                       .op = XS_OP_HELLO };
                struct iovec iov = { .iov_base = &req, .iov_len = sizeof(req) };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                                     .msg_controllen = sizeof(ctl.buf) };
                memset(&ctl, 0, sizeof(ctl));
                struct cmsghdr *h = CMSG_FIRSTHDR(&mh);
                h->cmsg_level = SOL_SOCKET;
                h->cmsg_type = SCM_RIGHTS;
                h->cmsg_len = CMSG_LEN(sizeof(int));
                memcpy(CMSG_DATA(h), &pass, sizeof(int));
                CHECK(sendmsg(fd, &mh, 0) == sizeof(req), "sendmsg");
                CHECK(dropped(fd), "a packet with fds not refused");
                close(pass);
        }
        close(fd);
        host_alive("malformed packets");

        /* Well-formed requests for things that do not exist: answered with errors. */
        fd = st_raw_connect();
        CHECK(st_raw_call(fd, 999, 0, 0, 0, &rep) == EOPNOTSUPP, "unknown op");
        CHECK(st_raw_call(fd, XS_OP_DM_CREATE, 5000, 0, 0, &rep) == ESRCH, "create on domain 5000");
        CHECK(st_raw_call(fd, XS_OP_DM_CREATE, 1ull << 40, 0, 0, &rep) == EINVAL, "huge domid");
        CHECK(st_raw_call(fd, XS_OP_DM_MAP, dom, 200, 1, &rep) == ENOENT, "map on server 200");
        CHECK(st_raw_call(fd, XS_OP_DM_STATE, dom, ~0ull, 1, &rep) == ENOENT, "state of server ~0");
        CHECK(st_raw_call(fd, XS_OP_DM_IRQ, dom, 77, 0, &rep) == EINVAL, "irq kind 77");
        CHECK(st_raw_call(fd, XS_OP_FM_UNMAP, 12345, 0, 0, &rep) == ENOENT, "unmap unknown");
        CHECK(st_raw_call(fd, XS_OP_FM_MAP, dom, 0, 0, &rep) == ENOENT, "map of a missing server");
        CHECK(st_raw_call(fd, XS_OP_EVT_BIND, dom, 3, 0, &rep) == EBADF, "bind without a handle");
        CHECK(st_raw_call(fd, XS_OP_EVT_UNBIND, 99999, 0, 0, &rep) == EBADF,
              "unbind without a handle");
        CHECK(st_raw_call(fd, XS_OP_WAKEFD, 999999, 0, 0, &rep) == ENOENT,
              "wakefd of a bogus handle");
        CHECK(st_raw_call(fd, XS_OP_IRQ_GET, dom, 1u << 31, 0, &rep) == ENOENT, "irq index");
        CHECK(st_raw_call(fd, XS_OP_DOM_DESTROY, 4242, 0, 0, &rep) == ESRCH, "destroy 4242");
        CHECK(st_raw_call(fd, XS_OP_DOM_CREATE, 0, 0, 0, &rep) == EINVAL, "0 vCPUs / empty name");
        CHECK(st_raw_call(fd, XS_OP_EVT_OPEN, 0, 0, 0, &rep) == 0, "evtchn open");
        CHECK(st_raw_call(fd, XS_OP_EVT_OPEN, 0, 0, 0, &rep) == EBUSY, "second evtchn open");
        CHECK(st_raw_call(fd, XS_OP_EVT_BIND, dom, 0, 0, &rep) == EINVAL, "bind port 0");
        CHECK(st_raw_call(fd, XS_OP_EVT_BIND, dom, ~0ull, 0, &rep) == EINVAL, "bind port ~0");
        CHECK(st_raw_call(fd, XS_OP_EVT_UNBIND, 0, 0, 0, &rep) == ENOTCONN, "unbind port 0");
        /* What a connection is, said once; introspection's arguments. */
        CHECK(st_raw_call(fd, XS_OP_CLIENT_KIND, 0, 0, 0, &rep) == EINVAL, "kind 0");
        CHECK(st_raw_call(fd, XS_OP_CLIENT_KIND, 99, 0, 0, &rep) == EINVAL, "kind 99");
        CHECK(st_raw_call(fd, XS_OP_CLIENT_KIND, XS_CLIENT_EVTCHN, 0, 0, &rep) == 0,
              "the kind an evtchn open gave, again");
        CHECK(st_raw_call(fd, XS_OP_CLIENT_KIND, XS_CLIENT_GUEST, 0, 0, &rep) == EBUSY,
              "another kind");
        CHECK(st_raw_call(fd, XS_OP_INTRO_HANDLE, 0, ~0ull, 0, &rep) == 0 && rep.val[0] == 0,
              "handles from id ~0");
        CHECK(st_raw_call(fd, XS_OP_INTRO_HANDLE, 1ull << 40, 0, 0, &rep) == 0 &&
              rep.val[0] == 0, "handles of pid 2^40");
        CHECK(st_raw_call(fd, XS_OP_INTRO_PORT, ~0ull, 0, 0, &rep) == ENOENT, "ports of id ~0");
        CHECK(st_raw_call(fd, XS_OP_INTRO_MAP, 1ull << 40, ~0ull, 0, &rep) == ESRCH,
              "mappings of domain 2^40");
        CHECK(st_raw_call(fd, XS_OP_INTRO_MAP, dom, 8, 0, &rep) == EINVAL, "mappings of server 8");
        CHECK(st_raw_call(fd, XS_OP_INTRO_MAP, dom, 1ull << 40, 0, &rep) == EINVAL,
              "mappings of server 2^40");
        CHECK(st_raw_call(fd, XS_OP_INTRO_MAP, dom, ~0ull, ~0ull, &rep) == 0 && rep.val[0] == 0,
              "mappings from id ~0");
        CHECK(st_raw_call(fd, XS_OP_INTRO_MAPPER, 0, 0, 0, &rep) == EINVAL, "history of pid 0");
        CHECK(st_raw_call(fd, XS_OP_INTRO_MAPPER, 1ull << 40, 0, 0, &rep) == EINVAL,
              "history of pid 2^40");
        CHECK(st_raw_call(fd, 10000, 0, 0, 0, &rep) == EOPNOTSUPP, "an op nobody defined");
        {
                /* Introspection is not for restricted connections. */
                int rfd = st_raw_connect();
                CHECK(st_raw_call(rfd, XS_OP_DM_RESTRICT, dom, 0, 0, &rep) == 0, "restrict");
                CHECK(st_raw_call(rfd, XS_OP_INTRO_HANDLE, 0, 0, 0, &rep) == EPERM,
                      "handles from a restricted connection");
                CHECK(st_raw_call(rfd, XS_OP_INTRO_MAPPER, 1, 0, 0, &rep) == EPERM,
                      "history from a restricted connection");
                close(rfd);
        }
        {
                struct xs_req nm = { .magic = XS_PROTO_MAGIC, .version = XS_PROTO_VERSION,
                                     .op = XS_OP_DOM_CREATE, .a = { 1 } };
                memset(nm.name, 'A', sizeof(nm.name));   /* no terminator */
                struct pollfd p = { .fd = fd, .events = POLLIN };
                CHECK(send(fd, &nm, sizeof(nm), 0) == sizeof(nm) && poll(&p, 1, 2000) == 1 &&
                      recv(fd, &rep, sizeof(rep), 0) == sizeof(rep) && rep.err == EINVAL,
                      "unterminated name");
        }
        close(fd);
        host_alive("bogus requests");

        /* Clients that die with a request in flight and with bound ports. */
        struct st_srv s;
        st_srv_up(&s, dom, 0xfe000000, 0xfe000fff);
        evtchn_port_t vp = s.page->vcpu_ioreq[0].vp_eport;
        xenevtchn_unbind(s.xce, s.lport[0]);
        for (int i = 0; i < 20; i++) {
                pid_t pid = fork();
                if (pid == 0) {
                        xenevtchn_handle *x = xenevtchn_open(NULL, 0);
                        if (!x) {
                                fprintf(stderr, "child open: %s\n", strerror(errno));
                                _exit(2);
                        }
                        if (xenevtchn_bind_interdomain(x, dom, vp) < 0) {
                                fprintf(stderr, "child bind: %s\n", strerror(errno));
                                _exit(3);
                        }
                        int cfd = st_raw_connect();
                        struct xs_req q = { .magic = XS_PROTO_MAGIC,
                                            .version = XS_PROTO_VERSION,
                                            .op = XS_OP_DM_NR_VCPUS, .a = { dom } };
                        for (int k = 0; k < 50; k++)
                                send(cfd, &q, sizeof(q), MSG_NOSIGNAL);
                        kill(getpid(), SIGKILL);
                        _exit(4);
                }
                int status;
                waitpid(pid, &status, 0);
                CHECK(WIFSIGNALED(status), "child %d status 0x%x", i, status);
        }
        /* Every killed owner's port was released: the remote port binds again. */
        int l = xenevtchn_bind_interdomain(s.xce, dom, vp);
        CHECK(l > 0, "bind after the killed owners: %s", strerror(errno));
        st_wait_port(s.xce, 1000, false);
        s.lport[0] = (evtchn_port_t)l;

        /* map_resource: a frame that would wrap; at most 16384 mappings per connection. */
        fd = st_raw_connect();
        uint64_t fa[5] = { dom, XENMEM_resource_ioreq_server, s.id, ~0ull, 1 };
        CHECK(st_raw_request(fd, XS_OP_FM_MAP, fa, 5, &rep) == EINVAL, "frame ~0");
        fa[3] = XENMEM_resource_ioreq_server_frame_ioreq(0);
        int mapped = 0;
        while (mapped < 16384 && st_raw_request(fd, XS_OP_FM_MAP, fa, 5, &rep) == 0)
                mapped++;
        CHECK(mapped == 16384, "%d mappings on one connection", mapped);
        CHECK(st_raw_request(fd, XS_OP_FM_MAP, fa, 5, &rep) == ENOMEM, "mapping 16385");
        CHECK(xsg_server_mappings(st_guest(), dom, s.id, NULL, 0) == 16385,
              "the server's mappings");
        close(fd);
        CHECK(xsg_server_mappings(st_guest(), dom, s.id, NULL, 0) == 1,
              "the server's mappings once that connection closed");

        /* Many connections at once, then gone. */
        int many[200];
        for (int i = 0; i < 200; i++)
                many[i] = st_raw_connect();
        for (int i = 0; i < 200; i++)
                close(many[i]);
        host_alive("200 connections");

        /* The server still works end to end. */
        struct st_async x = { .domid = dom, .vcpu = 0,
                              .io = { .space = XSG_MMIO, .dir = XSG_READ, .addr = 0xfe000000,
                                      .size = 4, .timeout_ms = 3000 } };
        st_async_start(&x);
        int p = st_wait_port(s.xce, 2000, false);
        CHECK(p == l, "request after the abuse");
        st_srv_answer(&s, 0, 0x42);
        CHECK(st_async_join(&x) == 0 && x.io.value == 0x42, "round trip after the abuse");
        st_srv_down(&s);
        return st_finish();
}
