/* SPDX-License-Identifier: GPL-2.0-or-later */
#define _GNU_SOURCE 1
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "itlib.h"
#include "testutil.h"

#ifndef ABS_TOP_BUILDDIR
#error "ABS_TOP_BUILDDIR must be defined"
#endif

#define IT_WATCHDOG_S   90

It *it_current;
int it_timeout_scale = 1;
static uint32_t it_seq = 1;

static long long now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void it_log(const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "# ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/*
 * A thread receives the daemon's messages as they come: a datagram socket
 * queues only a few, and the daemon would block on a full queue.
 */
static pthread_mutex_t notes_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t notes_thread;
static volatile int notes_stop;

static void *notes_reader(void *arg) {
        It *it = arg;

        while (!notes_stop) {
                struct pollfd p = { .fd = it->notify_fd, .events = POLLIN };
                char buf[4096];
                ssize_t n;

                if (poll(&p, 1, 50) <= 0)
                        continue;
                n = recv(it->notify_fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
                if (n < 0)
                        continue;
                buf[n] = '\0';
                pthread_mutex_lock(&notes_lock);
                /* full: the oldest notes already looked at make room (a busy daemon sends many STATUS=) */
                if (it->n_notes == IT_NOTES_MAX && it->notes_seen > 0) {
                        size_t k = it->notes_seen;

                        for (size_t i = 0; i < k; i++)
                                free(it->notes[i]);
                        memmove(it->notes, it->notes + k, (it->n_notes - k) * sizeof(it->notes[0]));
                        it->n_notes -= k;
                        it->notes_seen = 0;
                }
                if (it->n_notes < IT_NOTES_MAX)
                        it->notes[it->n_notes++] = strdup(buf);
                pthread_mutex_unlock(&notes_lock);
        }
        return NULL;
}

static void it_dump_log(It *it) {
        char buf[8192];
        FILE *f;
        size_t n;
        long size;

        if (!it || !it->log[0] || !(f = fopen(it->log, "r")))
                return;
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fseek(f, size > (long) sizeof(buf) - 1 ? size - (long) sizeof(buf) + 1 : 0, SEEK_SET);
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        fprintf(stderr, "---- daemon log (tail) ----\n%s---- end of daemon log ----\n", buf);
}

/*
 * Under the stand-in service manager the service runs in a process group of
 * its own, which outlives a supervisor killed with SIGKILL: the group (main
 * process and workers) goes first.
 */
static void it_kill_service(It *it) {
        pid_t main_pid;

        if (!it->supervised || it->daemon <= 0)
                return;
        main_pid = it_daemon_pid(it);
        if (main_pid > 1 && main_pid != it->daemon)
                (void) kill(-main_pid, SIGKILL);
}

static void it_kill_children(It *it) {
        if (!it)
                return;
        if (it->daemon > 0) {
                it_kill_service(it);
                kill(it->daemon, SIGKILL);
                waitpid(it->daemon, NULL, 0);
                it->daemon = 0;
        }
        if (it->xensimd > 0) {
                (void) tu_stop_child(it->xensimd, 1000);
                it->xensimd = 0;
        }
}

void it_fail(const char *file, int line, const char *fmt, ...) {
        va_list ap;

        fprintf(stderr, "FAIL %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        it_dump_log(it_current);
        it_kill_children(it_current);
        exit(1);
}

static void it_alarm(int sig) {
        static const char msg[] = "FAIL: test watchdog expired (a wait was not bounded?)\n";

        (void) !write(STDERR_FILENO, msg, sizeof(msg) - 1);
        if (it_current && it_current->daemon > 0)
                kill(it_current->daemon, SIGKILL);
        if (it_current && it_current->xensimd > 0)
                kill(it_current->xensimd, SIGKILL);
        _exit(1);
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "w");

        if (!f)
                IT_FAIL("cannot write %s: %m", path);
        fputs(text, f);
        if (fclose(f) != 0)
                IT_FAIL("cannot write %s: %m", path);
}

static void start_xensimd(It *it) {
        char bin[512], fdarg[16], logpath[400];
        const char *argv[] = { bin, "--dir", it->simdir, "--ready-fd", fdarg, NULL };
        int pipefd[2], r;

        snprintf(bin, sizeof bin, "%s/sim/xensimd", ABS_TOP_BUILDDIR);
        snprintf(logpath, sizeof logpath, "%s/xensimd.log", it->dir);
        if (pipe2(pipefd, O_CLOEXEC) < 0)
                IT_FAIL("pipe: %m");
        snprintf(fdarg, sizeof fdarg, "%d", pipefd[1]);
        it->xensimd = tu_spawn(argv, NULL, logpath, &pipefd[1], 1);
        close(pipefd[1]);
        if (it->xensimd < 0)
                IT_FAIL("cannot start %s: %s", bin, strerror(-it->xensimd));
        r = tu_wait_ready(pipefd[0], IT_TIMEOUT_MS);
        close(pipefd[0]);
        if (r == -ETIMEDOUT)
                IT_FAIL("xensimd did not report READY within %d ms (see %s/xensimd.log)", IT_TIMEOUT_MS, it->dir);
        if (r < 0)
                IT_FAIL("xensimd exited before READY (%s; see %s/xensimd.log)", strerror(-r), it->dir);
}

void it_init(It *it, const char *name, int argc, char **argv) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        char path[512];
        int r;

        (void) argc;
        /* this process uses the drop-in Xen libraries too (e.g. to create a VMM's server) */
        if (!getenv("IT_REEXECED")) {
                snprintf(path, sizeof path, "%s/sim/.libs", ABS_TOP_BUILDDIR);
                setenv("LD_LIBRARY_PATH", path, 1);
                setenv("IT_REEXECED", "1", 1);
                execv("/proc/self/exe", argv);
                fprintf(stderr, "FAIL: re-exec: %m\n");
                exit(1);
        }

        memset(it, 0, sizeof(*it));
        it->name = name;
        it->notify_fd = -1;
        it->pass_fd = -1;
        it_current = it;
        setvbuf(stdout, NULL, _IOLBF, 0);
        if (getenv("IT_TIMEOUT_SCALE"))
                it_timeout_scale = atoi(getenv("IT_TIMEOUT_SCALE")) > 0 ? atoi(getenv("IT_TIMEOUT_SCALE")) : 1;
        signal(SIGALRM, it_alarm);
        signal(SIGPIPE, SIG_IGN);
        alarm(IT_WATCHDOG_S * (unsigned) it_timeout_scale);

        snprintf(it->dir, sizeof it->dir, "/tmp/xen-ioreqd-%s-XXXXXX", name);
        if (!mkdtemp(it->dir))
                IT_FAIL("mkdtemp: %m");
        snprintf(it->simdir, sizeof it->simdir, "%s/sim", it->dir);
        snprintf(it->conf, sizeof it->conf, "%s/xen-ioreqd.conf", it->dir);
        snprintf(it->guests_dir, sizeof it->guests_dir, "%s/guests.d", it->dir);
        snprintf(it->sockets_dir, sizeof it->sockets_dir, "%s/run", it->dir);
        snprintf(it->log, sizeof it->log, "%s/daemon.log", it->dir);
        snprintf(it->notify_path, sizeof it->notify_path, "%s/notify.sock", it->dir);
        if (mkdir(it->guests_dir, 0755) < 0 || mkdir(it->sockets_dir, 0755) < 0)
                IT_FAIL("mkdir: %m");
        /* sockets of guests that others may connect to */
        chmod(it->dir, 0755);

        it->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (it->notify_fd < 0)
                IT_FAIL("socket: %m");
        if (strlen(it->notify_path) >= sizeof(sa.sun_path))
                IT_FAIL("%s: path too long for a socket", it->notify_path);
        memcpy(sa.sun_path, it->notify_path, strlen(it->notify_path) + 1);
        if (bind(it->notify_fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                IT_FAIL("bind %s: %m", it->notify_path);

        if (pthread_create(&notes_thread, NULL, notes_reader, it) != 0)
                IT_FAIL("pthread_create failed");

        start_xensimd(it);
        setenv("XENSIM_DIR", it->simdir, 1);
        snprintf(path, sizeof path, "%s/xenstored.sock", it->simdir);
        setenv("XENSTORED_PATH", path, 1);

        r = xsg_open(&it->xsg, it->simdir);
        if (r < 0)
                IT_FAIL("xsg_open(%s): %s", it->simdir, strerror(-r));
        it_log("%s: running in %s", name, it->dir);
}

/*
 * The daemon's log, whole: a sanitizer's report (of the parent or of a
 * worker, whose stderr the parent copies) fails every test; so does a worker
 * that died, unless the test kills workers itself.
 */
static void it_check_log(It *it) {
        char line[4096];
        FILE *f = fopen(it->log, "re");

        if (!f)
                return;
        while (fgets(line, sizeof line, f)) {
                if (strstr(line, "Sanitizer") || strstr(line, "runtime error:"))
                        IT_FAIL("the daemon's log has a sanitizer report: %s", line);
                if (!it->worker_deaths_expected && strstr(line, ": worker ") &&
                    (strstr(line, " killed by signal ") || strstr(line, " exited with status ")))
                        IT_FAIL("a worker died: %s", line);
        }
        fclose(f);
}

void it_fini(It *it) {
        if (it->daemon > 0) {
                int st = it_daemon_wait(it, 0);

                (void) st;
        }
        it_check_log(it);
        it->xsg = xsg_close(it->xsg);
        it_kill_children(it);
        notes_stop = 1;
        pthread_join(notes_thread, NULL);
        if (it->notify_fd >= 0)
                close(it->notify_fd);
        for (size_t i = 0; i < it->n_notes; i++)
                free(it->notes[i]);
        if (!getenv("IT_KEEP"))
                (void) tu_rm_rf(it->dir);
        it_current = NULL;
        printf("PASS %s\n", it->name);
}

void it_write_global(It *it, const char *extra) {
        char text[4096];

        snprintf(text, sizeof text,
                 "[daemon]\nguests_dir = %s\nsocket_dir = %s\nlog_level = debug\nworker_user = 65534\n%s",
                 it->guests_dir, it->sockets_dir, extra ? extra : "");
        write_file(it->conf, text);
}

void it_write_guest(It *it, const char *name, const char *extra) {
        char path[512], text[4096];

        snprintf(path, sizeof path, "%s/%s.conf", it->guests_dir, name);
        snprintf(text, sizeof text, "[guest]\nname = %s\n%s", name, extra ? extra : "");
        write_file(path, text);
}

void it_remove_guest(It *it, const char *name) {
        char path[512];

        snprintf(path, sizeof path, "%s/%s.conf", it->guests_dir, name);
        if (unlink(path) < 0)
                IT_FAIL("unlink %s: %m", path);
}

void it_socket_path(It *it, const char *guest, char *buf, size_t size) {
        int n = snprintf(buf, size, "%s/%s.sock", it->sockets_dir, guest);

        if (n < 0 || (size_t) n >= size)
                IT_FAIL("socket path of guest %s too long", guest);
}

/* ---- the daemon ---- */

static void daemon_exec(It *it, const char *const *args, const char *const *extra_env, int out_fd) {
        char bin[512], libs[512];

        snprintf(bin, sizeof bin, "%s/src/xen-ioreqd", ABS_TOP_BUILDDIR);
        snprintf(libs, sizeof libs, "%s/sim/.libs", ABS_TOP_BUILDDIR);
        setenv("LD_LIBRARY_PATH", libs, 1);
        setenv("NOTIFY_SOCKET", it->notify_path, 1);
        unsetenv("JOURNAL_STREAM");
        unsetenv("WATCHDOG_USEC");
        unsetenv("WATCHDOG_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_PID");
        for (size_t i = 0; extra_env && extra_env[i]; i++) {
                /* not for the daemon: a limit on its open files */
                if (strncmp(extra_env[i], "IT_NOFILE=", 10) == 0) {
                        struct rlimit rl;

                        rl.rlim_cur = rl.rlim_max = strtoul(extra_env[i] + 10, NULL, 10);
                        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                                _exit(126);
                        continue;
                }
                putenv((char *) extra_env[i]);
        }
        if (out_fd >= 0) {
                dup2(out_fd, STDOUT_FILENO);
                dup2(out_fd, STDERR_FILENO);
        }
        /* the daemon inherits nothing else from the test, except a socket to activate it with */
        if (it->pass_fd >= 0) {
                char pid[32];

                if (dup2(it->pass_fd, 3) < 0)
                        _exit(126);
                close_range(4, ~0u, 0);
                snprintf(pid, sizeof pid, "%d", (int) getpid());
                setenv("LISTEN_PID", pid, 1);
                setenv("LISTEN_FDS", "1", 1);
        } else
                close_range(3, ~0u, 0);
        {
                const char *argv[32];
                char *wrapper = getenv("IT_DAEMON_WRAPPER") ? strdup(getenv("IT_DAEMON_WRAPPER")) : NULL;
                size_t n = 0;

                /* e.g. "valgrind --error-exitcode=99 --leak-check=full" */
                for (char *save = NULL, *w = wrapper ? strtok_r(wrapper, " ", &save) : NULL; w && n < 16;
                     w = strtok_r(NULL, " ", &save))
                        argv[n++] = w;
                if (it->supervised) {
                        static char sup[512], pidfile[320];

                        /* under the stand-in service manager, as under systemd: it keeps the fd store */
                        snprintf(sup, sizeof sup, "%s/tests/xirq-supervise", ABS_TOP_BUILDDIR);
                        snprintf(pidfile, sizeof pidfile, "%s/daemon.pid", it->dir);
                        argv[n++] = sup;
                        argv[n++] = "--pid-file";
                        argv[n++] = pidfile;
                        argv[n++] = "--restart-ms";
                        argv[n++] = "0";
                        argv[n++] = "--";
                }
                argv[n++] = bin;
                for (size_t i = 0; args[i] && n < 31; i++)
                        argv[n++] = args[i];
                argv[n] = NULL;
                execvp(argv[0], (char *const *) argv);
        }
        fprintf(stderr, "exec %s: %m\n", bin);
        _exit(127);
}

void it_daemon_start(It *it, const char *const *extra_env) {
        const char *args[] = { "-c", it->conf, "-d", "-v", NULL };
        int fd;

        if (it->daemon > 0)
                IT_FAIL("daemon already running");
        pthread_mutex_lock(&notes_lock);
        it->notes_seen = it->n_notes;
        pthread_mutex_unlock(&notes_lock);
        fd = open(it->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
                IT_FAIL("open %s: %m", it->log);
        it->daemon = fork();
        if (it->daemon < 0)
                IT_FAIL("fork: %m");
        if (it->daemon == 0) {
                if (it->notify_fd >= 0)
                        close(it->notify_fd);
                daemon_exec(it, args, extra_env, fd);
        }
        close(fd);
        if (!it_wait_note(it, "READY=1", IT_TIMEOUT_MS))
                IT_FAIL("the daemon did not send READY=1 within %d ms", IT_TIMEOUT_MS);
}

void it_daemon_signal(It *it, int sig) {
        if (it->daemon <= 0 || kill(it->daemon, sig) < 0)
                IT_FAIL("cannot signal the daemon: %m");
}

bool it_daemon_alive(It *it) {
        int st;

        if (it->daemon <= 0)
                return false;
        if (tu_wait_child(it->daemon, 0, &st) == 0) {
                it->daemon_status = tu_exit_status(st);
                it->daemon = 0;
                return false;
        }
        return true;
}

int it_daemon_wait(It *it, int timeout_ms) {
        int st, r;

        if (it->daemon <= 0)
                return it->daemon_status;
        r = tu_wait_child(it->daemon, timeout_ms, &st);
        if (r == 0) {
                it->daemon_status = tu_exit_status(st);
                it->daemon = 0;
                return it->daemon_status;
        }
        if (timeout_ms > 0)
                IT_FAIL("the daemon did not exit within %d ms (%s)", timeout_ms, strerror(-r));
        it_kill_service(it);
        kill(it->daemon, SIGKILL);
        waitpid(it->daemon, NULL, 0);
        it->daemon = 0;
        return -1;
}

int it_daemon_run(It *it, char *out, size_t size, const char *arg, ...) {
        const char *args[16];
        char path[512];
        size_t n = 0;
        va_list ap;
        pid_t pid;
        int fd, st, r;
        ssize_t len;

        va_start(ap, arg);
        for (const char *a = arg; a && n < 15; a = va_arg(ap, const char *))
                args[n++] = a;
        va_end(ap);
        args[n] = NULL;

        snprintf(path, sizeof path, "%s/run.out", it->dir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                IT_FAIL("open %s: %m", path);
        pid = fork();
        if (pid < 0)
                IT_FAIL("fork: %m");
        if (pid == 0)
                daemon_exec(it, args, NULL, fd);
        r = tu_wait_child(pid, IT_TIMEOUT_MS, &st);
        if (r == -ETIMEDOUT) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                IT_FAIL("xen-ioreqd %s did not finish within %d ms", arg, IT_TIMEOUT_MS);
        }
        if (r < 0)
                IT_FAIL("waiting for xen-ioreqd %s: %s", arg, strerror(-r));
        len = pread(fd, out, size - 1, 0);
        out[len > 0 ? len : 0] = '\0';
        close(fd);
        return tu_exit_status(st);
}

bool it_log_contains(It *it, const char *s) {
        static char buf[1 << 20];
        FILE *f = fopen(it->log, "r");
        size_t n;

        if (!f)
                return false;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        buf[n] = '\0';
        fclose(f);
        return strstr(buf, s) != NULL;
}

typedef struct LogWait {
        It *it;
        const char *s;
} LogWait;

static bool log_has(void *arg) {
        LogWait *w = arg;

        return it_log_contains(w->it, w->s);
}

bool it_wait_log(It *it, const char *s, int timeout_ms) {
        LogWait w = { .it = it, .s = s };

        return it_wait_for(log_has, &w, timeout_ms);
}

/* ---- sd_notify ---- */

void it_drain_notes(It *it) {
        (void) it_count_notes(it, "");
}

size_t it_count_notes(It *it, const char *prefix) {
        size_t n = 0;

        /* let the reader catch up with anything already sent, then take it as seen */
        usleep(20000);
        pthread_mutex_lock(&notes_lock);
        for (size_t i = it->notes_seen; i < it->n_notes; i++)
                if (strncmp(it->notes[i], prefix, strlen(prefix)) == 0)
                        n++;
        it->notes_seen = it->n_notes;
        pthread_mutex_unlock(&notes_lock);
        return n;
}

static bool note_has(const char *note, const char *prefix) {
        size_t len = strlen(prefix);

        for (const char *p = note; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
                if (strncmp(p, prefix, len) == 0)
                        return true;
        return false;
}

const char *it_wait_note(It *it, const char *prefix, int timeout_ms) {
        long long deadline = now_ms() + timeout_ms;

        for (;;) {
                const char *found = NULL;

                pthread_mutex_lock(&notes_lock);
                for (size_t i = it->notes_seen; i < it->n_notes; i++)
                        if (note_has(it->notes[i], prefix)) {
                                it->notes_seen = i + 1;
                                found = it->notes[i];
                                break;
                        }
                pthread_mutex_unlock(&notes_lock);
                if (found)
                        return found;
                if (now_ms() >= deadline)
                        return NULL;
                usleep(5000);
        }
}

/* ---- xensim ---- */

uint32_t it_domain_create(It *it, const char *name, unsigned vcpus) {
        uint32_t domid;
        int r = xsg_domain_create(it->xsg, name, vcpus, &domid);

        if (r < 0)
                IT_FAIL("creating domain %s: %s", name, strerror(-r));
        return domid;
}

void it_domain_destroy(It *it, uint32_t domid) {
        int r = xsg_domain_destroy(it->xsg, domid);

        if (r < 0)
                IT_FAIL("destroying domain %u: %s", domid, strerror(-r));
}

int it_servers(It *it, uint32_t domid, struct xsg_server_info *buf, size_t n) {
        int r = xsg_servers(it->xsg, domid, buf, n);

        if (r < 0)
                IT_FAIL("listing servers of domain %u: %s", domid, strerror(-r));
        return r;
}

int it_ranges(It *it, uint32_t domid, unsigned id, int space, struct xsg_range *buf, size_t n) {
        int r = xsg_server_ranges(it->xsg, domid, id, space, buf, n);

        if (r < 0)
                IT_FAIL("listing ranges of server %u of domain %u: %s", id, domid, strerror(-r));
        return r;
}

int it_write(It *it, uint32_t domid, unsigned vcpu, int space, uint64_t addr, unsigned size, uint64_t value) {
        return xsg_write(it->xsg, domid, vcpu, space, addr, size, value, IT_TIMEOUT_MS);
}

int it_read(It *it, uint32_t domid, unsigned vcpu, int space, uint64_t addr, unsigned size, uint64_t *value) {
        return xsg_read(it->xsg, domid, vcpu, space, addr, size, value, IT_TIMEOUT_MS);
}

bool it_wait_for(bool (*cond_fn)(void *arg), void *arg, int timeout_ms) {
        long long deadline = now_ms() + timeout_ms;

        for (;;) {
                if (cond_fn(arg))
                        return true;
                if (now_ms() >= deadline)
                        return false;
                usleep(5000);
        }
}

/* ---- protocol client ---- */

int it_connect_errno(It *it, const char *guest) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;

        char path[300];

        it_socket_path(it, guest, path, sizeof path);
        if (strlen(path) >= sizeof(sa.sun_path))
                IT_FAIL("%s: path too long for a socket", path);
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        if (fd < 0)
                IT_FAIL("socket: %m");
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0) {
                int e = errno;

                close(fd);
                return -e;
        }
        return fd;
}

int it_connect(It *it, const char *guest) {
        int fd = it_connect_errno(it, guest);

        if (fd < 0)
                IT_FAIL("connecting to guest %s's socket: %s", guest, strerror(-fd));
        return fd;
}

int it_send(int fd, const void *buf, size_t len, const int *fds, unsigned nfds) {
        return tu_send_fds(fd, buf, len, fds, nfds);
}

ssize_t it_recv(int fd, void *buf, size_t size, int timeout_ms) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        ssize_t n;

        if (poll(&p, 1, timeout_ms) <= 0)
                return -ETIMEDOUT;
        n = recv(fd, buf, size, MSG_DONTWAIT);
        if (n < 0)
                return -errno;
        return n;
}

static size_t reply_size(uint16_t type) {
        switch (type) {
        case XIRQ_MSG_HELLO: return sizeof(struct xirq_hello_reply);
        case XIRQ_MSG_QUERY: return sizeof(struct xirq_query_reply);
        default: return sizeof(struct xirq_reply);
        }
}

int it_reply_error(int fd, uint16_t type, uint32_t seq) {
        uint8_t buf[256];
        struct xirq_reply r;
        ssize_t n = it_recv(fd, buf, sizeof buf, IT_TIMEOUT_MS);

        if (n == -ETIMEDOUT)
                IT_FAIL("no reply to request type 0x%04x seq %u within %d ms", type, seq, IT_TIMEOUT_MS);
        if (n <= 0)
                IT_FAIL("connection closed instead of a reply to type 0x%04x seq %u (%zd)", type, seq, n);
        if ((size_t) n != reply_size(type) && (size_t) n != sizeof(struct xirq_reply))
                IT_FAIL("reply to type 0x%04x: %zd bytes, expected %zu", type, n, reply_size(type));
        memcpy(&r, buf, sizeof(r));
        if (le16toh(r.hdr.type) != (type | XIRQ_MSG_REPLY) || le32toh(r.hdr.seq) != seq)
                IT_FAIL("reply type 0x%04x seq %u, expected 0x%04x seq %u", le16toh(r.hdr.type), le32toh(r.hdr.seq),
                        type | XIRQ_MSG_REPLY, seq);
        return (int) (int32_t) le32toh((uint32_t) r.error);
}

int it_hello(int fd, uint32_t *domid) {
        struct xirq_hello h = {
                .hdr = { .type = htole16(XIRQ_MSG_HELLO), .seq = htole32(it_seq) },
                .magic = htole32(XIRQ_PROTO_MAGIC),
                .version_min = htole16(1),
                .version_max = htole16(1),
        };
        struct xirq_hello_reply rep;
        uint32_t seq = it_seq++;
        ssize_t n;

        if (it_send(fd, &h, sizeof h, NULL, 0) < 0)
                IT_FAIL("sending HELLO: %m");
        n = it_recv(fd, &rep, sizeof rep, IT_TIMEOUT_MS);
        if (n <= 0)
                IT_FAIL("no HELLO reply (%zd)", n);
        if ((size_t) n != sizeof(rep) || le16toh(rep.hdr.type) != (XIRQ_MSG_HELLO | XIRQ_MSG_REPLY) ||
            le32toh(rep.hdr.seq) != seq)
                IT_FAIL("bad HELLO reply: %zd bytes type 0x%04x", n, le16toh(rep.hdr.type));
        if (domid)
                *domid = le32toh(rep.domid);
        return le32toh((uint32_t) rep.error);
}

static int send_assign(int fd, uint16_t type, uint8_t space, uint8_t len, uint8_t match, uint64_t addr,
                       uint64_t value, uint64_t mask, int efd) {
        struct xirq_assign a = {
                .hdr = { .type = htole16(type), .seq = htole32(it_seq) },
                .space = space,
                .len = len,
                .match = match,
                .addr = htole64(addr),
                .value = htole64(value),
                .mask = htole64(mask),
        };
        uint32_t seq = it_seq++;

        if (it_send(fd, &a, sizeof a, efd >= 0 ? &efd : NULL, efd >= 0 ? 1 : 0) < 0)
                IT_FAIL("sending request: %m");
        return it_reply_error(fd, type, seq);
}

int it_assign(int fd, uint8_t space, uint8_t len, uint8_t match, uint64_t addr, uint64_t value, uint64_t mask,
              int efd) {
        return send_assign(fd, XIRQ_MSG_ASSIGN, space, len, match, addr, value, mask, efd);
}

int it_deassign(int fd, uint8_t space, uint8_t len, uint8_t match, uint64_t addr, uint64_t value, uint64_t mask) {
        return send_assign(fd, XIRQ_MSG_DEASSIGN, space, len, match, addr, value, mask, -1);
}

int it_virtio(int fd, uint64_t base, uint16_t queue, bool deassign, int efd) {
        struct xirq_virtio_mmio v = {
                .hdr = { .type = htole16(XIRQ_MSG_VIRTIO_MMIO), .seq = htole32(it_seq) },
                .base = htole64(base),
                .queue = htole16(queue),
                .vflags = htole16(deassign ? XIRQ_VIRTIO_DEASSIGN : 0),
        };
        uint32_t seq = it_seq++;

        if (it_send(fd, &v, sizeof v, efd >= 0 ? &efd : NULL, efd >= 0 ? 1 : 0) < 0)
                IT_FAIL("sending VIRTIO_MMIO: %m");
        return it_reply_error(fd, XIRQ_MSG_VIRTIO_MMIO, seq);
}

int it_query(int fd, struct xirq_query_reply *ret) {
        struct xirq_query q = { .hdr = { .type = htole16(XIRQ_MSG_QUERY), .seq = htole32(it_seq) } };
        uint32_t seq = it_seq++;
        ssize_t n;

        if (it_send(fd, &q, sizeof q, NULL, 0) < 0)
                IT_FAIL("sending QUERY: %m");
        n = it_recv(fd, ret, sizeof(*ret), IT_TIMEOUT_MS);
        if (n <= 0)
                IT_FAIL("no QUERY reply (%zd)", n);
        if (le16toh(ret->hdr.type) != (XIRQ_MSG_QUERY | XIRQ_MSG_REPLY) || le32toh(ret->hdr.seq) != seq)
                IT_FAIL("bad QUERY reply type 0x%04x", le16toh(ret->hdr.type));
        if ((size_t) n != sizeof(*ret))
                return (int) (int32_t) le32toh((uint32_t) ret->error);
        ret->state = le32toh(ret->state);
        ret->domid = le32toh(ret->domid);
        ret->server_id = le32toh(ret->server_id);
        ret->nr_vcpus = le32toh(ret->nr_vcpus);
        ret->registrations = le32toh(ret->registrations);
        ret->client_registrations = le32toh(ret->client_registrations);
        ret->kicks = le64toh(ret->kicks);
        ret->unmatched = le64toh(ret->unmatched);
        ret->reads = le64toh(ret->reads);
        ret->invalid = le64toh(ret->invalid);
        ret->other = le64toh(ret->other);
        return (int) (int32_t) le32toh((uint32_t) ret->error);
}

bool it_closed(int fd, int timeout_ms) {
        char buf[256];
        long long deadline = now_ms() + timeout_ms;

        for (;;) {
                long long left = deadline - now_ms();
                ssize_t n = it_recv(fd, buf, sizeof buf, left > 0 ? (int) left : 0);

                if (n == 0 || n == -ECONNRESET)
                        return true;
                if (n == -ETIMEDOUT)
                        return false;
                /* a reply still queued before the end: skip it */
        }
}

int it_eventfd(void) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

        if (fd < 0)
                IT_FAIL("eventfd: %m");
        return fd;
}

uint64_t it_efd_take(int efd) {
        uint64_t v = 0;

        if (read(efd, &v, sizeof v) != sizeof v)
                return 0;
        return v;
}

pid_t it_daemon_pid(It *it) {
        char path[320];
        FILE *f;
        int pid = 0;

        if (!it->supervised)
                return it->daemon;
        snprintf(path, sizeof path, "%s/daemon.pid", it->dir);
        f = fopen(path, "re");
        if (!f || fscanf(f, "%d", &pid) != 1)
                pid = 0;
        if (f)
                fclose(f);
        return (pid_t) pid;
}

size_t it_workers(It *it, pid_t *buf, size_t n) {
        pid_t daemon = it_daemon_pid(it);
        char path[64];
        size_t k = 0;
        FILE *f;
        int pid;

        snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int) daemon, (int) daemon);
        f = fopen(path, "re");
        if (!f)
                IT_FAIL("open %s: %m", path);
        while (fscanf(f, "%d", &pid) == 1) {
                if (k < n)
                        buf[k] = (pid_t) pid;
                k++;
        }
        fclose(f);
        return k;
}

/* a process's name with its newline, "" if it is gone */
static void it_comm(pid_t pid, char *comm, size_t size) {
        char path[64];
        FILE *f;

        comm[0] = '\0';
        snprintf(path, sizeof path, "/proc/%d/comm", (int) pid);
        f = fopen(path, "re");
        if (!f)
                return;
        if (!fgets(comm, (int) size, f))
                comm[0] = '\0';
        fclose(f);
}

pid_t it_worker_of(It *it, uint32_t domid) {
        pid_t pids[256];
        size_t n = it_workers(it, pids, 256);
        char want[32];

        snprintf(want, sizeof want, "xirq-d%u\n", domid);
        for (size_t i = 0; i < n && i < 256; i++) {
                char comm[32];

                it_comm(pids[i], comm, sizeof comm);
                if (strcmp(comm, want) == 0)
                        return pids[i];
        }
        return 0;
}

size_t it_spares(It *it, pid_t *buf, size_t n) {
        pid_t kids[256];
        size_t nk = it_workers(it, kids, 256), k = 0;
        char self[32];

        /* the main process's own name (xen-ioreqd, or valgrind's) */
        it_comm(it_daemon_pid(it), self, sizeof self);

        for (size_t i = 0; i < nk && i < 256; i++) {
                char comm[32];

                it_comm(kids[i], comm, sizeof comm);
                /*
                 * a spare has exec'd the worker (it names itself xirq-spare soon
                 * after) and has no guest yet: not gone meanwhile, not a guest's
                 * worker (xirq-dN), and not a child still on its way to exec,
                 * named as the main process (which waits for that one)
                 */
                if (!comm[0] || strncmp(comm, "xirq-d", 6) == 0 || strcmp(comm, self) == 0)
                        continue;
                if (buf && k < n)
                        buf[k] = kids[i];
                k++;
        }
        return k;
}

pid_t it_wait_worker(It *it, uint32_t domid, pid_t not, int timeout_ms) {
        for (int waited = 0;; waited += 5) {
                pid_t p = it_worker_of(it, domid);

                if (p > 0 && p != not)
                        return p;
                if (waited >= timeout_ms)
                        IT_FAIL("no worker of domain %u%s within %d ms", domid, not ? " besides the old one" : "",
                                timeout_ms);
                usleep(5000);
        }
}

unsigned it_own_fds(It *it) {
        unsigned prev = UINT_MAX, n = 0;

        for (int waited = 0; waited < IT_TIMEOUT_MS; waited += 10) {
                size_t s = it_spares(it, NULL, 0);

                if (s == 0 || s == IT_SPARES) {
                        n = it_count_fds(it->daemon) - IT_SPARE_FDS * (unsigned) s;
                        if (n == prev && it_spares(it, NULL, 0) == s)
                                return n;
                        prev = n;
                } else
                        prev = UINT_MAX;
                usleep(10000);
        }
        return n;
}

unsigned it_count_fds(pid_t pid) {
        int n = tu_count_fds(pid);

        if (n < 0)
                IT_FAIL("listing the fds of process %d: %s", (int) pid, strerror(-n));
        return (unsigned) n;
}

/* ---- programs of the build tree whose output a test reads ---- */

void it_program_start(ItProgram *p, const char *const *argv) {
        char exe[512];
        int fds[2];

        snprintf(exe, sizeof exe, "%s/%s", ABS_TOP_BUILDDIR, argv[0]);
        if (pipe2(fds, O_CLOEXEC) < 0)
                IT_FAIL("pipe: %m");
        p->pid = fork();
        if (p->pid < 0)
                IT_FAIL("fork: %m");
        if (p->pid == 0) {
                dup2(fds[1], STDOUT_FILENO);
                execv(exe, (char *const *) argv);
                _exit(127);
        }
        close(fds[1]);
        p->out = fdopen(fds[0], "r");
        if (!p->out)
                IT_FAIL("fdopen: %m");
        p->len = 0;
        p->text[0] = '\0';
}

const char *it_program_line(ItProgram *p, const char *prefix) {
        static char line[1024];

        while (fgets(line, sizeof line, p->out)) {
                size_t n = strlen(line);

                if (p->len + n < sizeof(p->text)) {
                        memcpy(p->text + p->len, line, n + 1);
                        p->len += n;
                }
                if (strncmp(line, prefix, strlen(prefix)) == 0)
                        return line;
        }
        IT_FAIL("%s ended without a line \"%s\"; it said:\n%s", "the program", prefix, p->text);
}
