/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-xenstored watches through the real libxenstore, read the way
 * xen-ioreqd reads them: poll() on xs_fileno(), then xs_check_watch() until
 * it reports EAGAIN.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

#include <xenstore.h>

#include "xenstored-test.h"

/* Next watch event within timeout_ms, or NULL.  Caller frees. */
static char **next_event(struct xs_handle *h, int timeout_ms) {
        struct pollfd pfd = { .fd = xs_fileno(h), .events = POLLIN };
        char **ev;

        CHECK(pfd.fd >= 0);
        ev = xs_check_watch(h);
        if (ev)
                return ev;
        CHECK(errno == EAGAIN);
        if (poll(&pfd, 1, timeout_ms) <= 0)
                return NULL;
        ev = xs_check_watch(h);
        CHECK(ev != NULL);
        return ev;
}

#define expect_event(h, path, token) expect_event_at(__LINE__, h, path, token)
static void expect_event_at(int line, struct xs_handle *h, const char *path, const char *token) {
        char **ev = next_event(h, 5000);

        if (!ev) {
                fprintf(stderr, "line %d: no watch event %s/%s within 5 s\n", line, path, token);
                exit(EXIT_FAILURE);
        }
        if (strcmp(ev[XS_WATCH_PATH], path) != 0 || strcmp(ev[XS_WATCH_TOKEN], token) != 0) {
                fprintf(stderr, "line %d: watch event %s/%s, expected %s/%s\n", line,
                        ev[XS_WATCH_PATH], ev[XS_WATCH_TOKEN], path, token);
                exit(EXIT_FAILURE);
        }
        free(ev);
}

#define expect_no_event(h) expect_no_event_at(__LINE__, h)
static void expect_no_event_at(int line, struct xs_handle *h) {
        /* A request round trip first: any event caused before it has arrived by then. */
        unsigned len;
        char **ev;

        free(xs_read(h, XBT_NULL, "/", &len));
        ev = next_event(h, 100);
        if (ev) {
                fprintf(stderr, "line %d: unexpected watch event %s/%s\n", line,
                        ev[XS_WATCH_PATH], ev[XS_WATCH_TOKEN]);
                exit(EXIT_FAILURE);
        }
}

static void test_node_watches(struct xs_handle *h, struct xs_handle *other) {
        /* Fires once at registration, even for a missing node (FACTS 9d). */
        CHECK(xs_watch(h, "/w", "T1"));
        expect_event(h, "/w", "T1");
        expect_no_event(h);

        /* Changes of the node or below it, by any client. */
        CHECK(xs_write(other, XBT_NULL, "/w/x/y", "1", 1));
        expect_event(h, "/w/x/y", "T1");
        CHECK(xs_write(h, XBT_NULL, "/w", "v", 1));
        expect_event(h, "/w", "T1");
        CHECK(xs_mkdir(other, XBT_NULL, "/w/m"));
        expect_event(h, "/w/m", "T1");
        /* Not: siblings with a common prefix, existing MKDIR, other trees. */
        CHECK(xs_write(other, XBT_NULL, "/wx", "1", 1));
        CHECK(xs_mkdir(other, XBT_NULL, "/w/m"));
        CHECK(xs_write(other, XBT_NULL, "/other", "1", 1));
        expect_no_event(h);

        /* Permission changes fire too. */
        {
                struct xs_permissions p = { .id = 0, .perms = XS_PERM_READ };

                CHECK(xs_set_permissions(other, XBT_NULL, "/w/m", &p, 1));
                expect_event(h, "/w/m", "T1");
        }

        /* A second watch on a deeper node; recursive RM fires it exactly and the outer one at the root. */
        CHECK(xs_watch(h, "/w/x/y", "T2"));
        expect_event(h, "/w/x/y", "T2");
        CHECK(xs_rm(other, XBT_NULL, "/w"));
        expect_event(h, "/w/x/y", "T2");
        expect_event(h, "/w", "T1");
        expect_no_event(h);

        /* Duplicate registration. */
        CHECK_ERRNO(xs_watch(h, "/w", "T1") == false, EEXIST);
        /* Same path, other token: a separate watch. */
        CHECK(xs_watch(h, "/w", "T3"));
        expect_event(h, "/w", "T3");
        CHECK(xs_write(other, XBT_NULL, "/w", "", 0));
        expect_event(h, "/w", "T1");
        expect_event(h, "/w", "T3");

        /* UNWATCH */
        CHECK(xs_unwatch(h, "/w", "T1"));
        CHECK(xs_unwatch(h, "/w", "T3"));
        CHECK(xs_unwatch(h, "/w/x/y", "T2"));
        CHECK_ERRNO(xs_unwatch(h, "/w", "T1") == false, ENOENT);
        CHECK(xs_write(other, XBT_NULL, "/w/z", "1", 1));
        expect_no_event(h);

        /* A watch on / sees everything. */
        CHECK(xs_watch(h, "/", "ROOT"));
        expect_event(h, "/", "ROOT");
        CHECK(xs_write(other, XBT_NULL, "/deep/er", "1", 1));
        expect_event(h, "/deep/er", "ROOT");
        CHECK(xs_unwatch(h, "/", "ROOT"));

        /* Relative watches get relative paths. */
        CHECK(xs_watch(h, "rel", "R"));
        expect_event(h, "rel", "R");
        CHECK(xs_write(other, XBT_NULL, "/local/domain/0/rel/k", "1", 1));
        expect_event(h, "rel/k", "R");
        CHECK(xs_unwatch(h, "rel", "R"));

        /* Invalid watch paths. */
        CHECK_ERRNO(xs_watch(h, "/a//b", "X") == false, EINVAL);
        CHECK_ERRNO(xs_watch(h, "/a/", "X") == false, EINVAL);
}

static void test_transaction_events(struct xs_handle *h, struct xs_handle *other) {
        xs_transaction_t t;

        CHECK(xs_watch(h, "/txw", "TX"));
        expect_event(h, "/txw", "TX");
        t = xs_transaction_start(other);
        CHECK(t != XBT_NULL);
        CHECK(xs_write(other, t, "/txw/a", "1", 1));
        /* Nothing until the commit. */
        expect_no_event(h);
        CHECK(xs_transaction_end(other, t, false));
        expect_event(h, "/txw/a", "TX");
        /* An aborted transaction fires nothing. */
        t = xs_transaction_start(other);
        CHECK(t != XBT_NULL);
        CHECK(xs_write(other, t, "/txw/b", "1", 1));
        CHECK(xs_transaction_end(other, t, true));
        expect_no_event(h);
        CHECK(xs_unwatch(h, "/txw", "TX"));
}

/* The toolstack's sequence (FACTS 9b/9c) and the special watches. */
static void test_domain_watches(struct xs_handle *h, struct xs_handle *toolstack) {
        unsigned len;
        char *name;

        CHECK(xs_watch(h, "@introduceDomain", "I"));
        CHECK(xs_watch(h, "@releaseDomain", "R"));
        expect_event(h, "@introduceDomain", "I");
        expect_event(h, "@releaseDomain", "R");

        /* The toolstack writes the domain's nodes, then introduces it. */
        CHECK(xs_write(toolstack, XBT_NULL, "/local/domain/3/name", "g3", 2));
        CHECK(xs_write(toolstack, XBT_NULL, "/local/domain/3/domid", "3", 1));
        CHECK(xs_introduce_domain(toolstack, 3, 1044476, 1));
        expect_event(h, "@introduceDomain", "I");
        /* When @introduceDomain arrives, the name is there (FACTS 9c). */
        name = xs_read(h, XBT_NULL, "/local/domain/3/name", &len);
        CHECK(name && len == 2 && memcmp(name, "g3", 2) == 0);
        free(name);
        CHECK(xs_is_domain_introduced(h, 3));
        /* Introducing again changes nothing. */
        CHECK(xs_introduce_domain(toolstack, 3, 1044476, 1));
        expect_no_event(h);
        /* Special events do not match node watches, not even on /. */
        {
                struct xs_handle *w = xs_open(0);

                CHECK(w && xs_watch(w, "/", "ALL"));
                expect_event(w, "/", "ALL");
                CHECK(xs_introduce_domain(toolstack, 4, 1, 1));
                expect_event(h, "@introduceDomain", "I");
                expect_no_event(w);
                xs_close(w);
        }

        /* xl destroy: nodes removed, then the release fires @releaseDomain once (FACTS 9f). */
        CHECK(xs_rm(toolstack, XBT_NULL, "/local/domain/4"));
        CHECK(xs_release_domain(toolstack, 4));
        expect_event(h, "@releaseDomain", "R");
        expect_no_event(h);
        CHECK(!xs_is_domain_introduced(h, 4));

        /* Guest poweroff: a first @releaseDomain while the nodes exist, a second at release (FACTS 9g). */
        {
                static const char arg[] = "3\0shutdown";
                char *r = xs_control_command(toolstack, "xensim-domain", (void *) arg, sizeof(arg));

                CHECK(r && strcmp(r, "OK") == 0);
                free(r);
        }
        expect_event(h, "@releaseDomain", "R");
        CHECK(xs_is_domain_introduced(h, 3));
        name = xs_read(h, XBT_NULL, "/local/domain/3/name", &len);
        CHECK(name != NULL);
        free(name);
        CHECK(xs_rm(toolstack, XBT_NULL, "/local/domain/3"));
        CHECK(xs_release_domain(toolstack, 3));
        expect_event(h, "@releaseDomain", "R");
        expect_no_event(h);

        /* The simulator's "dying" releases the domain itself. */
        CHECK(xs_introduce_domain(toolstack, 5, 1, 1));
        expect_event(h, "@introduceDomain", "I");
        {
                static const char arg[] = "5\0dying";
                char *r = xs_control_command(toolstack, "xensim-domain", (void *) arg, sizeof(arg));

                CHECK(r && strcmp(r, "OK") == 0);
                free(r);
        }
        expect_event(h, "@releaseDomain", "R");
        CHECK(!xs_is_domain_introduced(h, 5));
        {
                char arg[] = "5\0dying";

                CHECK_ERRNO(xs_control_command(toolstack, "xensim-domain", arg, sizeof(arg)) == NULL, ENOENT);
                CHECK_ERRNO(xs_control_command(toolstack, "no-such-command", arg, 0) == NULL, EINVAL);
        }

        CHECK(xs_unwatch(h, "@introduceDomain", "I"));
        CHECK(xs_unwatch(h, "@releaseDomain", "R"));
        CHECK(xs_introduce_domain(toolstack, 6, 1, 1));
        expect_no_event(h);
}

static void test_reset_and_disconnect(struct xs_handle *other) {
        struct xs_handle *w = xs_open(0);

        CHECK(w != NULL);
        CHECK(xs_watch(w, "/gone", "G"));
        expect_event(w, "/gone", "G");
        /* The client goes away with its watch; the server keeps serving the others. */
        xs_close(w);
        for (int i = 0; i < 50; i++)
                CHECK(xs_write(other, XBT_NULL, "/gone/x", "1", 1));
        w = xs_open(0);
        CHECK(w != NULL);
        CHECK(xs_watch(w, "/gone", "G2"));
        expect_event(w, "/gone", "G2");
        expect_no_event(w);
        xs_close(w);
}

int main(void) {
        TestServer ts;
        struct xs_handle *h, *other;

        test_watchdog(60);
        test_server_start(&ts, false, NULL);
        h = xs_open(0);
        other = xs_open(0);
        CHECK(h != NULL && other != NULL);

        /* Nothing pending: non-blocking read reports EAGAIN at once. */
        CHECK(xs_fileno(h) >= 0);
        errno = 0;
        CHECK(xs_check_watch(h) == NULL && errno == EAGAIN);

        test_node_watches(h, other);
        test_transaction_events(h, other);
        test_domain_watches(h, other);
        test_reset_and_disconnect(other);

        xs_close(other);
        xs_close(h);
        test_server_stop(&ts);
        printf("ok\n");
        return EXIT_SUCCESS;
}
