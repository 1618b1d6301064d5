/* SPDX-License-Identifier: LGPL-2.1-only */
#include "autoconfig.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <stdint.h>
#include <xen/memory.h>

#include "simtest.h"
#include "xensim-shm.h"

const char *st_dir;
int st_failures;
static pid_t host_pid;
static char dir_buf[256];
static xsg *guest;

static void watchdog(int sig) {
        static const char msg[] = "FAIL: watchdog: the test took too long\n";
        ssize_t n = write(2, msg, sizeof(msg) - 1);
        (void)n;
        if (host_pid > 0)
                kill(host_pid, SIGKILL);
        _exit(1);
        (void)sig;
}

static void stop_host(void) {
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        if (host_pid <= 0)
                return;
        kill(host_pid, SIGTERM);
        for (int i = 0; i < 250; i++) {
                int status;
                if (waitpid(host_pid, &status, WNOHANG) == host_pid) {
                        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                                fprintf(stderr, "FAIL: xensimd did not exit cleanly (status "
                                                "0x%x)\n", status);
                                st_failures++;
                        }
                        host_pid = 0;
                        goto clean;
                }
                nanosleep(&ts, NULL);
        }
        fprintf(stderr, "FAIL: xensimd ignored SIGTERM\n");
        st_failures++;
        kill(host_pid, SIGKILL);
        waitpid(host_pid, NULL, 0);
        host_pid = 0;
clean:
        if (st_dir) {
                char cmd[300];
                snprintf(cmd, sizeof(cmd), "rm -rf '%s'", st_dir);
                if (system(cmd) != 0)
                        fprintf(stderr, "warning: cannot remove %s\n", st_dir);
        }
}

void st_fail_now(void) {
        stop_host();
        exit(1);
}

void st_init(int argc, char **argv, unsigned watchdog_s) {
        const char *libs = XENSIM_BUILDDIR "/.libs";
        int pfd[2];
        char buf[16];

        if (!getenv("XENSIM_TEST_REEXEC")) {
                setenv("LD_LIBRARY_PATH", libs, 1);
                setenv("XENSIM_TEST_REEXEC", "1", 1);
                execv("/proc/self/exe", argv);
                perror("FAIL: re-exec");
                exit(1);
        }
        (void)argc;
        signal(SIGALRM, watchdog);
        alarm(watchdog_s);

        /* The ABI check: the system-linked binary must be running on xensim's libraries. */
        Dl_info info;
        void *sym[] = { (void *)xendevicemodel_open, (void *)xenevtchn_open,
                        (void *)xenforeignmemory_open };
        for (unsigned i = 0; i < 3; i++) {
                if (!dladdr(sym[i], &info) || !info.dli_fname ||
                    strncmp(info.dli_fname, libs, strlen(libs)) != 0) {
                        fprintf(stderr, "FAIL: symbol %u resolved to %s, not xensim's\n", i,
                                info.dli_fname ? info.dli_fname : "?");
                        exit(1);
                }
        }

        snprintf(dir_buf, sizeof(dir_buf), "/tmp/xensim-test.XXXXXX");
        if (!mkdtemp(dir_buf)) {
                perror("FAIL: mkdtemp");
                exit(1);
        }
        st_dir = dir_buf;
        if (pipe2(pfd, O_CLOEXEC) < 0) {
                perror("FAIL: pipe");
                exit(1);
        }
        host_pid = fork();
        if (host_pid == 0) {
                char fdarg[16];
                int fd = dup(pfd[1]);   /* without O_CLOEXEC */
                snprintf(fdarg, sizeof(fdarg), "%d", fd);
                int devnull = open("/dev/null", O_WRONLY);
                dup2(devnull, 1);
                /* XENSIM_TEST_WRAPPER runs the host under a tool, e.g. "valgrind -q". */
                const char *wrap = getenv("XENSIM_TEST_WRAPPER");
                if (wrap && *wrap) {
                        char cmd[1024];
                        snprintf(cmd, sizeof(cmd), "exec %s %s/xensimd --dir '%s' --ready-fd %s",
                                 wrap, XENSIM_BUILDDIR, dir_buf, fdarg);
                        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
                } else {
                        execl(XENSIM_BUILDDIR "/xensimd", "xensimd", "--dir", dir_buf,
                              "--ready-fd", fdarg, (char *)NULL);
                }
                _exit(127);
        }
        close(pfd[1]);
        struct pollfd p = { .fd = pfd[0], .events = POLLIN };
        if (poll(&p, 1, 15000) != 1 || read(pfd[0], buf, sizeof(buf)) < 5) {
                fprintf(stderr, "FAIL: xensimd did not become ready\n");
                st_fail_now();
        }
        close(pfd[0]);
        char path[300];
        setenv("XENSIM_DIR", dir_buf, 1);
        snprintf(path, sizeof(path), "%s/xenstored.sock", dir_buf);
        setenv("XENSTORED_PATH", path, 1);
        atexit(stop_host);
}

int st_finish(void) {
        guest = xsg_close(guest);
        stop_host();
        if (st_failures) {
                fprintf(stderr, "%d check(s) failed\n", st_failures);
                return 1;
        }
        return 0;
}

xsg *st_guest(void) {
        if (!guest) {
                int r = xsg_open(&guest, NULL);
                if (r < 0) {
                        fprintf(stderr, "FAIL: xsg_open: %s\n", strerror(-r));
                        st_fail_now();
                }
        }
        return guest;
}

uint32_t st_domain(const char *name, unsigned vcpus) {
        uint32_t domid;
        int r = xsg_domain_create(st_guest(), name, vcpus, &domid);
        if (r < 0) {
                fprintf(stderr, "FAIL: create domain %s: %s\n", name, strerror(-r));
                st_fail_now();
        }
        return domid;
}

void st_host_stop(bool stop) {
        if (host_pid <= 0 || kill(host_pid, stop ? SIGSTOP : SIGCONT) < 0) {
                perror("FAIL: stopping or continuing the host");
                st_fail_now();
        }
}

int st_raw_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/host.sock", st_dir);
        if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
                perror("FAIL: connect");
                st_fail_now();
        }
        return fd;
}

int st_raw_request(int fd, uint16_t op, const uint64_t *a, unsigned na, struct xs_rep *rep) {
        struct xs_req req = { .magic = XS_PROTO_MAGIC, .version = XS_PROTO_VERSION, .op = op,
                              .seq = 7 };
        struct pollfd p = { .fd = fd, .events = POLLIN };
        for (unsigned i = 0; i < na && i < 6; i++)
                req.a[i] = a[i];
        if (send(fd, &req, sizeof(req), MSG_NOSIGNAL) != sizeof(req))
                return -errno;
        if (poll(&p, 1, 2000) != 1)
                return -ETIMEDOUT;
        ssize_t n = recv(fd, rep, sizeof(*rep), 0);
        if (n != sizeof(*rep))
                return n == 0 ? -ENOTCONN : -EPROTO;
        return rep->err;
}

int st_wait_port(xenevtchn_handle *xce, int timeout_ms, bool keep_masked) {
        struct pollfd p = { .fd = xenevtchn_fd(xce), .events = POLLIN };
        if (poll(&p, 1, timeout_ms) != 1)
                return -1;
        int port = xenevtchn_pending(xce);
        if (port >= 0 && !keep_masked)
                xenevtchn_unmask(xce, (evtchn_port_t)port);
        return port;
}

int st_srv_vcpu(const struct st_srv *s, int port) {
        for (unsigned v = 0; v < s->nr_vcpus; v++)
                if (s->lport[v] == (evtchn_port_t)port)
                        return (int)v;
        return -1;
}

void st_srv_up(struct st_srv *s, uint32_t domid, uint64_t start, uint64_t end) {
        memset(s, 0, sizeof(*s));
        s->domid = domid;
        s->dm = xendevicemodel_open(NULL, 0);
        s->fm = xenforeignmemory_open(NULL, 0);
        s->xce = xenevtchn_open(NULL, 0);
        if (!s->dm || !s->fm || !s->xce ||
            xendevicemodel_nr_vcpus(s->dm, (domid_t)domid, &s->nr_vcpus) < 0 ||
            xendevicemodel_create_ioreq_server(s->dm, (domid_t)domid, 0, &s->id) < 0) {
                fprintf(stderr, "FAIL: server setup: %s\n", strerror(errno));
                st_fail_now();
        }
        s->res = xenforeignmemory_map_resource(s->fm, (domid_t)domid,
                                               XENMEM_resource_ioreq_server, s->id,
                                               XENMEM_resource_ioreq_server_frame_ioreq(0), 1,
                                               (void **)&s->page, PROT_READ | PROT_WRITE, 0);
        if (!s->res || (end >= start && xendevicemodel_map_io_range_to_ioreq_server(
                                                s->dm, (domid_t)domid, s->id, 1, start, end) < 0) ||
            xendevicemodel_set_ioreq_server_state(s->dm, (domid_t)domid, s->id, 1) < 0) {
                fprintf(stderr, "FAIL: server setup: %s\n", strerror(errno));
                st_fail_now();
        }
        for (unsigned v = 0; v < s->nr_vcpus; v++) {
                int p = xenevtchn_bind_interdomain(s->xce, domid, s->page->vcpu_ioreq[v].vp_eport);
                if (p < 0) {
                        fprintf(stderr, "FAIL: bind: %s\n", strerror(errno));
                        st_fail_now();
                }
                s->lport[v] = (evtchn_port_t)p;
        }
        for (unsigned v = 0; v < s->nr_vcpus; v++)
                if (st_wait_port(s->xce, 2000, false) < 0) {
                        fprintf(stderr, "FAIL: no event after bind\n");
                        st_fail_now();
                }
}

void st_srv_down(struct st_srv *s) {
        if (s->dm)
                xendevicemodel_destroy_ioreq_server(s->dm, (domid_t)s->domid, s->id);
        if (s->res)
                xenforeignmemory_unmap_resource(s->fm, s->res);
        xenevtchn_close(s->xce);
        xenforeignmemory_close(s->fm);
        xendevicemodel_close(s->dm);
        memset(s, 0, sizeof(*s));
}

void st_srv_answer(struct st_srv *s, unsigned v, uint64_t data) {
        ioreq_t *io = &s->page->vcpu_ioreq[v];
        if (io->dir == IOREQ_READ)
                io->data = data;
        __atomic_thread_fence(__ATOMIC_RELEASE);
        io->state = STATE_IORESP_READY;
        xenevtchn_notify(s->xce, s->lport[v]);
}

static void *async_main(void *p) {
        struct st_async *a = p;
        int r;
        if (a->invalidate)
                r = xsg_invalidate(st_guest(), a->domid, a->vcpu, a->io.timeout_ms);
        else
                r = xsg_io(st_guest(), a->domid, a->vcpu, &a->io);
        __atomic_store_n(&a->r, r, __ATOMIC_RELEASE);
        return NULL;
}

void st_async_start(struct st_async *a) {
        st_guest();
        a->r = ST_RUNNING;
        if (pthread_create(&a->th, NULL, async_main, a)) {
                fprintf(stderr, "FAIL: pthread_create\n");
                st_fail_now();
        }
}

int st_async_join(struct st_async *a) {
        pthread_join(a->th, NULL);
        return a->r;
}

bool st_wait_slot(shared_iopage_t *page, unsigned vcpu, unsigned st, int timeout_ms) {
        struct timespec ts = { 0, 1000 * 1000 };
        for (int i = 0; i < timeout_ms; i++) {
                if (__atomic_load_n((volatile uint8_t *)&page->vcpu_ioreq[vcpu] + 30,
                                    __ATOMIC_ACQUIRE) % 16 == st)
                        return true;
                nanosleep(&ts, NULL);
        }
        return false;
}
