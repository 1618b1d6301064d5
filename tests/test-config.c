/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit test of the configuration module (src/parent/config.c).  Bad files live in
 * tests/data/config/bad-{global,guest}/, each starting with a comment
 * "; expect: LINE: MESSAGE" giving the exact error expected.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <syslog.h>

#include "config.h"
#include "testutil.h"
#include "unit-assert.h"

#if !defined(TEST_DATADIR) || !defined(TEST_CONFDIR)
#error "TEST_DATADIR must point to tests/data/config, TEST_CONFDIR to conf/"
#endif

static char tmpdir[PATH_MAX];
static char err[1024];

static void write_file(const char *dir, const char *name, const char *text) {
        char path[PATH_MAX];
        FILE *f;

        REQUIRE((size_t) snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path));
        f = fopen(path, "we");
        REQUIRE(f);
        REQUIRE(fputs(text, f) >= 0);
        REQUIRE(fclose(f) == 0);
}

static void make_dir(char *out, size_t size, const char *name) {
        REQUIRE((size_t) snprintf(out, size, "%s/%s", tmpdir, name) < size);
        REQUIRE(mkdir(out, 0700) == 0);
}

static Config *default_global(void) {
        Config *c = NULL;
        FILE *f = fopen("/dev/null", "re");

        REQUIRE(f);
        REQUIRE(config_parse_global(f, "empty.conf", &c, err, sizeof(err)) == 0);
        fclose(f);
        return c;
}

static void test_defaults(void) {
        Config *c = default_global();
        GuestConfig *g = NULL;
        FILE *f;

        CHECK_STR(c->guests_dir, SYSCONFDIR "/xen-ioreqd/guests.d");
        CHECK_STR(c->socket_dir, RUNSTATEDIR "/xen-ioreqd");
        CHECK_INT(c->log_level, LOG_INFO);
        CHECK_INT(c->max_guests, 1024);
        CHECK_INT(c->limits.max_registrations, 1024);
        CHECK_INT(c->limits.max_client_registrations, 256);
        CHECK_INT(c->limits.max_connections, 64);
        CHECK_INT(c->limits.max_connections_per_uid, 16);
        CHECK_INT(c->limits.busy_poll_us, 0);
        CHECK_INT(c->n_guests, 0);
        CHECK_STR(c->control_socket, RUNSTATEDIR "/xen-ioreqd/control");
        CHECK_INT(c->control_max_connections, 16);
        CHECK_STR(err, "");

        f = fopen("/dev/null", "re");
        REQUIRE(f);
        CHECK_INT(config_parse_guest(f, "g.conf", "web-1", c, &g, err, sizeof(err)), 0);
        fclose(f);
        REQUIRE(g);
        CHECK_STR(g->name, "web-1");
        CHECK_STR(g->socket, RUNSTATEDIR "/xen-ioreqd/web-1.sock");
        CHECK_INT(g->socket_uid, 0);
        CHECK_INT(g->socket_gid, 0);
        CHECK_INT(g->socket_mode, 0660);
        CHECK_INT(g->n_allow_uids, 1);
        CHECK_INT(g->allow_uids[0], 0);
        CHECK_INT(g->n_allow_gids, 0);
        CHECK(memcmp(&g->limits, &c->limits, sizeof(g->limits)) == 0);
        CHECK_INT(g->name_line, 0);
        CHECK_INT(g->socket_line, 0);
        CHECK(guest_config_allows(g, 0, 1000));
        CHECK(!guest_config_allows(g, 1000, 0));
        guest_config_free(g);
        config_free(c);
        CHECK(config_free(NULL) == NULL);
        CHECK(guest_config_free(NULL) == NULL);
}

static void test_good(void) {
        Config *c = NULL;
        const GuestConfig *a, *b;
        int r;

        r = config_load(TEST_DATADIR "/good/xen-ioreqd.conf", TEST_DATADIR "/good/guests.d", &c, err, sizeof(err));
        CHECK_INT(r, 0);
        CHECK_STR(err, "");
        REQUIRE(c);
        CHECK_STR(c->path, TEST_DATADIR "/good/xen-ioreqd.conf");
        CHECK_STR(c->guests_dir, TEST_DATADIR "/good/guests.d");
        CHECK_STR(c->socket_dir, "/tmp/xirq-sockets");  /* trailing slash dropped */
        CHECK_INT(c->log_level, LOG_DEBUG);
        CHECK_INT(c->max_guests, 3);
        CHECK_INT(c->limits.max_registrations, 2000);
        CHECK_INT(c->limits.max_client_registrations, 100);
        CHECK_INT(c->limits.max_connections, 8);
        CHECK_INT(c->limits.max_connections_per_uid, 2);
        CHECK_INT(c->limits.busy_poll_us, 50);

        /* hidden files and other suffixes are ignored; sorted by file name */
        CHECK_INT(c->n_guests, 2);
        REQUIRE(c->n_guests == 2);
        a = c->guests[0];
        b = c->guests[1];
        CHECK_STR(a->name, "vm-alpha");
        CHECK_STR(a->file, TEST_DATADIR "/good/guests.d/alpha.conf");
        CHECK_INT(a->name_line, 3);
        CHECK_INT(a->socket_line, 4);
        CHECK_STR(a->socket, "/tmp/alpha.sock");
        CHECK_INT(a->socket_uid, 1);
        CHECK_INT(a->socket_gid, 1);
        CHECK_INT(a->socket_mode, 0640);
        CHECK_INT(a->n_allow_uids, 3);          /* root daemon 1 4242 0: sorted, no duplicates */
        if (a->n_allow_uids == 3) {
                CHECK_INT(a->allow_uids[0], 0);
                CHECK_INT(a->allow_uids[1], 1);
                CHECK_INT(a->allow_uids[2], 4242);
        }
        CHECK_INT(a->n_allow_gids, 2);
        if (a->n_allow_gids == 2) {
                CHECK_INT(a->allow_gids[0], 0);
                CHECK_INT(a->allow_gids[1], 777);
        }
        CHECK_INT(a->limits.max_registrations, 10);
        CHECK_INT(a->limits.max_client_registrations, 5);
        CHECK_INT(a->limits.max_connections, 3);
        CHECK_INT(a->limits.max_connections_per_uid, 1);
        CHECK_INT(a->limits.busy_poll_us, 1000000);
        CHECK(guest_config_allows(a, 4242, 5));
        CHECK(guest_config_allows(a, 5, 777));
        CHECK(!guest_config_allows(a, 5, 5));
        CHECK(!guest_config_allows(a, 4243, 776));

        CHECK_STR(b->name, "beta");
        CHECK_STR(b->socket, "/tmp/xirq-sockets/beta.sock");
        CHECK_INT(b->socket_mode, 0660);
        CHECK(memcmp(&b->limits, &c->limits, sizeof(b->limits)) == 0);  /* [limits] are the defaults */

        CHECK(config_find_guest(c, "vm-alpha") == a);
        CHECK(config_find_guest(c, "beta") == b);
        CHECK(config_find_guest(c, "alpha") == NULL);
        CHECK(config_find_guest(c, NULL) == NULL);
        CHECK(!guest_config_equal(a, b));
        CHECK(guest_config_equal(a, a));
        config_free(c);

        /* without the override, guests_dir from the file is used */
        c = NULL;
        r = config_load(TEST_DATADIR "/good/xen-ioreqd.conf", NULL, &c, err, sizeof(err));
        CHECK_INT(r, -ENOENT);
        CHECK(c == NULL);
        CHECK_STR(err, "/nonexistent/guests.d: cannot open directory: No such file or directory");

        r = config_load(TEST_DATADIR "/good/missing.conf", NULL, &c, err, sizeof(err));
        CHECK_INT(r, -ENOENT);
        CHECK_STR(err, TEST_DATADIR "/good/missing.conf: cannot open: No such file or directory");
}

/* Parse a file, return the error text. */
static int parse_file(const char *path, bool guest, char *out, size_t outlen) {
        FILE *f = fopen(path, "re");
        Config *c = NULL;
        GuestConfig *g = NULL;
        int r;

        REQUIRE(f);
        if (guest) {
                Config *glob = default_global();
                r = config_parse_guest(f, path, "test-guest", glob, &g, out, outlen);
                config_free(glob);
                CHECK(r < 0 || g);
                guest_config_free(g);
        } else {
                r = config_parse_global(f, path, &c, out, outlen);
                CHECK(r < 0 || c);
                config_free(c);
        }
        fclose(f);
        return r;
}

static void test_bad_dir(const char *sub, bool guest) {
        char dir[PATH_MAX];
        DIR *d;
        struct dirent *de;
        unsigned n = 0;

        snprintf(dir, sizeof(dir), "%s/%s", TEST_DATADIR, sub);
        d = opendir(dir);
        REQUIRE(d);
        while ((de = readdir(d))) {
                char path[PATH_MAX * 2], first[512], want[PATH_MAX * 3];
                unsigned line;
                int msgpos = 0, r;
                FILE *f;

                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                f = fopen(path, "re");
                REQUIRE(f);
                REQUIRE(fgets(first, sizeof(first), f));
                fclose(f);
                first[strcspn(first, "\n")] = '\0';
                REQUIRE(sscanf(first, "; expect: %u: %n", &line, &msgpos) == 1 && msgpos > 0);
                snprintf(want, sizeof(want), "%s:%u: %s", path, line, first + msgpos);
                r = parse_file(path, guest, err, sizeof(err));
                CHECK(r < 0);
                CHECK_STR(err, want);
                n++;
        }
        closedir(d);
        printf("%s: %u files\n", sub, n);
        CHECK(n >= 20);
}

static void test_stream_limits(void) {
        Config *c = NULL;
        char *big;
        FILE *f;
        size_t size = CONFIG_FILE_MAX + 100;
        static const char nul[] = "[daemon]\nmax_guests = 5\0\n";

        f = fmemopen((void *) nul, sizeof(nul) - 1, "r");
        REQUIRE(f);
        CHECK_INT(config_parse_global(f, "nul.conf", &c, err, sizeof(err)), -EINVAL);
        CHECK_STR(err, "nul.conf:2: NUL byte in line");
        fclose(f);

        big = malloc(size);
        REQUIRE(big);
        memset(big, '\n', size);
        memcpy(big, "[daemon]\n", 9);
        f = fmemopen(big, size, "r");
        REQUIRE(f);
        CHECK_INT(config_parse_global(f, "big.conf", &c, err, sizeof(err)), -EFBIG);
        CHECK_STR(err, "big.conf: file larger than 65536 bytes");
        CHECK(c == NULL);
        fclose(f);
        free(big);
}

static void test_cross_file(void) {
        char g1[PATH_MAX], g2[PATH_MAX], g3[PATH_MAX], g4[PATH_MAX], g5[PATH_MAX], want[PATH_MAX * 3];
        char global[PATH_MAX];
        Config *c = NULL;
        int r;

        REQUIRE((size_t) snprintf(global, sizeof(global), "%s/global.conf", tmpdir) < sizeof(global));
        write_file(tmpdir, "global.conf", "[daemon]\nmax_guests = 2\n");

        /* duplicate guest name: reported at the name= line of the later file */
        make_dir(g1, sizeof(g1), "dupname");
        write_file(g1, "a.conf", "[guest]\nname = web\n");
        write_file(g1, "b.conf", "[guest]\n\nname = web\n");
        r = config_load(global, g1, &c, err, sizeof(err));
        CHECK_INT(r, -EEXIST);
        snprintf(want, sizeof(want), "%s/b.conf:3: guest name \"web\" is already used by %s/a.conf", g1, g1);
        CHECK_STR(err, want);
        CHECK(c == NULL);
        /* a name given in one file, defaulted in the other */
        write_file(g1, "b.conf", "[guest]\nname = a\n");
        write_file(g1, "a.conf", "[guest]\n");
        snprintf(want, sizeof(want), "%s/b.conf:2: guest name \"a\" is already used by %s/a.conf", g1, g1);
        r = config_load(global, g1, &c, err, sizeof(err));
        CHECK_INT(r, -EEXIST);
        CHECK_STR(err, want);

        /* duplicate socket */
        make_dir(g2, sizeof(g2), "dupsock");
        write_file(g2, "a.conf", "[guest]\nsocket = /run/x.sock\n");
        write_file(g2, "b.conf", "[guest]\nsocket_mode = 0600\nsocket = /run/x.sock\n");
        r = config_load(global, g2, &c, err, sizeof(err));
        CHECK_INT(r, -EEXIST);
        snprintf(want, sizeof(want), "%s/b.conf:3: socket /run/x.sock is already used by %s/a.conf", g2, g2);
        CHECK_STR(err, want);

        /* max_guests */
        make_dir(g3, sizeof(g3), "many");
        write_file(g3, "a.conf", "");
        write_file(g3, "b.conf", "");
        write_file(g3, "c.conf", "");
        r = config_load(global, g3, &c, err, sizeof(err));
        CHECK_INT(r, -E2BIG);
        snprintf(want, sizeof(want), "%s: more than max_guests=2 guest files", g3);
        CHECK_STR(err, want);

        /* a file name that is not a valid guest name needs name= */
        make_dir(g4, sizeof(g4), "names");
        write_file(g4, "42.conf", "[guest]\n");
        r = config_load(global, g4, &c, err, sizeof(err));
        CHECK_INT(r, -EINVAL);
        snprintf(want, sizeof(want), "%s/42.conf: \"42\" (from the file name) is not a valid guest name; set name=", g4);
        CHECK_STR(err, want);
        write_file(g4, "42.conf", "[guest]\nname = guest-42\n");
        mkdir(strcat(strcpy(want, g4), "/dir.conf"), 0700);    /* not a regular file: skipped */
        r = config_load(global, g4, &c, err, sizeof(err));
        CHECK_INT(r, 0);
        REQUIRE(c);
        CHECK_INT(c->n_guests, 1);
        CHECK_STR(c->guests[0]->name, "guest-42");
        CHECK_STR(c->guests[0]->socket, RUNSTATEDIR "/xen-ioreqd/guest-42.sock");
        config_free(c);
        c = NULL;

        /* a default socket path that does not fit sun_path */
        make_dir(g5, sizeof(g5), "longsock");
        write_file(tmpdir, "long.conf",
                   "[daemon]\nsocket_dir = /run/a-rather-long-directory-name/with-another-long-subdirectory/"
                   "and-one-more-level\n");
        write_file(g5, "a-guest-name-that-is-long.conf", "");
        REQUIRE((size_t) snprintf(global, sizeof(global), "%s/long.conf", tmpdir) < sizeof(global));
        r = config_load(global, g5, &c, err, sizeof(err));
        CHECK_INT(r, -ENAMETOOLONG);
        snprintf(want, sizeof(want),
                 "%s/a-guest-name-that-is-long.conf: default socket path /run/a-rather-long-directory-name/"
                 "with-another-long-subdirectory/and-one-more-level/a-guest-name-that-is-long.sock is longer than "
                 "107 bytes; set socket=", g5);
        CHECK_STR(err, want);

        /* a bad guest file makes the whole load fail with its location */
        write_file(g5, "a-guest-name-that-is-long.conf", "[guest]\nsocket = /run/s.sock\nsocket_mode = 9\n");
        r = config_load(global, g5, &c, err, sizeof(err));
        CHECK_INT(r, -EINVAL);
        snprintf(want, sizeof(want), "%s/a-guest-name-that-is-long.conf:3: socket_mode: \"9\" is not an octal mode 0..0777",
                 g5);
        CHECK_STR(err, want);
        CHECK(c == NULL);
}

static GuestConfig *guest_from(const char *text, const Config *glob) {
        GuestConfig *g = NULL;
        FILE *f = fmemopen((void *) text, strlen(text), "r");

        REQUIRE(f);
        REQUIRE(config_parse_guest(f, "x.conf", "x", glob, &g, err, sizeof(err)) == 0);
        fclose(f);
        return g;
}

static void test_equal(void) {
        Config *glob = default_global();
        static const char base[] = "[guest]\nname = vm\nallow_users = 0 1\nallow_groups = 5\n";
        static const char *const changed[] = {
                "[guest]\nname = vm2\nallow_users = 0 1\nallow_groups = 5\n",
                "[guest]\nname = vm\nallow_users = 0 1\nallow_groups = 5\nsocket = /run/other.sock\n",
                "[guest]\nname = vm\nallow_users = 0 1\nallow_groups = 5\nsocket_user = 1\n",
                "[guest]\nname = vm\nallow_users = 0 1\nallow_groups = 5\nsocket_group = 1\n",
                "[guest]\nname = vm\nallow_users = 0 1\nallow_groups = 5\nsocket_mode = 0600\n",
                "[guest]\nname = vm\nallow_users = 0 2\nallow_groups = 5\n",
                "[guest]\nname = vm\nallow_users = 0\nallow_groups = 5\n",
                "[guest]\nname = vm\nallow_users = 0 1\nallow_groups = 6\n",
                "[guest]\nname = vm\nallow_users = 0 1\nallow_groups =\n",
                "[guest]\nname = vm\nallow_users = 0 1\nallow_groups = 5\nmax_registrations = 7\n",
                "[guest]\nname = vm\nallow_users = 0 1\nallow_groups = 5\nmax_client_registrations = 7\n",
                "[guest]\nname = vm\nallow_users = 0 1\nallow_groups = 5\nmax_connections = 7\n",
                "[guest]\nname = vm\nallow_users = 0 1\nallow_groups = 5\nmax_connections_per_uid = 7\n",
                "[guest]\nname = vm\nallow_users = 0 1\nallow_groups = 5\nbusy_poll_us = 7\n",
        };
        GuestConfig *a = guest_from(base, glob);
        /* same content in another order and with comments: equal */
        GuestConfig *b = guest_from("; c\n[guest]\nallow_groups = 5\nallow_users = 1 0 1\n\nname = vm\n", glob);

        CHECK(guest_config_equal(a, b));
        for (size_t i = 0; i < sizeof(changed) / sizeof(changed[0]); i++) {
                GuestConfig *c = guest_from(changed[i], glob);
                if (guest_config_equal(a, c)) {
                        fprintf(stderr, "case %zu compares equal\n", i);
                        CHECK(false);
                }
                guest_config_free(c);
        }
        CHECK(!guest_config_equal(a, NULL));
        CHECK(guest_config_equal(NULL, NULL));
        /* an empty allow list admits nobody by uid */
        guest_config_free(b);
        b = guest_from("[guest]\nallow_users =\n", glob);
        CHECK_INT(b->n_allow_uids, 0);
        CHECK(!guest_config_allows(b, 0, 0));
        guest_config_free(b);
        guest_config_free(a);
        config_free(glob);
}

/* Copy a template replacing @DEMO_DIR@ and @DEMO_UID@, as the demo does. */
static void instantiate(const char *src, const char *dst, const char *demo_dir) {
        char line[1024];
        FILE *in = fopen(src, "re"), *out = fopen(dst, "we");

        REQUIRE(in && out);
        while (fgets(line, sizeof(line), in)) {
                for (char *p = line; *p; p++) {
                        if (strncmp(p, "@DEMO_DIR@", 10) == 0) {
                                fputs(demo_dir, out);
                                p += 9;
                        } else if (strncmp(p, "@DEMO_UID@", 10) == 0) {
                                fprintf(out, "%u", (unsigned) getuid());
                                p += 9;
                        } else
                                fputc(*p, out);
                }
        }
        fclose(in);
        REQUIRE(fclose(out) == 0);
}

/* The sample configuration of conf/ loads, and so does the demo's. */
static void test_samples(void) {
        char demo[PATH_MAX], guests[PATH_MAX], path[PATH_MAX + 32], want[PATH_MAX + 64];
        Config *c = NULL;
        int r;

        r = config_load(TEST_CONFDIR "/xen-ioreqd.conf", TEST_CONFDIR "/guests.d", &c, err, sizeof(err));
        CHECK_INT(r, 0);
        CHECK_STR(err, "");
        if (c) {
                CHECK_INT(c->n_guests, 1);
                CHECK(config_find_guest(c, "guest") != NULL);
                CHECK_INT(c->max_guests, 1024);         /* every key commented out: defaults */
                CHECK_INT(c->limits.max_client_registrations, 256);
                config_free(c);
                c = NULL;
        }

        make_dir(demo, sizeof(demo), "demo");
        REQUIRE((size_t) snprintf(guests, sizeof(guests), "%s/guests.d", demo) < sizeof(guests));
        REQUIRE(mkdir(guests, 0700) == 0);
        snprintf(path, sizeof(path), "%s/xen-ioreqd.conf", demo);
        instantiate(TEST_CONFDIR "/demo/xen-ioreqd.conf", path, demo);
        snprintf(want, sizeof(want), "%s/demo1.conf", guests);
        instantiate(TEST_CONFDIR "/demo/guests.d/demo1.conf", want, demo);
        snprintf(want, sizeof(want), "%s/demo2.conf", guests);
        instantiate(TEST_CONFDIR "/demo/guests.d/demo2.conf", want, demo);
        r = config_load(path, NULL, &c, err, sizeof(err));
        CHECK_INT(r, 0);
        CHECK_STR(err, "");
        if (c) {
                const GuestConfig *d1 = config_find_guest(c, "demo1"), *d2 = config_find_guest(c, "demo2");
                CHECK_INT(c->n_guests, 2);
                CHECK(d1 && d2);
                if (d1 && d2) {
                        snprintf(want, sizeof(want), "%s/run/demo1.sock", demo);
                        CHECK_STR(d1->socket, want);
                        snprintf(want, sizeof(want), "%s/run/second-guest.sock", demo);
                        CHECK_STR(d2->socket, want);
                        CHECK(guest_config_allows(d1, getuid(), 12345));
                        CHECK_INT(d2->limits.max_registrations, 64);
                        CHECK_INT(d1->limits.max_registrations, 4096);
                }
                config_free(c);
        }
}

static void test_helpers(void) {
        CHECK(config_guest_name_valid("guest"));
        CHECK(config_guest_name_valid("Debian-12_x.y+z@host:1"));
        CHECK(config_guest_name_valid("1a"));
        CHECK(!config_guest_name_valid(""));
        CHECK(!config_guest_name_valid(NULL));
        CHECK(!config_guest_name_valid("12"));
        CHECK(!config_guest_name_valid("a/b"));
        CHECK(!config_guest_name_valid(".a"));
        CHECK(!config_guest_name_valid("a b"));
        CHECK(!config_guest_name_valid("a\tb"));
        CHECK(!config_guest_name_valid("caf\xc3\xa9"));
        CHECK(config_guest_name_valid("0123456789012345678901234567890123456789012345678901234567890abc"));
        CHECK(!config_guest_name_valid("0123456789012345678901234567890123456789012345678901234567890abcd"));

        CHECK_INT(config_log_level_from_string("err"), LOG_ERR);
        CHECK_INT(config_log_level_from_string("warning"), LOG_WARNING);
        CHECK_INT(config_log_level_from_string("notice"), LOG_NOTICE);
        CHECK_INT(config_log_level_from_string("info"), LOG_INFO);
        CHECK_INT(config_log_level_from_string("debug"), LOG_DEBUG);
        CHECK_INT(config_log_level_from_string("Debug"), -EINVAL);
        CHECK_INT(config_log_level_from_string(NULL), -EINVAL);
        CHECK_STR(config_log_level_to_string(LOG_NOTICE), "notice");
        CHECK(config_log_level_to_string(LOG_CRIT) == NULL);
}

static Config *global_from(const char *text) {
        Config *c = NULL;
        FILE *f = fmemopen((void *) text, strlen(text), "r");

        REQUIRE(f);
        (void) config_parse_global(f, "g.conf", &c, err, sizeof(err));
        fclose(f);
        return c;
}

/* the control socket: socket_dir/control unless set, never a guest's socket */
static void test_control_socket(void) {
        char long_dir[200];
        Config *c;
        GuestConfig *g;

        c = global_from("[daemon]\nsocket_dir = /tmp/xirq-s/\n");
        REQUIRE(c);
        CHECK_STR(c->control_socket, "/tmp/xirq-s/control");
        config_free(c);
        c = global_from("[daemon]\nsocket_dir = /\n");
        REQUIRE(c);
        CHECK_STR(c->control_socket, "/control");
        config_free(c);
        c = global_from("[daemon]\ncontrol_socket = /run/ctl.sock\nsocket_dir = /tmp/x\ncontrol_max_connections = 3\n");
        REQUIRE(c);
        CHECK_STR(c->control_socket, "/run/ctl.sock");
        CHECK_INT(c->control_max_connections, 3);

        /* a guest on the control socket is refused */
        g = guest_from("[guest]\nsocket = /run/ctl.sock\n", c);
        REQUIRE(g);
        c->guests = calloc(1, sizeof(*c->guests));
        REQUIRE(c->guests);
        c->guests[0] = g;
        c->n_guests = 1;
        CHECK_INT(config_validate(c, err, sizeof(err)), -EEXIST);
        CHECK(strstr(err, "socket /run/ctl.sock is the control socket") != NULL);
        config_free(c);

        CHECK(global_from("[daemon]\ncontrol_socket = relative\n") == NULL);
        CHECK(global_from("[daemon]\ncontrol_max_connections = 0\n") == NULL);
        CHECK(global_from("[daemon]\ncontrol_max_connections = 1025\n") == NULL);
        /* socket_dir fits a guest's short socket, but not socket_dir/control */
        memset(long_dir, 'd', sizeof(long_dir));
        memcpy(long_dir, "[daemon]\nsocket_dir = /", 23);
        long_dir[23 + 100] = '\n';
        long_dir[23 + 101] = '\0';
        CHECK(global_from(long_dir) == NULL);
        CHECK(strstr(err, "set control_socket") != NULL);
}

int main(void) {
        const char *t = getenv("TMPDIR");

        ut_start(60);
        snprintf(tmpdir, sizeof(tmpdir), "%s/test-config.XXXXXX", t && *t ? t : "/tmp");
        REQUIRE(mkdtemp(tmpdir));

        test_defaults();
        test_good();
        test_bad_dir("bad-global", false);
        test_bad_dir("bad-guest", true);
        test_stream_limits();
        test_cross_file();
        test_equal();
        test_control_socket();
        test_helpers();
        test_samples();

        tu_rm_rf(tmpdir);
        return ut_finish("test-config");
}
