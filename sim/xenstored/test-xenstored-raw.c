/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-xenstored against malformed input on a raw socket: unknown types,
 * missing NULs, oversized and truncated messages, quota overruns, random
 * messages and a client that never reads.  After each, the server must
 * still serve other clients.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <xenstore.h>
#include <xen/io/xs_wire.h>

#include "xenstored-test.h"

static const char *sock_path;

static int raw_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

        CHECK(fd >= 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
        CHECK(connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0);
        return fd;
}

static void send_all(int fd, const void *data, size_t len) {
        const char *p = data;

        while (len > 0) {
                ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

                CHECK(n > 0);
                p += n;
                len -= (size_t) n;
        }
}

static void raw_send(int fd, uint32_t type, uint32_t req_id, uint32_t tx_id, const void *body, size_t len) {
        struct xsd_sockmsg h = { .type = type, .req_id = req_id, .tx_id = tx_id, .len = (uint32_t) len };

        send_all(fd, &h, sizeof(h));
        if (len)
                send_all(fd, body, len);
}

/* Reads exactly len bytes within timeout_ms; false on EOF. */
static bool recv_exact(int fd, void *buf, size_t len, int timeout_ms) {
        char *p = buf;

        while (len > 0) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                ssize_t n;

                if (poll(&pfd, 1, timeout_ms) <= 0) {
                        fprintf(stderr, "no data from the server within %d ms\n", timeout_ms);
                        exit(EXIT_FAILURE);
                }
                n = recv(fd, p, len, 0);
                if (n == 0 || (n < 0 && errno == ECONNRESET))
                        return false;
                CHECK(n > 0);
                p += n;
                len -= (size_t) n;
        }
        return true;
}

/* Next message that is not a watch event; body NUL-terminated in buf. */
static void raw_reply(int fd, struct xsd_sockmsg *h, char *buf) {
        do {
                CHECK(recv_exact(fd, h, sizeof(*h), 5000));
                CHECK(h->len <= XENSTORE_PAYLOAD_MAX);
                CHECK(recv_exact(fd, buf, h->len, 5000));
                buf[h->len] = '\0';
        } while (h->type == XS_WATCH_EVENT);
}

#define expect_error(fd, type, req, tx, body, len, err) \
        expect_error_at(__LINE__, fd, type, req, tx, body, len, err)
static void expect_error_at(int line, int fd, uint32_t type, uint32_t req, uint32_t tx,
                            const void *body, size_t len, const char *err) {
        struct xsd_sockmsg h;
        char buf[XENSTORE_PAYLOAD_MAX + 1];

        raw_send(fd, type, req, tx, body, len);
        raw_reply(fd, &h, buf);
        if (h.type != XS_ERROR || strcmp(buf, err) != 0 || h.req_id != req) {
                fprintf(stderr, "line %d: reply type %u req %u \"%s\", expected XS_ERROR req %u \"%s\"\n",
                        line, h.type, h.req_id, buf, req, err);
                exit(EXIT_FAILURE);
        }
}

static void expect_ok(int fd, uint32_t type, uint32_t tx, const void *body, size_t len, char *reply) {
        struct xsd_sockmsg h;
        char buf[XENSTORE_PAYLOAD_MAX + 1];

        raw_send(fd, type, 77, tx, body, len);
        raw_reply(fd, &h, buf);
        if (h.type != type) {
                fprintf(stderr, "request type %u answered with type %u \"%s\"\n", type, h.type, buf);
                exit(EXIT_FAILURE);
        }
        CHECK(h.req_id == 77 && h.tx_id == tx);
        if (reply)
                memcpy(reply, buf, h.len + 1);
}

/* The server closes the connection (EOF) within 5 s. */
static void expect_closed(int fd) {
        static char buf[65536];

        for (;;) {
                struct pollfd pfd = { .fd = fd, .events = POLLIN };
                ssize_t n;

                CHECK(poll(&pfd, 1, 5000) == 1);
                n = recv(fd, buf, sizeof(buf), 0);
                if (n == 0 || (n < 0 && errno == ECONNRESET))
                        return;
                CHECK(n > 0);
        }
}

/* Waits (bounded) until the server reports exactly these live connections, watches and transactions. */
static void expect_stats(unsigned conns, unsigned watches, unsigned txs) {
        char want[96], *got = NULL;
        struct xs_handle *h;

        /* The asking connection counts too. */
        snprintf(want, sizeof(want), "connections=%u watches=%u transactions=%u ", conns + 1, watches, txs);
        h = xs_open(0);
        CHECK(h != NULL);
        for (int i = 0; i < 500; i++) {
                free(got);
                got = xs_control_command(h, "xensim-stats", want, 0);
                CHECK(got != NULL);
                if (strncmp(got, want, strlen(want)) == 0)
                        break;
                usleep(10000);
        }
        if (strncmp(got, want, strlen(want)) != 0) {
                fprintf(stderr, "server stats \"%s\", expected \"%s...\"\n", got, want);
                exit(EXIT_FAILURE);
        }
        free(got);
        xs_close(h);
}

/* Another client gets served. */
static void check_serving(void) {
        struct xs_handle *h = xs_open(0);
        unsigned len;
        char *v;

        CHECK(h != NULL);
        CHECK(xs_write(h, XBT_NULL, "/alive", "yes", 3));
        v = xs_read(h, XBT_NULL, "/alive", &len);
        CHECK(v && len == 3 && memcmp(v, "yes", 3) == 0);
        free(v);
        xs_close(h);
}

static void test_bad_requests(void) {
        int fd = raw_connect();
        char reply[XENSTORE_PAYLOAD_MAX + 1];

        /* Unknown types: ENOSYS, like xenstored; also the reply-only types and the removed XS_RESTRICT. */
        expect_error(fd, 999, 1, 0, "/", 2, "ENOSYS");
        expect_error(fd, XS_TYPE_COUNT, 2, 0, "", 0, "ENOSYS");
        expect_error(fd, XS_WATCH_EVENT, 3, 0, "/\0t", 4, "ENOSYS");
        expect_error(fd, XS_ERROR, 4, 0, "EINVAL", 7, "ENOSYS");
        expect_error(fd, XS_SET_TARGET + 1, 5, 0, "1", 2, "ENOSYS");
        expect_error(fd, XS_INVALID, 6, 0, "", 0, "ENOSYS");

        /* Missing or misplaced NULs. */
        expect_error(fd, XS_READ, 10, 0, "/tool", 5, "EINVAL");
        expect_error(fd, XS_READ, 11, 0, "", 0, "EINVAL");
        expect_error(fd, XS_READ, 12, 0, "/tool\0/x", 9, "EINVAL");
        expect_error(fd, XS_WRITE, 13, 0, "/x", 2, "EINVAL");
        expect_error(fd, XS_MKDIR, 14, 0, "/x", 2, "EINVAL");
        expect_error(fd, XS_RM, 15, 0, "", 0, "EINVAL");
        expect_error(fd, XS_DIRECTORY, 16, 0, "/", 1, "EINVAL");
        expect_error(fd, XS_GET_DOMAIN_PATH, 17, 0, "1", 1, "EINVAL");
        expect_error(fd, XS_IS_DOMAIN_INTRODUCED, 18, 0, "", 0, "EINVAL");
        expect_error(fd, XS_WATCH, 19, 0, "/x", 3, "EINVAL");
        expect_error(fd, XS_WATCH, 20, 0, "/x\0t\0u", 7, "EINVAL");
        expect_error(fd, XS_UNWATCH, 21, 0, "/x", 3, "EINVAL");
        expect_error(fd, XS_INTRODUCE, 22, 0, "1\0002", 4, "EINVAL");
        expect_error(fd, XS_TRANSACTION_END, 23, 0, "T", 1, "EINVAL");
        expect_error(fd, XS_CONTROL, 24, 0, "", 0, "EINVAL");
        expect_error(fd, XS_DIRECTORY_PART, 25, 0, "/", 2, "EINVAL");

        /* Bad values. */
        expect_error(fd, XS_SET_PERMS, 30, 0, "/tool\0x0", 9, "EINVAL");
        expect_error(fd, XS_SET_PERMS, 31, 0, "/tool\0r", 8, "EINVAL");
        expect_error(fd, XS_SET_PERMS, 32, 0, "/tool\0r1z", 10, "EINVAL");
        expect_error(fd, XS_SET_PERMS, 33, 0, "/tool", 6, "EINVAL");
        expect_error(fd, XS_SET_PERMS, 34, 0, "@foo\0r0", 8, "EINVAL");
        expect_error(fd, XS_TRANSACTION_END, 35, 0, "X", 2, "EINVAL");
        expect_error(fd, XS_INTRODUCE, 36, 0, "1\0002\0000", 6, "EINVAL");
        expect_error(fd, XS_RELEASE, 37, 0, "0", 2, "EINVAL");
        expect_error(fd, XS_RELEASE, 38, 0, "junk", 5, "EINVAL");
        expect_error(fd, XS_READ, 39, 0, "/bad path", 10, "EINVAL");

        /* Binary data after the path of WRITE is the value, NULs included. */
        expect_ok(fd, XS_WRITE, 0, "/raw\0a\0b", 8, reply);
        CHECK(strcmp(reply, "OK") == 0);
        {
                struct xsd_sockmsg h;
                char buf[XENSTORE_PAYLOAD_MAX + 1];

                raw_send(fd, XS_READ, 40, 0, "/raw", 5);
                raw_reply(fd, &h, buf);
                CHECK(h.type == XS_READ && h.len == 3 && memcmp(buf, "a\0b", 3) == 0);
        }

        /* Transactions: unknown id, nesting, end outside. */
        expect_error(fd, XS_READ, 50, 12345, "/raw", 5, "ENOENT");
        expect_error(fd, XS_TRANSACTION_END, 51, 0, "T", 2, "ENOENT");
        expect_ok(fd, XS_TRANSACTION_START, 0, "", 1, reply);
        {
                uint32_t tx = (uint32_t) strtoul(reply, NULL, 10);

                CHECK(tx != 0);
                expect_error(fd, XS_TRANSACTION_START, 52, tx, "", 1, "EBUSY");
                /* WATCH ignores the transaction id, even an unknown one. */
                expect_ok(fd, XS_WATCH, 999999, "/raw\0tok", 9, NULL);
                expect_ok(fd, XS_WRITE, tx, "/raw\0c", 6, NULL);
                expect_ok(fd, XS_TRANSACTION_END, tx, "T", 2, NULL);
                expect_error(fd, XS_TRANSACTION_END, 53, tx, "T", 2, "ENOENT");
        }
        /* Open transactions beyond the limit (10). */
        for (int i = 0; i < 10; i++)
                expect_ok(fd, XS_TRANSACTION_START, 0, "", 1, NULL);
        expect_error(fd, XS_TRANSACTION_START, 54, 0, "", 1, "ENOSPC");

        /* Pipelined requests are answered in order. */
        {
                struct xsd_sockmsg h;
                char buf[XENSTORE_PAYLOAD_MAX + 1];
                char many[3 * (sizeof(struct xsd_sockmsg) + 5)];
                size_t off = 0;

                for (uint32_t i = 0; i < 3; i++) {
                        struct xsd_sockmsg m = { .type = XS_READ, .req_id = 100 + i, .len = 5 };

                        memcpy(many + off, &m, sizeof(m));
                        memcpy(many + off + sizeof(m), "/raw", 5);
                        off += sizeof(m) + 5;
                }
                send_all(fd, many, off);
                for (uint32_t i = 0; i < 3; i++) {
                        raw_reply(fd, &h, buf);
                        CHECK(h.type == XS_READ && h.req_id == 100 + i && h.len == 1 && buf[0] == 'c');
                }
        }
        close(fd);
        check_serving();
}

static void test_watch_quota(void) {
        int fd = raw_connect();
        char body[64];
        int i, n;

        for (i = 0; i < 128; i++) {
                n = snprintf(body, sizeof(body), "/q/%d", i);
                memcpy(body + n + 1, "tok", 4);
                expect_ok(fd, XS_WATCH, 0, body, (size_t) n + 5, NULL);
        }
        n = snprintf(body, sizeof(body), "/q/%d", i);
        memcpy(body + n + 1, "tok", 4);
        expect_error(fd, XS_WATCH, 9, 0, body, (size_t) n + 5, "E2BIG");
        /* RESET_WATCHES frees them all. */
        expect_ok(fd, XS_RESET_WATCHES, 0, "", 0, NULL);
        expect_ok(fd, XS_WATCH, 0, body, (size_t) n + 5, NULL);
        close(fd);
        check_serving();
}

static void test_oversized_and_truncated(void) {
        struct xsd_sockmsg h = { .type = XS_WRITE, .len = XENSTORE_PAYLOAD_MAX + 1 };
        int fd;

        /* A length above XENSTORE_PAYLOAD_MAX: the server drops the connection. */
        fd = raw_connect();
        send_all(fd, &h, sizeof(h));
        expect_closed(fd);
        close(fd);
        check_serving();

        fd = raw_connect();
        h.len = 0xffffffffu;
        send_all(fd, &h, sizeof(h));
        expect_closed(fd);
        close(fd);
        check_serving();

        /* Exactly the limit is fine. */
        {
                static char big[XENSTORE_PAYLOAD_MAX];
                char reply[XENSTORE_PAYLOAD_MAX + 1];

                fd = raw_connect();
                memset(big, 'v', sizeof(big));
                memcpy(big, "/big", 5);
                expect_ok(fd, XS_WRITE, 0, big, sizeof(big), reply);
                close(fd);
        }

        /* Half a header, then gone. */
        fd = raw_connect();
        send_all(fd, &h, 7);
        close(fd);
        check_serving();

        /* A header and half a body, then gone; with a watch and a transaction to clean up. */
        fd = raw_connect();
        expect_ok(fd, XS_WATCH, 0, "/trunc\0t", 9, NULL);
        expect_ok(fd, XS_TRANSACTION_START, 0, "", 1, NULL);
        h = (struct xsd_sockmsg) { .type = XS_WRITE, .len = 100 };
        send_all(fd, &h, sizeof(h));
        send_all(fd, "/trunc\0xx", 9);
        expect_stats(1, 1, 1);
        close(fd);
        /* Its watch and transaction are gone with it. */
        expect_stats(0, 0, 0);
        check_serving();
}

/* Random requests: each gets exactly one reply, of its own type or XS_ERROR. */
static void test_random(void) {
        static const char *const paths[] = { "/r", "/r/a", "r/b", "@introduceDomain", "/r//x", "", "/" };
        int fd = raw_connect();
        uint32_t seed = 12345;
        char body[512];

        for (int i = 0; i < 3000; i++) {
                struct xsd_sockmsg h;
                char buf[XENSTORE_PAYLOAD_MAX + 1];
                uint32_t type, len, tx;

                seed = seed * 1103515245u + 12345u;
                type = (seed >> 8) % (XS_TYPE_COUNT + 2);
                /* Not: CONTROL's simulator commands, RESET_WATCHES, RELEASE of dom0 paths... all allowed. */
                seed = seed * 1103515245u + 12345u;
                len = (seed >> 8) % sizeof(body);
                seed = seed * 1103515245u + 12345u;
                tx = ((seed >> 8) % 4 == 0) ? (seed >> 12) % 4 : 0;
                if ((seed >> 4) % 2 == 0) {
                        /* Structured: a path, a NUL, random rest. */
                        const char *p = paths[(seed >> 16) % (sizeof(paths) / sizeof(paths[0]))];
                        size_t pl = strlen(p) + 1;

                        memcpy(body, p, pl);
                        for (size_t j = pl; j < len; j++) {
                                seed = seed * 1103515245u + 12345u;
                                body[j] = (seed >> 16) % 5 == 0 ? '\0' : (char) ('a' + (seed >> 8) % 26);
                        }
                        if (len < pl)
                                len = (uint32_t) pl;
                } else {
                        for (size_t j = 0; j < len; j++) {
                                seed = seed * 1103515245u + 12345u;
                                body[j] = (char) (seed >> 16);
                        }
                }
                /* Never ask to end a transaction that may be the one other requests use: fine either way. */
                raw_send(fd, type, (uint32_t) i, tx, body, len);
                raw_reply(fd, &h, buf);
                if (h.req_id != (uint32_t) i || (h.type != type && h.type != XS_ERROR)) {
                        fprintf(stderr, "random request %d type %u: reply type %u req %u\n",
                                i, type, h.type, h.req_id);
                        exit(EXIT_FAILURE);
                }
        }
        close(fd);
        check_serving();
}

/* A client that watches everything and never reads is cut off; the writer is not blocked. */
static void test_slow_reader(TestServer *ts) {
        static char path[1100];
        struct xs_handle *h;
        int fd = raw_connect();

        expect_ok(fd, XS_WATCH, 0, "/\0all", 6, NULL);
        h = xs_open(0);
        CHECK(h != NULL);
        /* About 1 KiB per event: socket buffers and then the pending-output bound fill up. */
        memset(path, 'p', sizeof(path) - 1);
        for (int i = 0; i < 2000; i++) {
                int n = snprintf(path, sizeof(path), "/slow/%d/", i);

                path[n] = 'p';
                CHECK(xs_write(h, XBT_NULL, path, "1", 1));
        }
        xs_close(h);
        CHECK(test_server_alive(ts));
        expect_closed(fd);
        close(fd);
        check_serving();
}

int main(void) {
        static const char *const args[] = { "--max-pending-bytes", "65536", NULL };
        TestServer ts;

        test_watchdog(120);
        test_server_start(&ts, false, args);
        sock_path = ts.socket;

        expect_stats(0, 0, 0);
        test_bad_requests();
        test_watch_quota();
        test_oversized_and_truncated();
        test_random();
        test_slow_reader(&ts);

        CHECK(test_server_alive(&ts));
        expect_stats(0, 0, 0);
        test_server_stop(&ts);
        printf("ok\n");
        return EXIT_SUCCESS;
}
