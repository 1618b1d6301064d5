/* SPDX-License-Identifier: LGPL-2.1-only */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "xenstored-test.h"

static void on_alarm(int sig) {
        static const char msg[] = "test watchdog expired: the test hung\n";

        (void) sig;
        (void) !write(STDERR_FILENO, msg, sizeof(msg) - 1);
        _exit(EXIT_FAILURE);
}

void test_watchdog(unsigned seconds) {
        signal(SIGALRM, on_alarm);
        alarm(seconds);
}

static void sleep_ms(long ms) {
        struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

        nanosleep(&ts, NULL);
}

static bool can_connect(const char *path) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd;
        bool ok;

        if (strlen(path) >= sizeof(sa.sun_path))
                return false;
        memcpy(sa.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return false;
        ok = connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
        close(fd);
        return ok;
}

void test_server_start(TestServer *ts, bool with_ro, const char *const *extra_args) {
        const char *bin = getenv("XENSIM_XENSTORED") ? getenv("XENSIM_XENSTORED") : XENSIM_XENSTORED_BIN;
        const char *argv[32];
        char log_path[160];
        size_t n = 0;

        memset(ts, 0, sizeof(*ts));
        snprintf(ts->dir, sizeof(ts->dir), "/tmp/xensim-xs-test.XXXXXX");
        CHECK(mkdtemp(ts->dir) != NULL);
        snprintf(ts->socket, sizeof(ts->socket), "%s/socket", ts->dir);
        snprintf(ts->ro_socket, sizeof(ts->ro_socket), "%s/socket_ro", ts->dir);
        snprintf(ts->pid_file, sizeof(ts->pid_file), "%s/xenstored.pid", ts->dir);
        snprintf(log_path, sizeof(log_path), "%s/xenstored.log", ts->dir);

        argv[n++] = bin;
        argv[n++] = "--socket";
        argv[n++] = ts->socket;
        argv[n++] = "--pid-file";
        argv[n++] = ts->pid_file;
        argv[n++] = "-v";
        if (with_ro) {
                argv[n++] = "--ro-socket";
                argv[n++] = ts->ro_socket;
        }
        for (size_t i = 0; extra_args && extra_args[i]; i++) {
                CHECK(n < 30);
                argv[n++] = extra_args[i];
        }
        argv[n] = NULL;

        ts->pid = fork();
        CHECK(ts->pid >= 0);
        if (ts->pid == 0) {
                int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

                /* The server must not outlive a failed test. */
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                if (fd >= 0) {
                        dup2(fd, STDOUT_FILENO);
                        dup2(fd, STDERR_FILENO);
                }
                execv(bin, (char *const *) argv);
                _exit(127);
        }

        for (int i = 0; i < 1000; i++) {
                int status;

                if (waitpid(ts->pid, &status, WNOHANG) == ts->pid) {
                        fprintf(stderr, "xensim-xenstored exited early (status 0x%x), log in %s\n",
                                status, log_path);
                        exit(EXIT_FAILURE);
                }
                if (can_connect(ts->socket)) {
                        setenv("XENSTORED_PATH", ts->socket, 1);
                        return;
                }
                sleep_ms(10);
        }
        fprintf(stderr, "xensim-xenstored did not accept connections within 10 s\n");
        kill(ts->pid, SIGKILL);
        exit(EXIT_FAILURE);
}

bool test_server_alive(TestServer *ts) {
        int status;

        return waitpid(ts->pid, &status, WNOHANG) == 0;
}

void test_server_stop(TestServer *ts) {
        struct stat st;
        int status = 0;

        CHECK(kill(ts->pid, SIGTERM) == 0);
        for (int i = 0;; i++) {
                pid_t p = waitpid(ts->pid, &status, WNOHANG);

                if (p == ts->pid)
                        break;
                if (i >= 1000) {
                        fprintf(stderr, "xensim-xenstored did not exit within 10 s of SIGTERM\n");
                        kill(ts->pid, SIGKILL);
                        exit(EXIT_FAILURE);
                }
                sleep_ms(10);
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "xensim-xenstored ended with status 0x%x, log in %s\n", status, ts->dir);
                exit(EXIT_FAILURE);
        }
        CHECK(lstat(ts->socket, &st) < 0 && errno == ENOENT);
        CHECK(lstat(ts->pid_file, &st) < 0 && errno == ENOENT);
        {
                char path[160];

                snprintf(path, sizeof(path), "%s/xenstored.log", ts->dir);
                unlink(path);
                unlink(ts->ro_socket);
                rmdir(ts->dir);
        }
}
