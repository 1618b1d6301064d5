/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-xs: a small xenstore client on the real libxenstore, for scripts
 * that play the toolstack against xensim-xenstored (XENSTORED_PATH selects
 * the server).  Exit status 0 on success, 1 on a failed request (the errno
 * name is printed), 2 on a usage error.
 */
#include "autoconfig.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xenstore.h>

static void usage(void) {
        fputs("Usage: xensim-xs COMMAND ARGS...\n"
              "  read PATH                 print the value\n"
              "  write PATH VALUE          create or replace\n"
              "  mkdir PATH | rm PATH\n"
              "  ls PATH                   print the children, one a line\n"
              "  introduce DOMID [MFN PORT]\n"
              "  release DOMID\n"
              "  is-introduced DOMID       print T or F\n"
              "  domain-path DOMID\n"
              "  control CMD [ARG...]      print the answer\n"
              "  watch PATH TOKEN COUNT SECONDS\n"
              "                            print COUNT events as \"PATH TOKEN\" lines,\n"
              "                            fail when they do not arrive within SECONDS\n", stderr);
        exit(2);
}

static int fail(const char *what) {
        fprintf(stderr, "xensim-xs: %s: %s\n", what, strerror(errno));
        return 1;
}

static unsigned parse_uint(const char *s) {
        char *end;
        unsigned long v;

        errno = 0;
        v = strtoul(s, &end, 0);
        if (errno || *end || !*s || v > 0xffffffffUL) {
                fprintf(stderr, "xensim-xs: not a number: %s\n", s);
                exit(2);
        }
        return (unsigned) v;
}

static int watch(struct xs_handle *h, const char *path, const char *token, unsigned count, unsigned seconds) {
        struct timespec start, now;
        struct pollfd pfd = { .fd = xs_fileno(h), .events = POLLIN };

        if (!xs_watch(h, path, token))
                return fail("watch");
        clock_gettime(CLOCK_MONOTONIC, &start);
        while (count > 0) {
                char **ev;
                long left;

                while (count > 0 && (ev = xs_check_watch(h))) {
                        printf("%s %s\n", ev[XS_WATCH_PATH], ev[XS_WATCH_TOKEN]);
                        fflush(stdout);
                        free(ev);
                        count--;
                }
                if (count == 0)
                        break;
                clock_gettime(CLOCK_MONOTONIC, &now);
                left = (long) seconds * 1000 - ((now.tv_sec - start.tv_sec) * 1000 +
                                                (now.tv_nsec - start.tv_nsec) / 1000000);
                if (left <= 0 || poll(&pfd, 1, (int) left) <= 0) {
                        fprintf(stderr, "xensim-xs: %u watch event(s) missing after %u s\n", count, seconds);
                        return 1;
                }
        }
        return 0;
}

int main(int argc, char **argv) {
        struct xs_handle *h;
        const char *cmd;
        unsigned len;
        int r = 0;

        if (argc < 3)
                usage();
        cmd = argv[1];
        h = xs_open(0);
        if (!h)
                return fail("connect");

        if (strcmp(cmd, "read") == 0 && argc == 3) {
                char *v = xs_read(h, XBT_NULL, argv[2], &len);

                if (!v)
                        r = fail("read");
                else {
                        fwrite(v, 1, len, stdout);
                        putchar('\n');
                        free(v);
                }
        } else if (strcmp(cmd, "write") == 0 && argc == 4) {
                if (!xs_write(h, XBT_NULL, argv[2], argv[3], (unsigned) strlen(argv[3])))
                        r = fail("write");
        } else if (strcmp(cmd, "mkdir") == 0 && argc == 3) {
                if (!xs_mkdir(h, XBT_NULL, argv[2]))
                        r = fail("mkdir");
        } else if (strcmp(cmd, "rm") == 0 && argc == 3) {
                if (!xs_rm(h, XBT_NULL, argv[2]))
                        r = fail("rm");
        } else if (strcmp(cmd, "ls") == 0 && argc == 3) {
                char **d = xs_directory(h, XBT_NULL, argv[2], &len);

                if (!d)
                        r = fail("ls");
                else {
                        for (unsigned i = 0; i < len; i++)
                                puts(d[i]);
                        free(d);
                }
        } else if (strcmp(cmd, "introduce") == 0 && (argc == 3 || argc == 5)) {
                unsigned long mfn = argc == 5 ? parse_uint(argv[3]) : 1;
                unsigned port = argc == 5 ? parse_uint(argv[4]) : 1;

                if (!xs_introduce_domain(h, parse_uint(argv[2]), mfn, port))
                        r = fail("introduce");
        } else if (strcmp(cmd, "release") == 0 && argc == 3) {
                if (!xs_release_domain(h, parse_uint(argv[2])))
                        r = fail("release");
        } else if (strcmp(cmd, "is-introduced") == 0 && argc == 3) {
                errno = 0;
                if (xs_is_domain_introduced(h, parse_uint(argv[2])))
                        puts("T");
                else if (errno)
                        r = fail("is-introduced");
                else
                        puts("F");
        } else if (strcmp(cmd, "domain-path") == 0 && argc == 3) {
                char *p = xs_get_domain_path(h, parse_uint(argv[2]));

                if (!p)
                        r = fail("domain-path");
                else {
                        puts(p);
                        free(p);
                }
        } else if (strcmp(cmd, "control") == 0) {
                char data[4096];
                size_t off = 0;
                char *answer;

                for (int i = 3; i < argc; i++) {
                        size_t l = strlen(argv[i]) + 1;

                        if (off + l > sizeof(data)) {
                                fputs("xensim-xs: arguments too long\n", stderr);
                                return 2;
                        }
                        memcpy(data + off, argv[i], l);
                        off += l;
                }
                answer = xs_control_command(h, argv[2], data, (unsigned) off);
                if (!answer)
                        r = fail("control");
                else {
                        puts(answer);
                        free(answer);
                }
        } else if (strcmp(cmd, "watch") == 0 && argc == 6) {
                r = watch(h, argv[2], argv[3], parse_uint(argv[4]), parse_uint(argv[5]));
        } else {
                xs_close(h);
                usage();
        }
        xs_close(h);
        return r;
}
