/* SPDX-License-Identifier: LGPL-2.1-only */
/* Unit test of the xensim-xenstored node tree: path rules, change events, transactions. */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xenstored-store.h"

#define CHECK(cond) do { \
        if (!(cond)) { \
                fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
                exit(EXIT_FAILURE); \
        } \
} while (0)

/* Change events as "path" or "=path" (exact), joined by spaces. */
static char events[4096];

static void on_change(void *userdata, const char *path, bool exact) {
        size_t l = strlen(events);

        (void) userdata;
        snprintf(events + l, sizeof(events) - l, "%s%s%s", l ? " " : "", exact ? "=" : "", path);
}

static void test_paths(void) {
        CHECK(store_path_valid("/"));
        CHECK(store_path_valid("/a/b-c_d@e/F9"));
        CHECK(!store_path_valid(""));
        CHECK(!store_path_valid("a"));
        CHECK(!store_path_valid("/a/"));
        CHECK(!store_path_valid("/a//b"));
        CHECK(!store_path_valid("/a.b"));
        CHECK(!store_path_valid("/a b"));
        CHECK(!store_path_valid("/a\n"));
        CHECK(!store_path_valid(NULL));
}

static void test_events(void) {
        Store *s;
        const char *v;
        size_t len;

        CHECK(store_new(&s, 100) == 0);
        CHECK(store_node_count(s) == 1);

        events[0] = '\0';
        CHECK(store_write(s, "/a/b/c", "x", 1, on_change, NULL) == 0);
        CHECK(strcmp(events, "/a/b/c") == 0);
        CHECK(store_node_count(s) == 4);

        events[0] = '\0';
        CHECK(store_mkdir(s, "/a/b", on_change, NULL) == 0);
        CHECK(events[0] == '\0');
        CHECK(store_mkdir(s, "/a/d", on_change, NULL) == 0);
        CHECK(strcmp(events, "/a/d") == 0);

        /* Recursive RM: bottom-up, the root of the removal non-exact. */
        events[0] = '\0';
        CHECK(store_rm(s, "/a", on_change, NULL) == 0);
        CHECK(strcmp(events, "=/a/b/c =/a/b =/a/d /a") == 0);
        CHECK(store_node_count(s) == 1);
        CHECK(store_read(s, "/a", &v, &len) == ENOENT);
        CHECK(store_rm(s, "/a", on_change, NULL) == 0);
        CHECK(store_rm(s, "/a/b", on_change, NULL) == ENOENT);
        CHECK(store_rm(s, "/", on_change, NULL) == EINVAL);

        /* Node limit. */
        CHECK(store_write(s, "/1/2/3/4/5/6/7/8/9/10", "", 0, NULL, NULL) == 0);
        CHECK(store_node_count(s) == 11);
        {
                char p[32];
                int i, r = 0;

                for (i = 0; i < 200 && r == 0; i++) {
                        snprintf(p, sizeof(p), "/many/%d", i);
                        r = store_write(s, p, "", 0, NULL, NULL);
                }
                CHECK(r == ENOSPC);
                CHECK(store_node_count(s) == 100);
        }
        store_free(s);
}

static void test_perms(void) {
        StorePerm p;
        char buf[16];

        CHECK(store_perm_parse("r5", &p) == 0 && p.access == STORE_PERM_READ && p.domid == 5);
        CHECK(store_perm_parse("b0x10", &p) == 0 && p.access == STORE_PERM_BOTH && p.domid == 16);
        CHECK(store_perm_parse("n0", &p) == 0 && p.access == STORE_PERM_NONE);
        CHECK(store_perm_parse("w", &p) == EINVAL);
        CHECK(store_perm_parse("x1", &p) == EINVAL);
        CHECK(store_perm_parse("r1a", &p) == EINVAL);
        CHECK(store_perm_parse("r-1", &p) == EINVAL);
        CHECK(store_perm_parse("r65536", &p) == EINVAL);
        p = (StorePerm) { .domid = 7, .access = STORE_PERM_WRITE };
        store_perm_format(&p, buf, sizeof(buf));
        CHECK(strcmp(buf, "w7") == 0);
}

static void test_transactions(void) {
        Store *live, *tx, *tx2;
        const char *v;
        size_t len;

        CHECK(store_new(&live, 1000) == 0);
        CHECK(store_write(live, "/x", "1", 1, NULL, NULL) == 0);

        /* Changes stay in the clone until commit, and fire there. */
        CHECK(store_tx_begin(live, &tx) == 0);
        CHECK(store_write(tx, "/y/z", "2", 1, on_change, NULL) == 0);
        CHECK(store_read(live, "/y/z", &v, &len) == ENOENT);
        events[0] = '\0';
        CHECK(store_tx_commit(tx, live, on_change, NULL) == 0);
        CHECK(strcmp(events, "/y/z") == 0);
        CHECK(store_read(live, "/y/z", &v, &len) == 0 && len == 1 && v[0] == '2');
        store_free(tx);

        /*
         * A node changed several times in a transaction fires once at commit, in the order
         * the transaction first reached the nodes (xenstored's one event per changed node).
         */
        CHECK(store_tx_begin(live, &tx) == 0);
        {
                StorePerm ro[2] = { { .domid = 0, .access = STORE_PERM_NONE },
                                    { .domid = 5, .access = STORE_PERM_READ } };

                CHECK(store_write(tx, "/m/a", "", 0, NULL, NULL) == 0);
                CHECK(store_set_perms(tx, "/m/a", ro, 2, NULL, NULL) == 0);
                CHECK(store_write(tx, "/m/b", "1", 1, NULL, NULL) == 0);
                CHECK(store_write(tx, "/m/a", "2", 1, NULL, NULL) == 0);
                CHECK(store_set_perms(tx, "/m/b", ro, 2, NULL, NULL) == 0);
        }
        events[0] = '\0';
        CHECK(store_tx_commit(tx, live, on_change, NULL) == 0);
        CHECK(strcmp(events, "/m/a /m/b") == 0);
        store_free(tx);

        /* A node the transaction has not reached yet is read as the store has it now. */
        CHECK(store_tx_begin(live, &tx) == 0);
        CHECK(store_write(live, "/late", "L", 1, NULL, NULL) == 0);
        CHECK(store_read(tx, "/late", &v, &len) == 0 && len == 1 && v[0] == 'L');
        CHECK(store_tx_commit(tx, live, NULL, NULL) == 0);
        store_free(tx);

        /* Implicit parents created inside a transaction are its own, not a conflict. */
        CHECK(store_tx_begin(live, &tx) == 0);
        CHECK(store_write(tx, "/p/q/r", "1", 1, NULL, NULL) == 0);
        CHECK(store_mkdir(tx, "/p/q/s", NULL, NULL) == 0);
        CHECK(store_write(tx, "/p/t", "1", 1, NULL, NULL) == 0);
        CHECK(store_tx_commit(tx, live, NULL, NULL) == 0);
        CHECK(store_read(live, "/p/q/s", &v, &len) == 0);
        store_free(tx);
        /* ...but the same parents created outside meanwhile are. */
        CHECK(store_tx_begin(live, &tx) == 0);
        CHECK(store_write(tx, "/u/v/w", "1", 1, NULL, NULL) == 0);
        CHECK(store_write(live, "/u/v", "", 0, NULL, NULL) == 0);
        CHECK(store_tx_commit(tx, live, NULL, NULL) == EAGAIN);
        store_free(tx);

        /* Reading a missing node that appears meanwhile is a conflict. */
        CHECK(store_tx_begin(live, &tx) == 0);
        CHECK(store_read(tx, "/new", &v, &len) == ENOENT);
        CHECK(store_write(live, "/new", "n", 1, NULL, NULL) == 0);
        CHECK(store_tx_commit(tx, live, NULL, NULL) == EAGAIN);
        store_free(tx);

        /* Two transactions on disjoint nodes both commit. */
        CHECK(store_write(live, "/d1/a", "", 0, NULL, NULL) == 0);
        CHECK(store_write(live, "/d2/a", "", 0, NULL, NULL) == 0);
        CHECK(store_tx_begin(live, &tx) == 0);
        CHECK(store_tx_begin(live, &tx2) == 0);
        CHECK(store_write(tx, "/d1/a", "1", 1, NULL, NULL) == 0);
        CHECK(store_write(tx2, "/d2/a", "2", 1, NULL, NULL) == 0);
        CHECK(store_tx_commit(tx, live, NULL, NULL) == 0);
        CHECK(store_tx_commit(tx2, live, NULL, NULL) == 0);
        CHECK(store_read(live, "/d1/a", &v, &len) == 0 && len == 1 && v[0] == '1');
        CHECK(store_read(live, "/d2/a", &v, &len) == 0 && len == 1 && v[0] == '2');
        store_free(tx);
        store_free(tx2);

        /* A failed operation inside a transaction is not replayed. */
        CHECK(store_tx_begin(live, &tx) == 0);
        CHECK(store_rm(tx, "/no/such", NULL, NULL) == ENOENT);
        CHECK(store_rm(tx, "/x", NULL, NULL) == 0);
        CHECK(store_tx_commit(tx, live, NULL, NULL) == 0);
        CHECK(store_read(live, "/x", &v, &len) == ENOENT);
        store_free(tx);

        /* A transaction touching too many nodes is refused. */
        CHECK(store_tx_begin(live, &tx) == 0);
        {
                char p[32];
                int i, r = 0;

                for (i = 0; i < STORE_TX_NODES_MAX + 10 && r == 0; i++) {
                        snprintf(p, sizeof(p), "/t/%d", i);
                        r = store_read(tx, p, &v, &len);
                        if (r == ENOENT)
                                r = 0;
                }
                CHECK(r == ENOSPC);
        }
        store_free(tx);
        store_free(live);
}

int main(void) {
        test_paths();
        test_events();
        test_perms();
        test_transactions();
        printf("ok\n");
        return EXIT_SUCCESS;
}
