/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xirq-supervise: a small stand-in for systemd's service manager, for the
 * tests, the benchmarks and the demo: what xen-ioreqd's unit asks of
 * systemd, and no more.
 *
 *   xirq-supervise [--restart-ms N] [--pid-file PATH] [--fdstore-max N] -- COMMAND [ARG...]
 *
 * - Notifications (NOTIFY_SOCKET, sd_notify(3)): READY=1, STATUS=, STOPPING=1,
 *   and the file descriptor store: FDSTORE=1 with FDNAME= keeps the
 *   descriptors sent (one copy per file description, as systemd), and
 *   FDSTOREREMOVE=1 with FDNAME= drops them; a stored socket whose peer hung
 *   up is dropped too.  Every message is relayed, without its descriptors, to
 *   this program's own NOTIFY_SOCKET if it has one.
 * - The service runs in a process group of its own.  When its main process
 *   ends, the rest of the group is killed (KillMode=mixed) and, unless it was
 *   told to stop or exited 0, the service is started again after --restart-ms
 *   (100) with the stored descriptors as LISTEN_FDS/LISTEN_FDNAMES.
 * - SIGTERM/SIGINT: stop (SIGTERM to the service, then the group killed; the
 *   store is emptied).  SIGUSR1: restart with a handover (SIGUSR2 to the
 *   service, which exits 75).  SIGHUP: passed on (reload).
 * The service's pid is written to --pid-file at each start.
 */
#define _GNU_SOURCE 1
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS_PER_MESSAGE     253
#define NAME_MAX_LEN            255

typedef struct Stored {
        int fd;
        char name[NAME_MAX_LEN + 1];
} Stored;

static Stored *stored;
static size_t n_stored, max_stored = 4096;
static int notify_fd = -1, relay_fd = -1;
static struct sockaddr_un relay_sa;
static socklen_t relay_len;
static char notify_path[108];
static pid_t service;
static bool stopping, restart_asked;
static struct timespec started;
static unsigned quick_failures;         /* starts in a row that ended within a second (systemd's start limit) */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "xirq-supervise: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static bool same_description(int a, int b) {
        pid_t pid = getpid();

        return syscall(SYS_kcmp, pid, pid, KCMP_FILE, a, b) == 0;
}

static void store_add(int fd, const char *name) {
        for (size_t i = 0; i < n_stored; i++)
                if (same_description(stored[i].fd, fd)) {
                        /* systemd keeps one copy of a description, under its first name */
                        close(fd);
                        return;
                }
        if (n_stored == max_stored) {
                say("the file descriptor store is full (%zu), %s refused", max_stored, name);
                close(fd);
                return;
        }
        stored[n_stored].fd = fd;
        snprintf(stored[n_stored].name, sizeof stored[n_stored].name, "%s", name);
        n_stored++;
}

static void store_remove(const char *name) {
        for (size_t i = 0; i < n_stored;)
                if (strcmp(stored[i].name, name) == 0) {
                        close(stored[i].fd);
                        stored[i] = stored[--n_stored];
                } else
                        i++;
}

/* A stored socket whose peer went away is dropped, as systemd does on POLLHUP/POLLERR. */
static void store_prune(void) {
        for (size_t i = 0; i < n_stored;) {
                struct pollfd p = { .fd = stored[i].fd, .events = 0 };

                if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR))) {
                        close(stored[i].fd);
                        stored[i] = stored[--n_stored];
                } else
                        i++;
        }
}

static const char *field(const char *text, const char *key) {
        size_t k = strlen(key);

        for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, key, k) == 0)
                        return p + k;
        return NULL;
}

static void field_copy(char *buf, size_t size, const char *v) {
        size_t n = strcspn(v, "\n");

        if (n >= size)
                n = size - 1;
        memcpy(buf, v, n);
        buf[n] = '\0';
}

static void notify_read(void) {
        char text[4096];
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(sizeof(int) * MAX_FDS_PER_MESSAGE)];
        } control;
        struct iovec iov = { .iov_base = text, .iov_len = sizeof(text) - 1 };
        struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                              .msg_controllen = sizeof(control) };
        int fds[MAX_FDS_PER_MESSAGE];
        size_t nfds = 0;
        ssize_t n;
        const char *v;

        n = recvmsg(notify_fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0)
                return;
        text[n] = '\0';
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
                        for (size_t i = 0; i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int) && nfds < MAX_FDS_PER_MESSAGE;
                             i++)
                                memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));

        if (field(text, "FDSTORE=1")) {
                char name[NAME_MAX_LEN + 1] = "stored";

                v = field(text, "FDNAME=");
                if (v)
                        field_copy(name, sizeof name, v);
                for (size_t i = 0; i < nfds; i++)
                        store_add(fds[i], name);
                nfds = 0;
        }
        if (field(text, "FDSTOREREMOVE=1") && (v = field(text, "FDNAME="))) {
                char name[NAME_MAX_LEN + 1];

                field_copy(name, sizeof name, v);
                store_remove(name);
        }
        for (size_t i = 0; i < nfds; i++)
                close(fds[i]);
        /* the text goes on to whoever watches this program */
        if (relay_fd >= 0)
                (void) sendto(relay_fd, text, (size_t) n, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *) &relay_sa,
                              relay_len);
}

static void service_start(char **argv) {
        char *names = NULL, num[32];
        size_t len = 0;
        pid_t pid;

        store_prune();
        for (size_t i = 0; i < n_stored; i++)
                len += strlen(stored[i].name) + 1;
        names = calloc(1, len + 1);
        if (!names) {
                say("out of memory");
                exit(1);
        }
        for (size_t i = 0; i < n_stored; i++) {
                if (i > 0)
                        strcat(names, ":");
                strcat(names, stored[i].name);
        }

        pid = fork();
        if (pid < 0) {
                say("fork: %m");
                exit(1);
        }
        if (pid == 0) {
                sigset_t none;

                sigemptyset(&none);
                sigprocmask(SIG_SETMASK, &none, NULL);
                setpgid(0, 0);
                /* the stored descriptors as 3, 4, ...: first out of the way, then into place */
                for (size_t i = 0; i < n_stored; i++) {
                        int fd = fcntl(stored[i].fd, F_DUPFD_CLOEXEC, 3 + (int) n_stored);

                        if (fd < 0)
                                _exit(126);
                        stored[i].fd = fd;
                }
                for (size_t i = 0; i < n_stored; i++)
                        if (dup2(stored[i].fd, 3 + (int) i) < 0)
                                _exit(126);
                /* none: none of these, as systemd */
                unsetenv("LISTEN_PID");
                unsetenv("LISTEN_FDS");
                unsetenv("LISTEN_FDNAMES");
                if (n_stored > 0) {
                        snprintf(num, sizeof num, "%d", getpid());
                        setenv("LISTEN_PID", num, 1);
                        snprintf(num, sizeof num, "%zu", n_stored);
                        setenv("LISTEN_FDS", num, 1);
                        setenv("LISTEN_FDNAMES", names, 1);
                }
                setenv("NOTIFY_SOCKET", notify_path, 1);
                execvp(argv[0], argv);
                _exit(127);
        }
        free(names);
        setpgid(pid, pid);
        service = pid;
        clock_gettime(CLOCK_MONOTONIC, &started);
}

int main(int argc, char **argv) {
        static const struct option opts[] = {
                { "restart-ms", required_argument, NULL, 'r' },
                { "pid-file", required_argument, NULL, 'p' },
                { "fdstore-max", required_argument, NULL, 'm' },
                {},
        };
        const char *pid_file = NULL, *relay;
        long restart_ms = 100;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        sigset_t mask;
        int sfd, opt;

        while ((opt = getopt_long(argc, argv, "+", opts, NULL)) != -1)
                switch (opt) {
                case 'r': restart_ms = strtol(optarg, NULL, 10); break;
                case 'p': pid_file = optarg; break;
                case 'm': max_stored = strtoul(optarg, NULL, 10); break;
                default:
                        fprintf(stderr, "usage: xirq-supervise [--restart-ms N] [--pid-file PATH] [--fdstore-max N]"
                                        " -- COMMAND [ARG...]\n");
                        return 2;
                }
        if (optind >= argc) {
                fprintf(stderr, "xirq-supervise: no command\n");
                return 2;
        }
        stored = calloc(max_stored ? max_stored : 1, sizeof(*stored));
        if (!stored)
                return 1;

        /* our notification socket, abstract: "@" for sd_notify */
        snprintf(notify_path, sizeof notify_path, "@xirq-supervise-%d", (int) getpid());
        notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        memcpy(sa.sun_path + 1, notify_path + 1, strlen(notify_path) - 1);
        if (notify_fd < 0 ||
            bind(notify_fd, (struct sockaddr *) &sa, (socklen_t) (offsetof(struct sockaddr_un, sun_path) +
                                                                  strlen(notify_path))) < 0) {
                say("notification socket: %m");
                return 1;
        }
        relay = getenv("NOTIFY_SOCKET");
        if (relay && *relay && strlen(relay) < sizeof(relay_sa.sun_path)) {
                relay_sa.sun_family = AF_UNIX;
                memcpy(relay_sa.sun_path, relay, strlen(relay));
                if (relay[0] == '@')
                        relay_sa.sun_path[0] = '\0';
                relay_len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + strlen(relay) +
                                         (relay[0] == '@' ? 0 : 1));
                relay_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGUSR1);
        sigaddset(&mask, SIGHUP);
        sigaddset(&mask, SIGCHLD);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (sfd < 0) {
                say("signalfd: %m");
                return 1;
        }

        for (;;) {
                struct pollfd p[2] = { { .fd = notify_fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };
                struct signalfd_siginfo si;

                if (service == 0) {
                        service_start(argv + optind);
                        if (pid_file) {
                                FILE *f = fopen(pid_file, "we");

                                if (f) {
                                        fprintf(f, "%d\n", (int) service);
                                        fclose(f);
                                }
                        }
                        say("started %d with %zu stored descriptors", (int) service, n_stored);
                }
                if (poll(p, 2, -1) < 0 && errno != EINTR)
                        return 1;
                if (p[0].revents & POLLIN)
                        notify_read();
                while (read(sfd, &si, sizeof si) == (ssize_t) sizeof si) {
                        switch (si.ssi_signo) {
                        case SIGTERM:
                        case SIGINT:
                                stopping = true;
                                if (service > 0)
                                        kill(service, SIGTERM);
                                break;
                        case SIGUSR1:
                                restart_asked = true;
                                if (service > 0)
                                        kill(service, SIGUSR2);
                                break;
                        case SIGHUP:
                                if (service > 0)
                                        kill(service, SIGHUP);
                                break;
                        case SIGCHLD: {
                                int status;
                                pid_t pid;

                                while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                                        if (pid != service)
                                                continue;
                                        /* what is left of the service goes with its main process */
                                        kill(-service, SIGKILL);
                                        service = -1;
                                        say("%d %s %d", (int) pid, WIFSIGNALED(status) ? "killed by signal" : "exited",
                                            WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
                                        if (stopping || (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !restart_asked)) {
                                                while (n_stored > 0)
                                                        close(stored[--n_stored].fd);
                                                return 0;
                                        }
                                        restart_asked = false;
                                        {
                                                struct timespec now;

                                                clock_gettime(CLOCK_MONOTONIC, &now);
                                                if (now.tv_sec - started.tv_sec >= 2)
                                                        quick_failures = 0;
                                                else if (++quick_failures >= 10) {
                                                        say("the service keeps failing, giving up");
                                                        return 1;
                                                }
                                        }
                                        if (restart_ms > 0) {
                                                struct timespec ts = { .tv_sec = restart_ms / 1000,
                                                                       .tv_nsec = (restart_ms % 1000) * 1000000 };

                                                /* notifications sent before the end still count */
                                                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                                                        ;
                                        }
                                        while (poll(p, 1, 0) == 1)
                                                notify_read();
                                        service = 0;
                                }
                                break;
                        }
                        default:
                                break;
                        }
                }
        }
}
