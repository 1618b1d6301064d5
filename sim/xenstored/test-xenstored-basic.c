/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-xenstored through the real libxenstore: nodes, errors,
 * permissions, domain paths and transactions.
 */
#include "autoconfig.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <xenstore.h>

#include "xenstored-test.h"

static void check_value(struct xs_handle *h, xs_transaction_t t, const char *path,
                        const void *expect, unsigned expect_len) {
        unsigned len = 0;
        char *v = xs_read(h, t, path, &len);

        if (!v) {
                fprintf(stderr, "xs_read(%s) failed: %s\n", path, strerror(errno));
                exit(EXIT_FAILURE);
        }
        CHECK(len == expect_len);
        CHECK(memcmp(v, expect, len) == 0);
        free(v);
}

static void check_directory(struct xs_handle *h, const char *path, const char *const *expect) {
        unsigned num = 0, n = 0;
        char **d = xs_directory(h, XBT_NULL, path, &num);

        CHECK(d != NULL);
        while (expect[n])
                n++;
        CHECK(num == n);
        for (unsigned i = 0; i < n; i++)
                CHECK(strcmp(d[i], expect[i]) == 0);
        free(d);
}

static void test_nodes(struct xs_handle *h) {
        static const char bin[] = { 'a', '\0', 'b', '\n', (char) 0xff };
        unsigned len;

        /* Implicit parents on WRITE; they are empty nodes. */
        CHECK(xs_write(h, XBT_NULL, "/a/b/c", "hello", 5));
        check_value(h, XBT_NULL, "/a/b/c", "hello", 5);
        check_value(h, XBT_NULL, "/a/b", "", 0);
        check_directory(h, "/a", (const char *const[]) { "b", NULL });
        CHECK(xs_write(h, XBT_NULL, "/a/b/d", "", 0));
        CHECK(xs_write(h, XBT_NULL, "/a/b/c", "again", 5));
        check_value(h, XBT_NULL, "/a/b/c", "again", 5);
        /* Children in creation order. */
        check_directory(h, "/a/b", (const char *const[]) { "c", "d", NULL });

        /* Binary values survive. */
        CHECK(xs_write(h, XBT_NULL, "/bin", bin, sizeof(bin)));
        check_value(h, XBT_NULL, "/bin", bin, sizeof(bin));

        /* The layout xenstored starts with. */
        {
                unsigned num;
                char **d = xs_directory(h, XBT_NULL, "/", &num);
                bool tool = false;

                CHECK(d != NULL);
                for (unsigned i = 0; i < num; i++)
                        tool |= strcmp(d[i], "tool") == 0;
                CHECK(tool);
                free(d);
                check_directory(h, "/tool", (const char *const[]) { "xenstored", NULL });
        }

        /* MKDIR: implicit parents, existing node is fine. */
        CHECK(xs_mkdir(h, XBT_NULL, "/m/n/o"));
        CHECK(xs_mkdir(h, XBT_NULL, "/m/n/o"));
        check_directory(h, "/m/n", (const char *const[]) { "o", NULL });
        CHECK(xs_write(h, XBT_NULL, "/m/n/o", "v", 1));
        CHECK(xs_mkdir(h, XBT_NULL, "/m/n/o"));
        check_value(h, XBT_NULL, "/m/n/o", "v", 1);

        /* ENOENT */
        CHECK_ERRNO(xs_read(h, XBT_NULL, "/nope", &len) == NULL, ENOENT);
        CHECK_ERRNO(xs_read(h, XBT_NULL, "/a/nope/deeper", &len) == NULL, ENOENT);
        CHECK_ERRNO(xs_directory(h, XBT_NULL, "/nope", &len) == NULL, ENOENT);

        /* EINVAL: xenstored's path rules. */
        CHECK_ERRNO(xs_read(h, XBT_NULL, "/a//b", &len) == NULL, EINVAL);
        CHECK_ERRNO(xs_read(h, XBT_NULL, "/a/b/", &len) == NULL, EINVAL);
        CHECK_ERRNO(xs_read(h, XBT_NULL, "/a b", &len) == NULL, EINVAL);
        CHECK_ERRNO(xs_write(h, XBT_NULL, "/a/b.c", "x", 1) == false, EINVAL);
        CHECK_ERRNO(xs_read(h, XBT_NULL, "@introduceDomain", &len) == NULL, EINVAL);
        CHECK_ERRNO(xs_rm(h, XBT_NULL, "/") == false, EINVAL);
        {
                /* Longest valid path: 2048 bytes of relative path; one more is EINVAL. */
                char p[2100];

                memset(p, 'x', sizeof(p));
                p[0] = '/';
                p[2048] = '\0';
                CHECK(xs_write(h, XBT_NULL, p, "1", 1));
                p[2048] = 'x';
                p[2049] = '\0';
                CHECK_ERRNO(xs_write(h, XBT_NULL, p, "1", 1) == false, EINVAL);
                /* Below /local/domain/N/ the limit counts after that prefix. */
                memcpy(p, "/local/domain/7/", 16);
                memset(p + 16, 'y', 2048);
                p[16 + 2048] = '\0';
                CHECK(xs_write(h, XBT_NULL, p, "1", 1));
                p[16 + 2048] = 'y';
                p[16 + 2049] = '\0';
                CHECK_ERRNO(xs_write(h, XBT_NULL, p, "1", 1) == false, EINVAL);
                CHECK(xs_rm(h, XBT_NULL, "/local/domain/7"));
        }

        /* RM: recursive; missing node with existing parent is fine, missing parent is ENOENT. */
        CHECK(xs_rm(h, XBT_NULL, "/a"));
        CHECK_ERRNO(xs_read(h, XBT_NULL, "/a/b/c", &len) == NULL, ENOENT);
        CHECK_ERRNO(xs_read(h, XBT_NULL, "/a", &len) == NULL, ENOENT);
        CHECK(xs_rm(h, XBT_NULL, "/a"));
        CHECK_ERRNO(xs_rm(h, XBT_NULL, "/a/b") == false, ENOENT);

        /* Relative paths are below /local/domain/0 for socket clients. */
        CHECK(xs_write(h, XBT_NULL, "rel/x", "r", 1));
        check_value(h, XBT_NULL, "/local/domain/0/rel/x", "r", 1);
        check_value(h, XBT_NULL, "rel/x", "r", 1);
        CHECK(xs_rm(h, XBT_NULL, "rel"));
        CHECK_ERRNO(xs_read(h, XBT_NULL, "/local/domain/0/rel", &len) == NULL, ENOENT);
}

static void test_big_directory(struct xs_handle *h) {
        char path[64];
        unsigned num;
        char **d;

        /* About 7 KiB of names: DIRECTORY answers E2BIG, libxenstore falls back to DIRECTORY_PART. */
        for (int i = 0; i < 300; i++) {
                snprintf(path, sizeof(path), "/big/child-with-a-long-name-%04d", i);
                CHECK(xs_write(h, XBT_NULL, path, "", 0));
        }
        d = xs_directory(h, XBT_NULL, "/big", &num);
        CHECK(d != NULL);
        CHECK(num == 300);
        for (unsigned i = 0; i < num; i++) {
                snprintf(path, sizeof(path), "child-with-a-long-name-%04u", i);
                CHECK(strcmp(d[i], path) == 0);
        }
        free(d);
        CHECK(xs_rm(h, XBT_NULL, "/big"));
}

static void test_perms(struct xs_handle *h) {
        struct xs_permissions set[3] = {
                { .id = 0, .perms = XS_PERM_NONE },
                { .id = 5, .perms = XS_PERM_READ },
                { .id = 7, .perms = XS_PERM_READ | XS_PERM_WRITE },
        };
        struct xs_permissions *got;
        unsigned num;

        /* Fresh nodes of dom0 inherit the root's "n0". */
        CHECK(xs_write(h, XBT_NULL, "/p", "", 0));
        got = xs_get_permissions(h, XBT_NULL, "/p", &num);
        CHECK(got && num == 1 && got[0].id == 0 && got[0].perms == XS_PERM_NONE);
        free(got);

        CHECK(xs_set_permissions(h, XBT_NULL, "/p", set, 3));
        got = xs_get_permissions(h, XBT_NULL, "/p", &num);
        CHECK(got && num == 3);
        for (unsigned i = 0; i < 3; i++)
                CHECK(got[i].id == set[i].id && got[i].perms == set[i].perms);
        free(got);

        /* Implicitly created children inherit their parent's permissions. */
        CHECK(xs_write(h, XBT_NULL, "/p/q/r", "x", 1));
        got = xs_get_permissions(h, XBT_NULL, "/p/q/r", &num);
        CHECK(got && num == 3 && got[1].id == 5 && got[1].perms == XS_PERM_READ &&
              got[2].id == 7 && got[2].perms == (XS_PERM_READ | XS_PERM_WRITE));
        free(got);

        CHECK_ERRNO(xs_get_permissions(h, XBT_NULL, "/nope", &num) == NULL, ENOENT);
        CHECK_ERRNO(xs_set_permissions(h, XBT_NULL, "/nope", set, 1) == false, ENOENT);
        /* The special watch nodes take permissions too. */
        CHECK(xs_set_permissions(h, XBT_NULL, "@releaseDomain", set, 1));
        CHECK_ERRNO(xs_set_permissions(h, XBT_NULL, "@other", set, 1) == false, EINVAL);
        CHECK(xs_rm(h, XBT_NULL, "/p"));
}

static void test_domains(struct xs_handle *h) {
        char *p;

        /* GET_DOMAIN_PATH does not check that the domain exists (FACTS 9e). */
        p = xs_get_domain_path(h, 0);
        CHECK(p && strcmp(p, "/local/domain/0") == 0);
        free(p);
        p = xs_get_domain_path(h, 999);
        CHECK(p && strcmp(p, "/local/domain/999") == 0);
        free(p);
        p = xs_get_domain_path(h, 32752);
        CHECK(p && strcmp(p, "/local/domain/32752") == 0);
        free(p);

        CHECK(xs_is_domain_introduced(h, 0));
        CHECK(!xs_is_domain_introduced(h, 999));
        CHECK(xs_introduce_domain(h, 999, 12345, 3));
        CHECK(xs_is_domain_introduced(h, 999));
        CHECK(xs_resume_domain(h, 999));
        CHECK(xs_set_target(h, 999, 0));
        CHECK(xs_release_domain(h, 999));
        CHECK(!xs_is_domain_introduced(h, 999));
        CHECK_ERRNO(xs_release_domain(h, 999) == false, ENOENT);
        CHECK_ERRNO(xs_resume_domain(h, 999) == false, ENOENT);
        CHECK_ERRNO(xs_release_domain(h, 0) == false, EINVAL);
        CHECK_ERRNO(xs_introduce_domain(h, 4, 1, 0) == false, EINVAL);
        CHECK_ERRNO(xs_introduce_domain(h, 0x7ff0, 1, 1) == false, EINVAL);
}

static void test_transactions(struct xs_handle *h, struct xs_handle *other) {
        xs_transaction_t t, t2;
        unsigned len;

        /* Isolation and abort. */
        t = xs_transaction_start(h);
        CHECK(t != XBT_NULL);
        CHECK(xs_write(h, t, "/tx/a", "1", 1));
        check_value(h, t, "/tx/a", "1", 1);
        CHECK_ERRNO(xs_read(other, XBT_NULL, "/tx/a", &len) == NULL, ENOENT);
        CHECK(xs_transaction_end(h, t, true));
        CHECK_ERRNO(xs_read(h, XBT_NULL, "/tx/a", &len) == NULL, ENOENT);

        /* Commit. */
        t = xs_transaction_start(h);
        CHECK(t != XBT_NULL);
        CHECK(xs_write(h, t, "/tx/a", "2", 1));
        CHECK(xs_mkdir(h, t, "/tx/dir"));
        CHECK(xs_transaction_end(h, t, false));
        check_value(other, XBT_NULL, "/tx/a", "2", 1);
        check_value(other, XBT_NULL, "/tx/dir", "", 0);

        /* A node read in the transaction changes outside it: EAGAIN, nothing applied. */
        t = xs_transaction_start(h);
        CHECK(t != XBT_NULL);
        check_value(h, t, "/tx/a", "2", 1);
        CHECK(xs_write(other, XBT_NULL, "/tx/a", "3", 1));
        CHECK(xs_write(h, t, "/tx/b", "x", 1));
        CHECK_ERRNO(xs_transaction_end(h, t, false) == false, EAGAIN);
        CHECK_ERRNO(xs_read(h, XBT_NULL, "/tx/b", &len) == NULL, ENOENT);
        /* The transaction is gone after its end, whatever the result. */
        CHECK_ERRNO(xs_read(h, t, "/tx/a", &len) == NULL, ENOENT);

        /* Unrelated changes outside do not conflict; the outside change survives the commit. */
        t = xs_transaction_start(h);
        t2 = xs_transaction_start(h);
        CHECK(t != XBT_NULL && t2 != XBT_NULL && t != t2);
        CHECK(xs_write(h, t, "/tx/c", "c", 1));
        CHECK(xs_write(other, XBT_NULL, "/elsewhere", "e", 1));
        CHECK(xs_rm(h, t2, "/tx/dir"));
        CHECK(xs_transaction_end(h, t, false));
        check_value(h, XBT_NULL, "/elsewhere", "e", 1);
        check_value(h, XBT_NULL, "/tx/c", "c", 1);
        /* t2 removed /tx/dir whose parent /tx got a new child from t: conflict. */
        CHECK_ERRNO(xs_transaction_end(h, t2, false) == false, EAGAIN);
        check_value(h, XBT_NULL, "/tx/dir", "", 0);

        /* Unknown transaction ids are ENOENT. */
        CHECK_ERRNO(xs_read(h, 4242, "/tx/a", &len) == NULL, ENOENT);
        CHECK_ERRNO(xs_transaction_end(h, 4242, false) == false, ENOENT);
        CHECK(xs_rm(h, XBT_NULL, "/tx"));
}

static void test_node_limit(void) {
        static const char *const args[] = { "--max-nodes", "40", NULL };
        TestServer ts;
        struct xs_handle *h;
        char path[32];
        int i;

        test_server_start(&ts, false, args);
        h = xs_open(0);
        CHECK(h != NULL);
        for (i = 0; i < 100; i++) {
                snprintf(path, sizeof(path), "/n/%d", i);
                if (!xs_write(h, XBT_NULL, path, "", 0))
                        break;
        }
        CHECK(i < 100 && errno == ENOSPC);
        /* Removing makes room again. */
        CHECK(xs_rm(h, XBT_NULL, "/n"));
        CHECK(xs_write(h, XBT_NULL, "/n/again", "", 0));
        xs_close(h);
        test_server_stop(&ts);
}

/* Transactions copy the store; all copies together are bounded (16 x --max-nodes). */
static void test_transaction_copies_limit(void) {
        static const char *const args[] = { "--max-nodes", "20", "--max-transactions", "100", NULL };
        xs_transaction_t t[17];
        TestServer ts;
        struct xs_handle *h;
        char path[32];

        test_server_start(&ts, false, args);
        h = xs_open(0);
        CHECK(h != NULL);
        /* 3 nodes at start (/, /tool, /tool/xenstored), plus /n and 16 children: 20. */
        for (int i = 0; i < 16; i++) {
                snprintf(path, sizeof(path), "/n/%d", i);
                CHECK(xs_write(h, XBT_NULL, path, "", 0));
        }
        CHECK_ERRNO(xs_write(h, XBT_NULL, "/n/full", "", 0) == false, ENOSPC);
        for (int i = 0; i < 16; i++) {
                t[i] = xs_transaction_start(h);
                CHECK(t[i] != XBT_NULL);
        }
        CHECK_ERRNO((t[16] = xs_transaction_start(h)) == XBT_NULL, ENOSPC);
        CHECK(xs_transaction_end(h, t[0], true));
        t[0] = xs_transaction_start(h);
        CHECK(t[0] != XBT_NULL);
        xs_close(h);
        test_server_stop(&ts);
}

static void test_read_only_socket(void) {
        TestServer ts;
        struct xs_handle *rw, *ro;
        unsigned len;

        test_server_start(&ts, true, NULL);
        rw = xs_open(0);
        CHECK(rw != NULL);
        CHECK(xs_write(rw, XBT_NULL, "/ro/x", "1", 1));
        setenv("XENSTORED_PATH", ts.ro_socket, 1);
        ro = xs_open(0);
        CHECK(ro != NULL);
        check_value(ro, XBT_NULL, "/ro/x", "1", 1);
        CHECK_ERRNO(xs_write(ro, XBT_NULL, "/ro/x", "2", 1) == false, EROFS);
        CHECK_ERRNO(xs_rm(ro, XBT_NULL, "/ro") == false, EROFS);
        CHECK_ERRNO(xs_read(ro, XBT_NULL, "/ro/y", &len) == NULL, ENOENT);
        xs_close(ro);
        xs_close(rw);
        test_server_stop(&ts);
}

int main(void) {
        TestServer ts;
        struct xs_handle *h, *other;

        test_watchdog(60);
        test_server_start(&ts, false, NULL);
        h = xs_open(0);
        other = xs_open(0);
        CHECK(h != NULL && other != NULL);

        test_nodes(h);
        test_big_directory(h);
        test_perms(h);
        test_domains(h);
        test_transactions(h, other);

        xs_close(other);
        xs_close(h);
        test_server_stop(&ts);

        test_node_limit();
        test_transaction_copies_limit();
        test_read_only_socket();
        printf("ok\n");
        return EXIT_SUCCESS;
}
