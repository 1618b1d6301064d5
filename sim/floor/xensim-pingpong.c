/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-pingpong - the reference for xensim's hot path: two processes bouncing a token over
 * two eventfds (one blocking write and one blocking read on each side per round trip).
 * Prints the round-trip latency: count, mean, p50, p99 in microseconds.
 */
#include "autoconfig.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
        unsigned long n = 20000;
        uint64_t v = 1, *lat;
        int ping, pong;
        pid_t pid;

        if (argc > 2 || (argc == 2 && (n = strtoul(argv[1], NULL, 0)) == 0) || n > 100000000) {
                fprintf(stderr, "Usage: xensim-pingpong [ROUNDS]\n");
                return 2;
        }
        ping = eventfd(0, EFD_CLOEXEC);
        pong = eventfd(0, EFD_CLOEXEC);
        lat = calloc(n, sizeof(*lat));
        if (ping < 0 || pong < 0 || !lat) {
                perror("xensim-pingpong");
                return 1;
        }
        pid = fork();
        if (pid < 0) {
                perror("fork");
                return 1;
        }
        if (pid == 0) {
                for (unsigned long i = 0; i < n; i++)
                        if (read(ping, &v, sizeof(v)) != sizeof(v) ||
                            write(pong, &v, sizeof(v)) != sizeof(v))
                                _exit(1);
                _exit(0);
        }
        for (unsigned long i = 0; i < n; i++) {
                uint64_t t0 = now_ns();
                if (write(ping, &v, sizeof(v)) != sizeof(v) || read(pong, &v, sizeof(v)) != sizeof(v)) {
                        perror("xensim-pingpong");
                        return 1;
                }
                lat[i] = now_ns() - t0;
        }
        waitpid(pid, NULL, 0);
        uint64_t sum = 0;
        for (unsigned long i = 0; i < n; i++)
                sum += lat[i];
        qsort(lat, n, sizeof(*lat), cmp);
        printf("pingpong count %lu mean %.2fus p50 %.2fus p99 %.2fus\n", n,
               (double)sum / (double)n / 1000.0, (double)lat[n / 2] / 1000.0,
               (double)lat[(n * 99) / 100] / 1000.0);
        free(lat);
        return 0;
}
