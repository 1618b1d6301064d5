/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Every bad input gives a clear error and loses nothing: configuration
 * errors (file:line, -n, a daemon that refuses to start), each protocol
 * field, fd abuse (none, two, not an eventfd, too many), peers refused at
 * accept (uid/gid not allowed, connection limits), registration limits and
 * collisions, registrations while the guest is not running.  Afterwards the
 * daemon holds exactly the fds it held before and still serves kicks.
 */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "itlib.h"
#include "testutil.h"

#define BASE    UINT64_C(0xfe000000)
#define NOTIFY  XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY
static uint32_t seq = 1000;

static void dump_fds(pid_t pid) {
        char path[64];
        DIR *d;

        snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
        d = opendir(path);
        for (struct dirent *e; d && (e = readdir(d));) {
                char link[400], target[256];
                ssize_t n;

                if (e->d_name[0] == '.')
                        continue;
                snprintf(link, sizeof link, "%s/%s", path, e->d_name);
                n = readlink(link, target, sizeof target - 1);
                target[n > 0 ? n : 0] = '\0';
                it_log("daemon fd %s -> %s", e->d_name, target);
        }
        if (d)
                closedir(d);
}

/*
 * The daemon closes a departed client's descriptors when its loop next runs: wait (bounded)
 * until it holds `want` descriptors, and return what it holds then.
 */
/* The daemon's descriptors, less its spare workers' (their number varies as they are used and replaced). */
static unsigned own_fds(pid_t pid) {
        (void) pid;
        return it_own_fds(it_current);
}

static unsigned wait_fds(pid_t pid, unsigned want) {
        unsigned n = own_fds(pid);

        for (int i = 0; i < 100 && n != want; i++) {
                usleep(20000);
                n = own_fds(pid);
        }
        return n;
}

/* send a raw packet with fds, return the reply's error */
static int raw(int fd, void *msg, size_t len, const int *fds, unsigned nfds) {
        struct xirq_hdr h;

        memcpy(&h, msg, sizeof h);
        if (it_send(fd, msg, len, fds, nfds) < 0)
                IT_FAIL("send: %m");
        return it_reply_error(fd, le16toh(h.type) & (uint16_t) ~XIRQ_MSG_REPLY, le32toh(h.seq));
}

static struct xirq_assign assign_msg(uint16_t type, uint8_t space, uint8_t len, uint8_t match, uint64_t addr,
                                     uint64_t value, uint64_t mask) {
        struct xirq_assign a = {
                .hdr = { .type = htole16(type), .seq = htole32(seq++) },
                .space = space, .len = len, .match = match,
                .addr = htole64(addr), .value = htole64(value), .mask = htole64(mask),
        };
        return a;
}

static struct xirq_hello hello_msg(uint32_t magic, uint16_t vmin, uint16_t vmax) {
        struct xirq_hello h = {
                .hdr = { .type = htole16(XIRQ_MSG_HELLO), .seq = htole32(seq++) },
                .magic = htole32(magic), .version_min = htole16(vmin), .version_max = htole16(vmax),
        };
        return h;
}

/* as another user: connect, HELLO; returns the HELLO error, or 200 + connect errno, or 250 if not closed after */
static int hello_as(It *it, const char *guest, uid_t uid, gid_t gid) {
        pid_t pid = fork();
        int st;

        if (pid < 0)
                IT_FAIL("fork: %m");
        if (pid == 0) {
                int fd, e;

                if (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
                        _exit(199);
                fd = it_connect_errno(it, guest);
                if (fd < 0)
                        _exit(200 + (-fd & 31));
                e = it_hello(fd, NULL);
                if (e != 0 && !it_closed(fd, IT_TIMEOUT_MS))
                        _exit(250);
                _exit(e & 0x7f);
        }
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
                IT_FAIL("child as uid %u did not exit normally", (unsigned) uid);
        return WEXITSTATUS(st);
}

static void config_errors(It *it) {
        char out[4096];
        int st;

        /* valid */
        st = it_daemon_run(it, out, sizeof out, "-n", "-c", it->conf, NULL);
        CHECK(st == 0 && strstr(out, "3 guests"), "-n on a valid config: status %d, output: %s", st, out);

        /* an unknown key in a guest file, on line 4 */
        it_write_guest(it, "bad", "socket_mode = 0600\nno_such_key = 1\n");
        st = it_daemon_run(it, out, sizeof out, "-n", "-c", it->conf, NULL);
        CHECK(st == 1 && strstr(out, "bad.conf:4"), "-n with an unknown key: status %d, output: %s", st, out);
        it_remove_guest(it, "bad");

        /* an out-of-range value in the global file, on line 7 */
        it_write_global(it, "[limits]\nmax_connections = 0\n");
        st = it_daemon_run(it, out, sizeof out, "-n", "-c", it->conf, NULL);
        CHECK(st == 1 && strstr(out, "xen-ioreqd.conf:7"), "-n with max_connections = 0: status %d, output: %s", st,
              out);

        /* the daemon itself refuses to start on it, before READY */
        st = it_daemon_run(it, out, sizeof out, "-c", it->conf, NULL);
        CHECK(st == 1 && strstr(out, "xen-ioreqd.conf:7"), "start with a bad config: status %d, output: %s", st, out);
        CHECK(!it_wait_note(it, "READY=1", 200), "no READY=1 from a daemon with a bad config");

        /* a missing file given with -c */
        st = it_daemon_run(it, out, sizeof out, "-n", "-c", "/nonexistent/xen-ioreqd.conf", NULL);
        CHECK(st == 1 && strstr(out, "/nonexistent/xen-ioreqd.conf"), "-n with a missing file: %d %s", st, out);

        /* usage */
        st = it_daemon_run(it, out, sizeof out, "-x", NULL);
        CHECK_EQ(st, 2, "exit status on a bad option");
}

int main(int argc, char **argv) {
        It it;
        struct xirq_query_reply q;
        struct xirq_assign a;
        struct xirq_hello h;
        uint32_t g1, domid;
        unsigned fds_before, fds_serving;
        int c, c2, c3, efd, efd2, pipefd[2], two[2], five[5], sv[2], filefd, r;

        it_init(&it, "it-input", argc, argv);
        it_write_global(&it, "[limits]\nmax_client_registrations = 3\nmax_connections_per_uid = 3\n");
        it_write_guest(&it, "g1", "socket_mode = 0666\nallow_users = root\nallow_groups = 4242\n");
        it_write_guest(&it, "absent", NULL);
        it_write_guest(&it, "small", "max_connections = 2\nmax_registrations = 2\n");
        config_errors(&it);
        it_write_global(&it, "[limits]\nmax_client_registrations = 3\nmax_connections_per_uid = 3\n");

        g1 = it_domain_create(&it, "g1", 1);
        (void) it_domain_create(&it, "small", 1);
        it_daemon_start(&it, NULL);

        /* guest-wide limits: connections (EUSERS) and registrations (ENOSPC) */
        {
                int s1 = it_connect(&it, "small"), s2 = it_connect(&it, "small"), s3 = it_connect(&it, "small");
                int e = it_eventfd();

                CHECK_EQ(it_hello(s1, NULL), 0, "first connection to a guest with max_connections = 2");
                CHECK_EQ(it_hello(s2, NULL), 0, "second connection");
                CHECK_EQ(it_hello(s3, NULL), EUSERS, "third connection");
                CHECK(it_closed(s3, IT_TIMEOUT_MS), "the third connection is closed");
                CHECK_EQ(it_virtio(s1, BASE, 0, false, e), 0, "first registration of max_registrations = 2");
                CHECK_EQ(it_virtio(s2, BASE, 1, false, e), 0, "second registration, another connection");
                CHECK_EQ(it_virtio(s2, BASE, 2, false, e), ENOSPC, "third registration on the guest");
                close(s1);
                close(s2);
                close(s3);
                close(e);
        }

        /* a client that never reads its replies is dropped, not waited for */
        {
                int f = it_connect(&it, "g1");
                struct xirq_query qq = { .hdr = { .type = htole16(XIRQ_MSG_QUERY) } };
                bool refused = false;
                int waits = 0;

                CHECK_EQ(it_hello(f, NULL), 0, "HELLO of the flooding client");
                for (int i = 0; i < 100000 && !refused && waits < 2000; i++) {
                        qq.hdr.seq = htole32(seq++);
                        if (send(f, &qq, sizeof qq, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
                                if (errno == EAGAIN) {
                                        waits++;
                                        usleep(1000);
                                        continue;
                                }
                                refused = true;
                        }
                }
                CHECK(refused || it_closed(f, IT_TIMEOUT_MS), "a client not reading its replies is dropped");
                close(f);
        }

        /* a guest that is not running: state ABSENT, registrations refused with ESRCH */
        c = it_connect(&it, "absent");
        CHECK_EQ(it_hello(c, &domid), 0, "HELLO on a guest that is not running");
        CHECK_EQ(domid, 0xffffffffu, "domid of a guest that is not running");
        CHECK_EQ(it_query(c, &q), 0, "QUERY");
        CHECK_EQ(q.state, XIRQ_GUEST_ABSENT, "state of a guest that is not running");
        efd = it_eventfd();
        CHECK_EQ(it_virtio(c, BASE, 0, false, efd), ESRCH, "registration while the guest is not running");
        close(c);

        /* one server set up and torn down first: what the Xen libraries keep open for good is then open */
        c = it_connect(&it, "g1");
        CHECK_EQ(it_hello(c, NULL), 0, "HELLO");
        CHECK_EQ(it_virtio(c, BASE, 0, false, efd), 0, "warm-up registration");
        CHECK_EQ(it_virtio(c, BASE, 0, true, -1), 0, "warm-up deassign");
        close(c);

        c = it_connect(&it, "g1");
        CHECK_EQ(it_query(c, &q), EPROTO, "QUERY before HELLO");
        usleep(50000);
        fds_before = own_fds(it.daemon);
        if (getenv("IT_DEBUG"))
                dump_fds(it.daemon);

        /* HELLO */
        h = hello_msg(0x12345678, 1, 1);
        CHECK_EQ(raw(c, &h, sizeof h, NULL, 0), EPROTO, "HELLO with a wrong magic");
        h = hello_msg(XIRQ_PROTO_MAGIC, XIRQ_PROTO_VERSION + 1, 7);
        CHECK_EQ(raw(c, &h, sizeof h, NULL, 0), EPROTONOSUPPORT, "HELLO offering only versions above the daemon's");
        h = hello_msg(XIRQ_PROTO_MAGIC, 2, 1);
        CHECK_EQ(raw(c, &h, sizeof h, NULL, 0), EINVAL, "HELLO with version_min > version_max");
        h = hello_msg(XIRQ_PROTO_MAGIC, 1, 1);
        CHECK_EQ(raw(c, &h, sizeof h - 1, NULL, 0), EBADMSG, "HELLO one byte short");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EPROTO, "ASSIGN before HELLO");
        CHECK_EQ(it_hello(c, &domid), 0, "HELLO");
        CHECK_EQ(domid, g1, "domid in HELLO");
        h = hello_msg(XIRQ_PROTO_MAGIC, 1, 1);
        CHECK_EQ(raw(c, &h, sizeof h, NULL, 0), EPROTO, "a second HELLO");

        /* framing */
        a = assign_msg(0x0099, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, NULL, 0), EPROTO, "unknown message type");
        a = assign_msg(XIRQ_MSG_ASSIGN | XIRQ_MSG_REPLY, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EPROTO, "a request with the reply bit");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        a.hdr.flags = htole16(1);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EPROTO, "flags != 0");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a - 1, &efd, 1), EBADMSG, "ASSIGN one byte short");
        {
                uint8_t big[300];

                memset(big, 0, sizeof big);
                memcpy(big, &a, sizeof a);
                CHECK_EQ(raw(c, big, sizeof big, &efd, 1), EBADMSG, "a 300-byte ASSIGN");
                /* an unknown type is EPROTO whatever its length */
                big[0] = 0x7f;
                big[1] = 0x00;
                CHECK_EQ(raw(c, big, sizeof big, NULL, 0), EPROTO, "a 300-byte message of an unknown type");
                CHECK_EQ(raw(c, big, 16, NULL, 0), EPROTO, "a 16-byte message of an unknown type");
        }
        /* a version 2 request on a connection that negotiated version 1 */
        {
                struct xirq_unclaim u = { .hdr = { .type = htole16(XIRQ_MSG_UNCLAIM) }, .id = htole32(1) };

                CHECK_EQ(raw(c, &u, sizeof u, NULL, 0), EPROTO, "UNCLAIM on a version 1 connection");
        }

        /* each field of ASSIGN */
        a = assign_msg(XIRQ_MSG_ASSIGN, 3, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EINVAL, "space 3");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 3, XIRQ_MATCH_ANY, BASE, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EINVAL, "len 3");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, 7, BASE, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EINVAL, "match mode 7");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        a.reserved0 = 1;
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EINVAL, "reserved0 != 0");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        a.reserved1 = htole32(1);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EINVAL, "reserved1 != 0");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_MASK, BASE, 0x10000, 0xffff);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EINVAL, "MASK with value outside the mask");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 2, XIRQ_MATCH_MASK, BASE, 0, 0x1ffff);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EINVAL, "MASK wider than len");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 1, 0);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EINVAL, "ANY with a value");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 2, XIRQ_MATCH_EXACT, BASE, 0x10000, 0);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EINVAL, "EXACT value wider than len");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 8, XIRQ_MATCH_ANY, UINT64_MAX - 3, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EINVAL, "addr + len wraps");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_PIO, 4, XIRQ_MATCH_ANY, 0xfffe, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EINVAL, "PIO beyond 0xffff");
        {
                struct xirq_virtio_mmio v = {
                        .hdr = { .type = htole16(XIRQ_MSG_VIRTIO_MMIO), .seq = htole32(seq++) },
                        .base = htole64(BASE), .vflags = htole16(0x80),
                };
                CHECK_EQ(raw(c, &v, sizeof v, &efd, 1), EINVAL, "unknown virtio flags");
                v.hdr.seq = htole32(seq++);
                v.vflags = 0;
                v.base = htole64(BASE + 2);
                CHECK_EQ(raw(c, &v, sizeof v, &efd, 1), EINVAL, "virtio base not aligned");
        }

        /* fd abuse */
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, NULL, 0), EBADF, "ASSIGN without an fd");
        efd2 = it_eventfd();
        two[0] = efd;
        two[1] = efd2;
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, two, 2), EBADF, "ASSIGN with two fds");
        CHECK(pipe2(pipefd, O_CLOEXEC) == 0, "pipe");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, &pipefd[1], 1), EINVAL, "ASSIGN with a pipe");
        filefd = open(it.conf, O_RDONLY | O_CLOEXEC);
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, &filefd, 1), EINVAL, "ASSIGN with a regular file");
        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, &sv[0], 1), EINVAL, "ASSIGN with a socket");
        a = assign_msg(XIRQ_MSG_DEASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE, 0, 0);
        CHECK_EQ(raw(c, &a, sizeof a, &efd, 1), EBADF, "DEASSIGN with an fd");
        {
                struct xirq_query qq = { .hdr = { .type = htole16(XIRQ_MSG_QUERY), .seq = htole32(seq++) } };

                CHECK_EQ(raw(c, &qq, sizeof qq, &efd, 1), EBADF, "QUERY with an fd");
        }

        /* collisions, like KVM: EEXIST */
        CHECK_EQ(it_virtio(c, BASE, 0, false, efd), 0, "first registration");
        fds_serving = own_fds(it.daemon);
        CHECK_EQ(it_virtio(c, BASE, 0, false, efd2), EEXIST, "the same queue again");
        CHECK_EQ(it_assign(c, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE + NOTIFY, 0, 0, efd2), EEXIST,
                 "ANY over a MASK registration");
        CHECK_EQ(it_assign(c, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE + NOTIFY + 2, 0, 0, efd2), EEXIST,
                 "an overlapping range");
        CHECK_EQ(it_deassign(c, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_MASK, BASE + NOTIFY, 5, 0xffff), ENOENT,
                 "DEASSIGN of a queue never registered");

        /* another connection cannot remove it */
        c2 = it_connect(&it, "g1");
        CHECK_EQ(it_hello(c2, NULL), 0, "HELLO on a second connection");
        CHECK_EQ(it_virtio(c2, BASE, 0, true, -1), ENOENT, "DEASSIGN of another connection's registration");

        /* per-connection registration limit (3) */
        CHECK_EQ(it_virtio(c, BASE, 1, false, efd2), 0, "second registration");
        CHECK_EQ(it_virtio(c, BASE, 2, false, efd2), 0, "third registration");
        CHECK_EQ(it_virtio(c, BASE, 3, false, efd2), ENOSPC, "registration beyond max_client_registrations");
        CHECK_EQ(it_virtio(c2, BASE, 3, false, efd2), 0, "the other connection has its own limit");

        /* too many fds: the control data is truncated; the request is refused, the connection stays */
        for (int i = 0; i < 5; i++)
                five[i] = efd2;
        c3 = it_connect(&it, "g1");
        CHECK_EQ(it_hello(c3, NULL), 0, "HELLO on a third connection");
        a = assign_msg(XIRQ_MSG_ASSIGN, XIRQ_SPACE_MMIO, 4, XIRQ_MATCH_ANY, BASE + 0x100, 0, 0);
        CHECK_EQ(raw(c3, &a, sizeof a, five, 5), EMFILE, "an ASSIGN whose 5 fds were cut off");
        CHECK_EQ(it_virtio(c3, BASE, 4, false, efd2), 0, "the connection still serves after that");
        CHECK_EQ(it_virtio(c3, BASE, 4, true, -1), 0, "and removes what it made");
        close(c3);

        /* a packet too short for a header: no reply can be formed, closed */
        c3 = it_connect(&it, "g1");
        CHECK(it_send(c3, "abc", 3, NULL, 0) == 0, "sending 3 bytes");
        CHECK(it_closed(c3, IT_TIMEOUT_MS), "a connection sending 3 bytes is closed");
        close(c3);

        /* connections per uid (3): c, c2 and one more; the 4th is told EUSERS and closed */
        c3 = it_connect(&it, "g1");
        CHECK_EQ(it_hello(c3, NULL), 0, "third connection of root");
        {
                int c4 = it_connect(&it, "g1"), c5 = it_connect(&it, "g1");

                CHECK_EQ(it_hello(c4, NULL), EUSERS, "fourth connection of root");
                CHECK(it_closed(c4, IT_TIMEOUT_MS), "the refused connection is closed");
                close(c4);
                /* a refused peer that sends nothing is not kept waiting forever */
                CHECK(it_closed(c5, IT_TIMEOUT_MS), "a silent refused connection is closed after a while");
                close(c5);
        }

        /* peers: uid 65534 not allowed, unless its gid is */
        r = hello_as(&it, "g1", 65534, 65534);
        CHECK_EQ(r, EACCES, "HELLO of uid 65534 gid 65534 (not allowed)");
        r = hello_as(&it, "g1", 65534, 4242);
        CHECK_EQ(r, 0, "HELLO of uid 65534 gid 4242 (allowed group)");

        /* the kicks still work, counted once */
        CHECK_EQ(it_write(&it, g1, 0, XSG_MMIO, BASE + NOTIFY, 4, 0), 0, "kick");
        CHECK_EQ(it_efd_take(efd), 1, "kicks of queue 0");
        CHECK_EQ(it_query(c, &q), 0, "QUERY");
        CHECK_EQ(q.kicks, 1, "kicks");
        CHECK_EQ(q.registrations, 4, "registrations of the guest");
        CHECK_EQ(q.client_registrations, 3, "registrations of this connection");
        CHECK(it_daemon_alive(&it), "the daemon survived");

        /*
         * nothing leaked: with the server up, one more connection (c2) and one more eventfd (efd2,
         * three registrations of one eventfd: the daemon keeps one descriptor of it)
         */
        close(c3);
        CHECK_EQ(wait_fds(it.daemon, fds_serving + 1 + 1), fds_serving + 1 + 1,
                 "fds held by the daemon (c2 and efd2 added)");
        close(c2);
        close(c);
        if (wait_fds(it.daemon, fds_before - 1) != fds_before - 1)
                dump_fds(it.daemon);
        CHECK_EQ(own_fds(it.daemon), fds_before - 1, "fds held by the daemon after every client left");

        it_daemon_signal(&it, SIGTERM);
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "exit status");
        close(efd);
        close(efd2);
        it_fini(&it);
        return 0;
}
