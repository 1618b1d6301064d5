/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xen-ioreqctl against the daemon on xensim: every command in text and in
 * JSON (checked with jq), kicks counted exactly per guest and per
 * registration, the latency histogram's count equal to the kicks, the
 * metrics in the Prometheus text format (checked by a parser here), the
 * control socket root's only (mode, SO_PEERCRED) and every malformed
 * request answered or dropped as xen-ioreqd-protocol(7) says.  Irqfds of two
 * actions and a claim served by a backend thread, assigned through the
 * client library: listed with their owner, fields and exact counters, in
 * the totals, the metrics, gone from the listings when the client closes;
 * version 1 of the control protocol still answered as it was.
 */
#define _GNU_SOURCE 1
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctlproto.h"
#include "itlib.h"
#include "testutil.h"
#include "xenioreqd-client.h"

#define BASE    UINT64_C(0xfe000000)
#define EXACT   UINT64_C(0xfe001000)
#define NOTIFY  XIRQ_VIRTIO_MMIO_QUEUE_NOTIFY
#define Q0_KICKS 37
#define Q1_KICKS 5
#define EXACT_KICKS 3
#define TOTAL_KICKS (Q0_KICKS + Q1_KICKS + EXACT_KICKS)
#define CLAIM_BASE  UINT64_C(0xfe004000)
#define CLAIM_LEN   0x200u
#define CLAIM_DEADLINE_MS 4000u
#define LINE_IRQ    40u
#define MSI_ADDR    UINT64_C(0xfee00000)
#define MSI_DATA    0x4041u
#define LINE_SIGNALS 3
#define MSI_SIGNALS 2
#define CLAIM_READS 3
#define CLAIM_WRITES 2

static char ctl_socket[400], out_path[400], err_path[400];

/* xen-ioreqctl ARGS… as uid, stdout and stderr into out_path and err_path; its exit status */
static int run_ctl(It *it, uid_t uid, const char *arg, ...) {
        const char *args[20] = { "xen-ioreqctl", "-s", ctl_socket };
        size_t n = 3;
        char bin[512];
        va_list ap;
        pid_t pid;
        int st, r;

        va_start(ap, arg);
        for (const char *a = arg; a && n < 19; a = va_arg(ap, const char *))
                args[n++] = a;
        va_end(ap);
        snprintf(bin, sizeof bin, "%s/src/xen-ioreqctl", ABS_TOP_BUILDDIR);
        pid = fork();
        if (pid < 0)
                IT_FAIL("fork: %m");
        if (pid == 0) {
                int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

                if (o < 0 || e < 0 || dup2(o, STDOUT_FILENO) < 0 || dup2(e, STDERR_FILENO) < 0)
                        _exit(126);
                if (uid != 0 && (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0))
                        _exit(126);
                execv(bin, (char *const *) args);
                _exit(127);
        }
        r = tu_wait_child(pid, IT_TIMEOUT_MS, &st);
        if (r < 0) {
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
                IT_FAIL("xen-ioreqctl %s: %s", arg, strerror(-r));
        }
        return tu_exit_status(st);
}

static char *slurp(const char *path) {
        static char buf[1 << 18];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                IT_FAIL("open %s: %m", path);
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n < 0)
                IT_FAIL("read %s: %m", path);
        buf[n] = '\0';
        return buf;
}

/* run ctl and expect success */
#define CTL_OK(it, ...)                                                                         \
        do {                                                                                    \
                int _s = run_ctl((it), 0, __VA_ARGS__, NULL);                                   \
                if (_s != 0)                                                                    \
                        IT_FAIL("xen-ioreqctl exited %d: %s", _s, slurp(err_path));             \
        } while (0)

/* jq -e FILTER on out_path (with an --argjson pair): its exit status (0: true) */
static int jq_run(const char *filter, const char *argname, long long argval) {
        char val[32];
        pid_t pid;
        int st;

        snprintf(val, sizeof val, "%lld", argval);
        pid = fork();
        if (pid < 0)
                IT_FAIL("fork: %m");
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);

                if (null >= 0)
                        dup2(null, STDOUT_FILENO);
                if (argname)
                        execlp("jq", "jq", "-e", "--argjson", argname, val, filter, out_path, (char *) NULL);
                else
                        execlp("jq", "jq", "-e", filter, out_path, (char *) NULL);
                _exit(127);
        }
        if (tu_wait_child(pid, IT_TIMEOUT_MS, &st) < 0)
                IT_FAIL("jq did not finish");
        if (tu_exit_status(st) == 127)
                IT_FAIL("jq is missing (scripts/deps.sh installs it with the test packages)");
        return tu_exit_status(st);
}

/* jq -e FILTER on out_path: the filter must be true */
static void jq_true(const char *filter, const char *argname, long long argval) {
        if (jq_run(filter, argname, argval) != 0)
                IT_FAIL("jq -e '%s' (%s=%lld) is not true of:\n%s", filter, argname ? argname : "-", argval,
                        slurp(out_path));
}

/* ---- the Prometheus text format ---- */

typedef struct Family {
        char name[128];
        char type[16];
} Family;

static bool prom_name(const char **p, char *buf, size_t size) {
        size_t n = 0;

        if (!(isalpha((unsigned char) **p) || **p == '_' || **p == ':'))
                return false;
        while (isalnum((unsigned char) **p) || **p == '_' || **p == ':') {
                if (n + 1 >= size)
                        return false;
                buf[n++] = *(*p)++;
        }
        buf[n] = '\0';
        return true;
}

static bool prom_value(const char *s, double *ret) {
        char *end;

        if (strcmp(s, "+Inf") == 0) {
                *ret = 1e308;
                return true;
        }
        errno = 0;
        *ret = strtod(s, &end);
        return errno == 0 && end != s && *end == '\0';
}

/*
 * Check the text exposition format line by line: HELP and TYPE before a
 * family's samples, each family declared once, metric and label names,
 * quoted and escaped label values, a number per sample; histograms'
 * buckets cumulative, ending at +Inf equal to _count.  Returns the value of
 * the sample whose name and labels are exactly want (or -1).
 */
static double prom_check(const char *text, const char *want) {
        Family fams[64];
        size_t n_fams = 0;
        double found = -1, last_bucket = -1;
        char line[1024];
        unsigned lineno = 0;

        for (const char *p = text; *p;) {
                const char *nl = strchr(p, '\n'), *q;
                char name[128], labels[768], value[64], le[256] = "";
                size_t len, nl_len = 0;
                double v;

                if (!nl)
                        IT_FAIL("metrics: the last line has no newline");
                len = (size_t) (nl - p);
                if (len >= sizeof(line))
                        IT_FAIL("metrics line %u too long", lineno + 1);
                memcpy(line, p, len);
                line[len] = '\0';
                p = nl + 1;
                lineno++;
                q = line;

                if (strncmp(q, "# HELP ", 7) == 0) {
                        q += 7;
                        if (!prom_name(&q, name, sizeof name) || *q != ' ' || !q[1])
                                IT_FAIL("metrics line %u: bad HELP: %s", lineno, line);
                        for (size_t i = 0; i < n_fams; i++)
                                if (strcmp(fams[i].name, name) == 0)
                                        IT_FAIL("metrics line %u: %s declared twice", lineno, name);
                        CHECK(n_fams < 64, "too many families");
                        snprintf(fams[n_fams].name, sizeof fams[n_fams].name, "%s", name);
                        fams[n_fams++].type[0] = '\0';
                        continue;
                }
                if (strncmp(q, "# TYPE ", 7) == 0) {
                        q += 7;
                        if (!prom_name(&q, name, sizeof name) || *q != ' ' || n_fams == 0 ||
                            strcmp(fams[n_fams - 1].name, name) != 0 || fams[n_fams - 1].type[0])
                                IT_FAIL("metrics line %u: TYPE without its HELP: %s", lineno, line);
                        q++;
                        if (strcmp(q, "counter") != 0 && strcmp(q, "gauge") != 0 && strcmp(q, "histogram") != 0)
                                IT_FAIL("metrics line %u: bad type: %s", lineno, line);
                        snprintf(fams[n_fams - 1].type, sizeof fams[n_fams - 1].type, "%s", q);
                        last_bucket = -1;
                        continue;
                }
                if (line[0] == '#' || line[0] == '\0')
                        IT_FAIL("metrics line %u: unexpected: %s", lineno, line);

                /* a sample of the family declared last */
                if (!prom_name(&q, name, sizeof name))
                        IT_FAIL("metrics line %u: bad metric name: %s", lineno, line);
                CHECK(n_fams > 0 && fams[n_fams - 1].type[0], "metrics line %u: a sample before any TYPE", lineno);
                {
                        const Family *f = &fams[n_fams - 1];
                        size_t fl = strlen(f->name);

                        if (strncmp(name, f->name, fl) != 0 ||
                            (name[fl] && !(strcmp(f->type, "histogram") == 0 &&
                                           (strcmp(name + fl, "_bucket") == 0 || strcmp(name + fl, "_sum") == 0 ||
                                            strcmp(name + fl, "_count") == 0))))
                                IT_FAIL("metrics line %u: %s is not of family %s", lineno, name, f->name);
                }
                labels[0] = '\0';
                if (*q == '{') {
                        size_t ln = 0;

                        q++;
                        while (*q != '}') {
                                char lname[64], lval[256];
                                size_t vn = 0;

                                if (!prom_name(&q, lname, sizeof lname) || *q++ != '=' || *q++ != '"')
                                        IT_FAIL("metrics line %u: bad label: %s", lineno, line);
                                while (*q != '"') {
                                        if (!*q || *q == '\n')
                                                IT_FAIL("metrics line %u: unterminated label value", lineno);
                                        if (*q == '\\') {
                                                q++;
                                                if (*q != '\\' && *q != '"' && *q != 'n')
                                                        IT_FAIL("metrics line %u: bad escape", lineno);
                                        }
                                        CHECK(vn + 1 < sizeof lval, "label value too long");
                                        lval[vn++] = *q++;
                                }
                                lval[vn] = '\0';
                                q++;
                                if (strcmp(lname, "le") == 0)
                                        snprintf(le, sizeof le, "%s", lval);
                                ln += (size_t) snprintf(labels + ln, sizeof(labels) - ln, "%s%s=\"%s\"", ln ? "," : "",
                                                        lname, lval);
                                if (*q == ',')
                                        q++;
                                else if (*q != '}')
                                        IT_FAIL("metrics line %u: bad label list: %s", lineno, line);
                        }
                        q++;
                }
                if (*q++ != ' ' || !prom_value(q, &v))
                        IT_FAIL("metrics line %u: bad value: %s", lineno, line);
                (void) nl_len;
                snprintf(value, sizeof value, "%s", q);

                if (strstr(name, "_bucket") && strcmp(fams[n_fams - 1].type, "histogram") == 0) {
                        CHECK(le[0], "metrics line %u: a bucket without le", lineno);
                        if (v < last_bucket)
                                IT_FAIL("metrics line %u: buckets not cumulative: %s", lineno, line);
                        last_bucket = strcmp(le, "+Inf") == 0 ? -1 : v;
                        if (strcmp(le, "+Inf") == 0)
                                last_bucket = -2 - v;   /* remembered for _count */
                } else if (strstr(name, "_count") && strcmp(fams[n_fams - 1].type, "histogram") == 0) {
                        if (last_bucket > -2 || -2 - last_bucket != v)
                                IT_FAIL("metrics line %u: _count is not the +Inf bucket: %s", lineno, line);
                }
                {
                        char key[1024];

                        snprintf(key, sizeof key, "%s{%s}", name, labels);
                        if (strcmp(key, want) == 0)
                                found = v;
                }
        }
        return found;
}

/* ---- the control protocol by hand ---- */

static int ctl_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

        CHECK(fd >= 0, "socket: %m");
        CHECK(strlen(ctl_socket) < sizeof(sa.sun_path), "socket path too long");
        memcpy(sa.sun_path, ctl_socket, strlen(ctl_socket) + 1);
        CHECK(connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0, "connect %s: %m", ctl_socket);
        return fd;
}

/* send one packet; the reply's error (positive errno, 0), -1 if the connection was closed instead */
static int ctl_raw(int fd, const void *req, size_t len, uint16_t type, uint32_t seq, void *reply, size_t reply_len) {
        uint8_t buf[CTL_MSG_MAX];
        struct ctl_reply r;
        ssize_t n;

        CHECK(send(fd, req, len, MSG_NOSIGNAL) == (ssize_t) len || errno == EPIPE, "send: %m");
        n = it_recv(fd, buf, sizeof buf, IT_TIMEOUT_MS);
        if (n <= 0)
                return -1;
        CHECK((size_t) n >= sizeof(r), "short reply (%zd bytes)", n);
        memcpy(&r, buf, sizeof(r));
        CHECK_EQ(r.hdr.type, type | CTL_MSG_REPLY, "reply type");
        CHECK_EQ(r.hdr.seq, seq, "reply seq");
        if (reply) {
                CHECK((size_t) n == reply_len || r.error != 0, "reply of %zd bytes, expected %zu", n, reply_len);
                memcpy(reply, buf, (size_t) n < reply_len ? (size_t) n : reply_len);
        }
        return r.error;
}

static int ctl_hello_raw(int fd, uint32_t magic, uint16_t vmin, uint16_t vmax) {
        struct ctl_hello h = { .hdr = { .type = CTL_MSG_HELLO, .seq = 1 }, .magic = magic, .version_min = vmin,
                               .version_max = vmax };

        return ctl_raw(fd, &h, sizeof(h), CTL_MSG_HELLO, 1, NULL, 0);
}

static void bad_requests(It *it) {
        struct ctl_item item = { .hdr = { .type = CTL_MSG_GUEST, .seq = 7 } };
        struct ctl_guest_reply gr;
        struct ctl_hdr status = { .type = CTL_MSG_STATUS, .seq = 3 };
        uint8_t big[3000];
        int fd, efd;

        /* a request before HELLO */
        fd = ctl_connect();
        CHECK_EQ(ctl_raw(fd, &status, sizeof(status), CTL_MSG_STATUS, 3, NULL, 0), EPROTO, "STATUS before HELLO");
        CHECK_EQ(ctl_hello_raw(fd, 0x12345678, 1, 1), EPROTO, "HELLO with a wrong magic");
        CHECK_EQ(ctl_hello_raw(fd, CTL_PROTO_MAGIC, 2, 1), EINVAL, "HELLO min > max");
        CHECK_EQ(ctl_hello_raw(fd, CTL_PROTO_MAGIC, 9, 12), EPROTONOSUPPORT, "HELLO of a future version");
        CHECK_EQ(ctl_hello_raw(fd, CTL_PROTO_MAGIC, 1, 5), 0, "HELLO");
        CHECK_EQ(ctl_hello_raw(fd, CTL_PROTO_MAGIC, 1, 5), EPROTO, "a second HELLO");
        {
                struct ctl_hdr unknown = { .type = 0x0099, .seq = 4 };
                struct ctl_hdr reply = { .type = CTL_MSG_STATUS | CTL_MSG_REPLY, .seq = 5 };
                struct ctl_hdr flags = { .type = CTL_MSG_STATUS, .flags = 1, .seq = 6 };

                CHECK_EQ(ctl_raw(fd, &unknown, sizeof(unknown), 0x0099, 4, NULL, 0), EPROTO, "unknown type");
                CHECK_EQ(ctl_raw(fd, &reply, sizeof(reply), CTL_MSG_STATUS | CTL_MSG_REPLY, 5, NULL, 0), EPROTO,
                         "a reply sent as a request");
                CHECK_EQ(ctl_raw(fd, &flags, sizeof(flags), CTL_MSG_STATUS, 6, NULL, 0), EPROTO, "flags != 0");
        }
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item) - 1, CTL_MSG_GUEST, 7, NULL, 0), EBADMSG, "GUEST one byte short");
        item.reserved = 1;
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_GUEST, 7, NULL, 0), EINVAL, "reserved != 0");
        item.reserved = 0;
        memset(item.name, 'a', sizeof(item.name));
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_GUEST, 7, NULL, 0), EINVAL, "name without its NUL");
        memset(item.name, 0, sizeof(item.name));
        strcpy(item.name, "g1");
        item.name[10] = 'x';
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_GUEST, 7, NULL, 0), EINVAL, "bytes after the NUL");
        memset(item.name, 0, sizeof(item.name));
        strcpy(item.name, "nosuch");
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_GUEST, 7, NULL, 0), ENOENT, "unknown guest");
        memset(item.name, 0, sizeof(item.name));
        item.index = 99;
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_GUEST, 7, NULL, 0), ENOENT, "guest index past the end");
        item.hdr.type = CTL_MSG_CLIENT;
        item.index = 0;
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_CLIENT, 7, NULL, 0), EINVAL, "CLIENT without a name");
        strcpy(item.name, "g1");
        item.index = 1000;
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_CLIENT, 7, NULL, 0), ENOENT, "client index past the end");
        item.hdr.type = CTL_MSG_HIST;
        item.index = 1;
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_HIST, 7, NULL, 0), EINVAL, "HIST with an index");
        /* the connection still serves well-formed requests */
        item.hdr.type = CTL_MSG_GUEST;
        item.index = 0;
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_GUEST, 7, &gr, sizeof(gr)), 0, "GUEST g1");
        CHECK(strcmp(gr.name, "g1") == 0, "GUEST g1 answered for %s", gr.name);
        /* larger than any message: dropped */
        memset(big, 0, sizeof(big));
        memcpy(big, &status, sizeof(status));
        CHECK_EQ(ctl_raw(fd, big, sizeof(big), CTL_MSG_STATUS, 3, NULL, 0), -1, "an oversized packet closes");
        close(fd);

        /* a descriptor attached: dropped */
        fd = ctl_connect();
        CHECK_EQ(ctl_hello_raw(fd, CTL_PROTO_MAGIC, 1, 1), 0, "HELLO");
        efd = it_eventfd();
        CHECK_EQ(it_send(fd, &status, sizeof(status), &efd, 1), 0, "send with a descriptor");
        CHECK(it_closed(fd, IT_TIMEOUT_MS), "a request with a descriptor closes the connection");
        close(fd);
        close(efd);

        /* no header: dropped */
        fd = ctl_connect();
        CHECK_EQ(send(fd, "abc", 3, MSG_NOSIGNAL), 3, "send");
        CHECK(it_closed(fd, IT_TIMEOUT_MS), "a packet without a header closes the connection");
        close(fd);
        CHECK(it_daemon_alive(it), "the daemon survives bad control requests");
}

/* a caller that is not root: the socket's mode stops it, and so does SO_PEERCRED when the mode is opened */
static void not_root(It *it) {
        char dir[400];
        struct stat st;

        CHECK(stat(ctl_socket, &st) == 0, "stat %s: %m", ctl_socket);
        CHECK_EQ(st.st_mode & 07777, 0600, "mode of the control socket");
        CHECK_EQ(st.st_uid, 0, "owner of the control socket");

        /* the directories on the way are the test's (0700): open them for nobody, as /run is */
        CHECK(chmod(it->dir, 0755) == 0 && chmod(it->sockets_dir, 0755) == 0, "chmod: %m");
        CHECK_EQ(run_ctl(it, 65534, "status", NULL), 1, "status as nobody");
        CHECK(strstr(slurp(err_path), "permission denied") && strstr(slurp(err_path), "root"),
              "the refusal says why: %s", slurp(err_path));

        CHECK(chmod(ctl_socket, 0666) == 0, "chmod: %m");
        CHECK_EQ(run_ctl(it, 65534, "guests", NULL), 1, "guests as nobody through an open socket");
        CHECK(strstr(slurp(err_path), "refuses uid 65534") && strstr(slurp(err_path), "root"),
              "the daemon's refusal says why: %s", slurp(err_path));
        CHECK(chmod(ctl_socket, 0600) == 0, "chmod: %m");
        snprintf(dir, sizeof dir, "%s", it->dir);
        CHECK(chmod(dir, 0700) == 0 && chmod(it->sockets_dir, 0700) == 0, "chmod: %m");
}

static void kicks(It *it, uint32_t domid, uint64_t addr, unsigned size, uint64_t value, unsigned n) {
        for (unsigned i = 0; i < n; i++) {
                int r = it_write(it, domid, i % 2, XSG_MMIO, addr, size, value);

                if (r < 0)
                        IT_FAIL("write 0x%llx from domain %u: %s", (unsigned long long) addr, domid, strerror(-r));
        }
}

/* ---- irqfds and claims ---- */

/* A backend thread serving a claim: reads answered with their offset, writes with 0. */
typedef struct Backend {
        xenioreqd_claim *cl;
        pthread_t thread;
        atomic_bool stop;
        atomic_uint answered;
} Backend;

static void *backend_main(void *arg) {
        Backend *b = arg;

        while (!atomic_load(&b->stop)) {
                struct pollfd p = { .fd = xenioreqd_claim_fd(b->cl), .events = POLLIN };
                xenioreqd_access a;
                int r;

                (void) poll(&p, 1, 20);
                while ((r = xenioreqd_claim_next(b->cl, &a)) == 1)
                        if (xenioreqd_claim_answer(b->cl, a.seq, a.dir == XIRQ_ACCESS_READ ? a.offset : 0) == 0)
                                atomic_fetch_add(&b->answered, 1);
                if (r < 0)
                        break;
        }
        return NULL;
}

static bool all_answered(void *arg) {
        Backend *b = arg;

        return atomic_load(&b->answered) >= CLAIM_READS + CLAIM_WRITES;
}

typedef struct IrqWait {
        It *it;
        uint32_t domid;
        unsigned want;
} IrqWait;

static bool irq_logged(void *arg) {
        IrqWait *w = arg;
        struct xsg_irq e;

        return xsg_irq_get(w->it->xsg, w->domid, w->want - 1, &e) == 0;
}

/* signal efd once and wait until xensim has logged n more injection entries */
static void irq_signal(It *it, uint32_t domid, int efd, unsigned n, const char *what) {
        IrqWait w = { .it = it, .domid = domid };
        struct xsg_irq e;
        uint64_t one = 1;

        while (xsg_irq_get(it->xsg, domid, w.want, &e) == 0)
                w.want++;
        w.want += n;
        CHECK(write(efd, &one, sizeof one) == sizeof one, "signalling %s: %m", what);
        CHECK(it_wait_for(irq_logged, &w, IT_TIMEOUT_MS), "%s: no injection logged", what);
}

/* show --json until the filter holds (the worker counts an answer just after completing it) */
static void show_until(It *it, const char *name, const char *filter, const char *argname, long long argval) {
        for (int i = 0; i < 100; i++) {
                CTL_OK(it, "--json", "show", name);
                if (jq_run(filter, argname, argval) == 0)
                        return;
                usleep(20 * 1000);
        }
        jq_true(filter, argname, argval);
}

/* IRQFD and CLAIM by hand: on version 2 only; version 1 gets its short replies */
static void objects_raw(void) {
        struct ctl_item item = { .hdr = { .type = CTL_MSG_IRQFD, .seq = 2 }, .name = "g1" };
        struct ctl_irqfd_reply ir;
        struct ctl_claim_reply cr;
        struct ctl_guest_reply gr;
        uint8_t buf[CTL_MSG_MAX];
        struct ctl_hdr status = { .type = CTL_MSG_STATUS, .seq = 3 };
        ssize_t n;
        int fd;

        fd = ctl_connect();
        CHECK_EQ(ctl_hello_raw(fd, CTL_PROTO_MAGIC, 1, 2), 0, "HELLO 1..2");
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_IRQFD, 2, &ir, sizeof(ir)), 0, "IRQFD 0");
        CHECK_EQ(ir.owner_pid, getpid(), "IRQFD 0's owner");
        item.hdr.type = CTL_MSG_CLAIM;
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_CLAIM, 2, &cr, sizeof(cr)), 0, "CLAIM 0");
        CHECK_EQ(cr.addr, CLAIM_BASE, "CLAIM 0's address");
        CHECK_EQ(cr.counted, 1, "CLAIM 0 counted");
        item.index = 1;
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_CLAIM, 2, NULL, 0), ENOENT, "CLAIM past the end");
        item.hdr.type = CTL_MSG_IRQFD;
        item.index = 2;
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_IRQFD, 2, NULL, 0), ENOENT, "IRQFD past the end");
        memset(item.name, 0, sizeof(item.name));
        item.index = 0;
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_IRQFD, 2, NULL, 0), EINVAL, "IRQFD without a name");
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item) - 1, CTL_MSG_IRQFD, 2, NULL, 0), EBADMSG, "IRQFD one byte short");
        close(fd);

        fd = ctl_connect();
        CHECK_EQ(ctl_hello_raw(fd, CTL_PROTO_MAGIC, 1, 1), 0, "HELLO 1");
        strcpy(item.name, "g1");
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_IRQFD, 2, NULL, 0), EPROTO, "IRQFD on version 1");
        item.hdr.type = CTL_MSG_CLAIM;
        CHECK_EQ(ctl_raw(fd, &item, sizeof(item), CTL_MSG_CLAIM, 2, NULL, 0), EPROTO, "CLAIM on version 1");
        item.hdr.type = CTL_MSG_GUEST;
        CHECK_EQ(send(fd, &item, sizeof(item), MSG_NOSIGNAL), (ssize_t) sizeof(item), "send GUEST");
        n = it_recv(fd, buf, sizeof buf, IT_TIMEOUT_MS);
        CHECK_EQ(n, CTL_GUEST_REPLY_V1_SIZE, "GUEST's reply on version 1");
        memset(&gr, 0, sizeof(gr));
        memcpy(&gr, buf, (size_t) n);
        CHECK(gr.error == 0 && strcmp(gr.name, "g1") == 0 && gr.irqfds == 2 && gr.claims == 1,
              "GUEST on version 1: error %d, %u irqfds, %u claims", gr.error, gr.irqfds, gr.claims);
        CHECK_EQ(send(fd, &status, sizeof(status), MSG_NOSIGNAL), (ssize_t) sizeof(status), "send STATUS");
        CHECK_EQ(it_recv(fd, buf, sizeof buf, IT_TIMEOUT_MS), CTL_STATUS_REPLY_V1_SIZE, "STATUS's reply on version 1");
        close(fd);
}

static void irqfds_and_claims(It *it, uint32_t domid) {
        xenioreqd_irqfd_spec line = { .action = XIRQ_IRQ_LINE, .mode = XIRQ_IRQFD_EDGE, .irq = LINE_IRQ };
        xenioreqd_irqfd_spec msi = { .action = XIRQ_IRQ_MSI, .mode = XIRQ_IRQFD_EDGE, .msi_addr = MSI_ADDR,
                                     .msi_data = MSI_DATA };
        xenioreqd_client *c = NULL;
        xenioreqd_claim *cl = NULL;
        uint32_t id_line = 0, id_msi = 0;
        int e_line = it_eventfd(), e_msi = it_eventfd();
        char path[512], filter[2048], want[512];
        const char *text;
        Backend b = { 0 };
        uint64_t v;

        it_socket_path(it, "g1", path, sizeof path);
        CHECK_EQ(xenioreqd_connect(path, &c), 0, "connecting with the client library");
        CHECK_EQ(xenioreqd_irqfd_assign(c, &line, e_line, -1, &id_line), 0, "irqfd LINE EDGE");
        CHECK_EQ(xenioreqd_irqfd_assign(c, &msi, e_msi, -1, &id_msi), 0, "irqfd MSI");
        CHECK_EQ(xenioreqd_claim_range(c, XIRQ_SPACE_MMIO, CLAIM_BASE, CLAIM_LEN, CLAIM_DEADLINE_MS, &cl), 0,
                 "claiming a range");
        b.cl = cl;
        CHECK(pthread_create(&b.thread, NULL, backend_main, &b) == 0, "starting the backend thread");

        /* listed, not used yet: counted at 0 */
        show_until(it, "g1", "(.irqfds | length) == 2 and (.claims | length) == 1 and .guest.irqfds == 2 and "
                   ".guest.claims == 1 and all(.irqfds[]; .injections == 0 and .signals == 0) and "
                   ".claims[0].forwarded == 0", NULL, 0);

        for (int i = 0; i < LINE_SIGNALS; i++)
                irq_signal(it, domid, e_line, 2, "the LINE irqfd");     /* raised, lowered */
        for (int i = 0; i < MSI_SIGNALS; i++)
                irq_signal(it, domid, e_msi, 1, "the MSI irqfd");
        for (int i = 0; i < CLAIM_READS; i++) {
                CHECK_EQ(it_read(it, domid, (unsigned) i % 2, XSG_MMIO, CLAIM_BASE + 0x10 * (unsigned) i, 4, &v), 0,
                         "a read in the claim");
                CHECK_EQ(v, 0x10 * (unsigned) i, "the backend's answer");
        }
        for (int i = 0; i < CLAIM_WRITES; i++)
                CHECK_EQ(it_write(it, domid, 0, XSG_MMIO, CLAIM_BASE + 0x70, 4, (uint64_t) i), 0, "a write in the claim");
        /* the guest's access completes once the answer is posted, before the thread counts it */
        CHECK(it_wait_for(all_answered, &b, IT_TIMEOUT_MS), "the backend counted its answers");
        CHECK_EQ(atomic_load(&b.answered), CLAIM_READS + CLAIM_WRITES, "the backend answered every access");

        /* show --json: owner, fields, exact counts */
        snprintf(filter, sizeof filter,
                 "(.irqfds | length) == 2 and (.claims | length) == 1 and "
                 "(.irqfds[] | select(.action == \"line\") | .id == %u and .owner_pid == $p and .owner_uid == 0 and "
                 ".mode == \"edge\" and .irq == %u and .signals == %d and .injections == %d and .errors == 0) and "
                 "(.irqfds[] | select(.action == \"msi\") | .id == %u and .owner_pid == $p and .mode == \"edge\" and "
                 ".msi_addr == %llu and .msi_data == %u and .signals == %d and .injections == %d and .errors == 0) and "
                 "(.claims[0] | .owner_pid == $p and .owner_uid == 0 and .space == \"mmio\" and .address == %llu and "
                 ".length == %u and .deadline_ms == %u and .forwarded == %d and .answered == %d and .expired == 0) and "
                 ".guest.irqfds == 2 and .guest.claims == 1 and .guest.injected == %d and .guest.inject_errors == 0 and "
                 ".guest.forwarded == %d and .guest.expired == 0 and .guest.saturated == 0",
                 id_line, LINE_IRQ, LINE_SIGNALS, LINE_SIGNALS, id_msi, (unsigned long long) MSI_ADDR, MSI_DATA,
                 MSI_SIGNALS, MSI_SIGNALS, (unsigned long long) CLAIM_BASE, CLAIM_LEN, CLAIM_DEADLINE_MS,
                 CLAIM_READS + CLAIM_WRITES, CLAIM_READS + CLAIM_WRITES, LINE_SIGNALS + MSI_SIGNALS,
                 CLAIM_READS + CLAIM_WRITES);
        show_until(it, "g1", filter, "p", getpid());

        /* text */
        CTL_OK(it, "show", "g1");
        text = slurp(out_path);
        snprintf(want, sizeof want, "addr %#llx data %#x", (unsigned long long) MSI_ADDR, MSI_DATA);
        CHECK(strstr(text, "\nirqfds: 2\n") && strstr(text, "\nclaims: 1\n") && strstr(text, "INJECTIONS") &&
              strstr(text, " line ") && strstr(text, " msi ") && strstr(text, "irq 40") && strstr(text, want) &&
              strstr(text, "injected: 5, inject errors: 0") && strstr(text, "forwarded: 5, expired: 0") &&
              strstr(text, "4000 ms"), "show with irqfds and a claim: %s", text);

        /* status and guests count them */
        CTL_OK(it, "--json", "status");
        jq_true(".irqfds == 2 and .claims == 1 and .injected == 5 and .inject_errors == 0 and .forwarded == 5 and "
                ".expired == 0 and .saturated == 0", NULL, 0);
        CTL_OK(it, "status");
        text = slurp(out_path);
        CHECK(strstr(text, "irqfds: 2, injected: 5, inject errors: 0") && strstr(text, "claims: 1, forwarded: 5"),
              "status: %s", text);
        CTL_OK(it, "--json", "guests");
        jq_true(".guests[] | select(.name == \"g1\") | .irqfds == 2 and .claims == 1 and .injected == 5 and "
                ".forwarded == 5", NULL, 0);
        CTL_OK(it, "guests");
        CHECK(strstr(slurp(out_path), "IRQFDS CLAIMS"), "guests: %s", slurp(out_path));

        /* metrics: the totals, and per irqfd and claim */
        CTL_OK(it, "metrics");
        text = slurp(out_path);
        CHECK(prom_check(text, "xen_ioreqd_injected_interrupts_total{guest=\"g1\"}") == 5, "injected in the metrics");
        CHECK(prom_check(text, "xen_ioreqd_forwarded_accesses_total{guest=\"g1\"}") == 5, "forwarded in the metrics");
        CHECK(prom_check(text, "xen_ioreqd_expired_accesses_total{guest=\"g1\"}") == 0, "expired in the metrics");
        CHECK(prom_check(text, "xen_ioreqd_injection_errors_total{guest=\"g1\"}") == 0, "errors in the metrics");
        CHECK(prom_check(text, "xen_ioreqd_saturated_kicks_total{guest=\"g1\"}") == 0, "saturated in the metrics");
        CHECK(prom_check(text, "xen_ioreqd_irqfds{guest=\"g1\"}") == 2, "irqfds in the metrics");
        CHECK(prom_check(text, "xen_ioreqd_claims{guest=\"g1\"}") == 1, "claims in the metrics");
        snprintf(want, sizeof want, "xen_ioreqd_irqfd_injections_total{guest=\"g1\",pid=\"%d\",id=\"%u\","
                 "action=\"line\"}", (int) getpid(), id_line);
        CHECK(prom_check(text, want) == LINE_SIGNALS, "the LINE irqfd's injections in the metrics: %s", text);
        snprintf(want, sizeof want, "xen_ioreqd_irqfd_signals_total{guest=\"g1\",pid=\"%d\",id=\"%u\","
                 "action=\"msi\"}", (int) getpid(), id_msi);
        CHECK(prom_check(text, want) == MSI_SIGNALS, "the MSI irqfd's signals in the metrics");
        snprintf(want, sizeof want, "xen_ioreqd_claim_answered_total{guest=\"g1\",pid=\"%d\",id=\"%u\","
                 "space=\"mmio\",address=\"0x%llx\"}", (int) getpid(), xenioreqd_claim_id(cl),
                 (unsigned long long) CLAIM_BASE);
        CHECK(prom_check(text, want) == CLAIM_READS + CLAIM_WRITES, "the claim's answers in the metrics");

        objects_raw();

        /* the client goes: nothing listed, the totals stay */
        atomic_store(&b.stop, true);
        pthread_join(b.thread, NULL);
        xenioreqd_close(c);
        xenioreqd_claim_free(cl);
        show_until(it, "g1", ".irqfds == [] and .claims == [] and .guest.irqfds == 0 and .guest.claims == 0 and "
                   ".guest.injected == 5 and .guest.forwarded == 5", NULL, 0);
        CTL_OK(it, "--json", "status");
        jq_true(".irqfds == 0 and .claims == 0 and .injected == 5", NULL, 0);
        CTL_OK(it, "show", "g1");
        text = slurp(out_path);
        CHECK(strstr(text, "\nirqfds: 0\n") && strstr(text, "\nclaims: 0\n") && !strstr(text, "INJECTIONS"),
              "show after the client went: %s", text);
        close(e_line);
        close(e_msi);
}

int main(int argc, char **argv) {
        It it;
        uint32_t g1, domid;
        int c1, efd[3];
        char comm[32] = "", want[256], tmpout[400];
        const char *text;
        FILE *f;
        struct stat st;

        it_init(&it, "it-ctl", argc, argv);
        it.supervised = true;
        snprintf(ctl_socket, sizeof ctl_socket, "%s/control", it.sockets_dir);
        snprintf(out_path, sizeof out_path, "%s/ctl.out", it.dir);
        snprintf(err_path, sizeof err_path, "%s/ctl.err", it.dir);
        it_write_global(&it, NULL);
        it_write_guest(&it, "g1", NULL);
        it_write_guest(&it, "g2", NULL);
        g1 = it_domain_create(&it, "g1", 2);
        it_daemon_start(&it, NULL);

        /* nothing yet */
        CTL_OK(&it, "--json", "status");
        jq_true(".guests_configured == 2 and .guests_running == 1 and .guests_serving == 0 and .kicks == 0 and "
                ".workers == 0 and (.version | type) == \"string\" and .uptime_s >= 0", NULL, 0);
        CTL_OK(&it, "show", "g1");
        CHECK(strstr(slurp(out_path), "no kicks yet"), "show before any kick: %s", slurp(out_path));

        c1 = it_connect(&it, "g1");
        CHECK_EQ(it_hello(c1, &domid), 0, "HELLO");
        for (int i = 0; i < 2; i++) {
                efd[i] = it_eventfd();
                CHECK_EQ(it_virtio(c1, BASE, (uint16_t) i, false, efd[i]), 0, "VIRTIO_MMIO assign");
        }
        efd[2] = it_eventfd();
        CHECK_EQ(it_assign(c1, XIRQ_SPACE_MMIO, 2, XIRQ_MATCH_EXACT, EXACT, 0x1234, 0, efd[2]), 0, "EXACT assign");

        kicks(&it, g1, BASE + NOTIFY, 4, 0, Q0_KICKS);
        kicks(&it, g1, BASE + NOTIFY, 4, 1, Q1_KICKS);
        kicks(&it, g1, EXACT, 2, 0x1234, EXACT_KICKS);
        kicks(&it, g1, EXACT, 2, 0x4321, 2);     /* unmatched */
        CHECK_EQ(it_efd_take(efd[0]), Q0_KICKS, "queue 0's eventfd");
        CHECK_EQ(it_efd_take(efd[1]), Q1_KICKS, "queue 1's eventfd");
        CHECK_EQ(it_efd_take(efd[2]), EXACT_KICKS, "the EXACT eventfd");

        /* status */
        CTL_OK(&it, "status");
        text = slurp(out_path);
        CHECK(strstr(text, "guests: 2 configured, 1 running, 1 serving; workers: 1") &&
              strstr(text, "clients: 1, registrations: 3") && strstr(text, "kicks: 45, unmatched: 2"),
              "status: %s", text);
        CTL_OK(&it, "status", "--json");
        jq_true(".guests_configured == 2 and .guests_running == 1 and .guests_serving == 1 and .workers == 1 and "
                ".clients == 1 and .registrations == 3 and .kicks == $k and .unmatched == 2 and .invalid == 0",
                "k", TOTAL_KICKS);

        /* guests */
        CTL_OK(&it, "guests");
        text = slurp(out_path);
        CHECK(strncmp(text, "NAME", 4) == 0 && strstr(text, "\ng1 ") && strstr(text, "\ng2 ") &&
              strstr(text, "serving") && strstr(text, "absent"), "guests: %s", text);
        CTL_OK(&it, "--json", "guests");
        jq_true("(.guests | length) == 2 and (.guests[] | select(.name == \"g1\") | .domid == $d and "
                ".state == \"serving\" and (.server_id | type) == \"number\" and .vcpus == 2 and .clients == 1 and "
                ".registrations == 3 and .kicks == 45 and .unmatched == 2 and .invalid == 0 and .reads == 0 and "
                ".last_error == null and (.kicks_per_s | type) == \"number\" and (.worker_pid | type) == \"number\" "
                "and .irqfds == 0 and .claims == 0) and (.guests[] | select(.name == \"g2\") | .domid == null and "
                ".state == \"absent\" and .server_id == null and .kicks == 0 and .worker_pid == null)",
                "d", g1);

        /* show: clients from SO_PEERCRED, registrations counted one by one, the histogram */
        {
                int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
                ssize_t n = fd >= 0 ? read(fd, comm, sizeof(comm) - 1) : -1;

                if (fd >= 0)
                        close(fd);
                CHECK(n > 0, "reading my comm");
                comm[strcspn(comm, "\n")] = '\0';
        }
        CTL_OK(&it, "--json", "show", "g1");
        jq_true(".guest.name == \"g1\" and .guest.kicks == 45 and (.clients | length) == 1 and "
                ".clients[0].pid == $p and .clients[0].uid == 0 and .clients[0].registrations == 3 and "
                "(.registrations | length) == 3 and .irqfds == [] and .claims == []", "p", getpid());
        snprintf(want, sizeof want, ".clients[0].comm == \"%s\"", comm);
        jq_true(want, NULL, 0);
        jq_true("[.registrations[] | select(.space == \"mmio\" and .address == $a and .length == 4 and "
                ".match == \"mask\" and .mask == 65535)] | map(.kicks) | sort == [5, 37]", "a", (long long) (BASE + NOTIFY));
        jq_true("[.registrations[] | select(.address == $a)][0] | .match == \"exact\" and .length == 2 and "
                ".value == 4660 and .kicks == 3 and (.last_kick | type) == \"number\"", "a", (long long) EXACT);
        jq_true(".latency.count == $k and ([.latency.buckets[].count] | add) == $k and .latency.sum_ns > 0 and "
                ".latency.p50_ns > 0 and .latency.p50_ns <= .latency.p99_ns and .latency.p99_ns <= .latency.p999_ns "
                "and all(.latency.buckets[]; .ge_ns < .lt_ns)", "k", TOTAL_KICKS);
        CTL_OK(&it, "show", "g1");
        text = slurp(out_path);
        CHECK(strstr(text, "clients: 1") && strstr(text, comm) && strstr(text, "registrations: 3") &&
              strstr(text, "dispatch latency (event channel to answer, 45 kicks): p50 < ") && strstr(text, "p99.9 < ") &&
              strstr(text, "irqfds: 0") && strstr(text, "claims: 0"), "show: %s", text);
        CHECK_EQ(run_ctl(&it, 0, "show", "nosuch", NULL), 1, "show of an unknown guest");
        CHECK(strstr(slurp(err_path), "nosuch: no such guest"), "show nosuch: %s", slurp(err_path));
        CHECK_EQ(run_ctl(&it, 0, "show", NULL), 2, "show without a guest");
        CHECK_EQ(run_ctl(&it, 0, "frobnicate", NULL), 2, "an unknown command");
        CHECK(strstr(slurp(err_path), "unknown command"), "unknown command: %s", slurp(err_path));

        /* top: a fixed number of refreshes */
        CTL_OK(&it, "top", "-n", "2", "-d", "1");
        text = slurp(out_path);
        CHECK(strstr(text, "KICKS/S") && strstr(strstr(text, "KICKS/S") + 1, "KICKS/S") && strstr(text, "\ng1 "),
              "top -n 2: %s", text);
        CTL_OK(&it, "--json", "top", "--iterations", "2", "-d", "1");
        {
                char cmd[600];

                /* JSON lines: one object per refresh */
                snprintf(cmd, sizeof cmd, "jq -e -s 'length == 2 and all(.[]; (.guests | length) == 2 and "
                         "(.guests[] | select(.name == \"g1\") | .kicks == 45 and (.p99_ns | type) == \"number\" "
                         "and (.cpu_percent | type) == \"number\"))' %s >/dev/null", out_path);
                CHECK(system(cmd) == 0, "top --json: %s", slurp(out_path));
        }

        /* metrics, parsed */
        CTL_OK(&it, "metrics");
        text = slurp(out_path);
        CHECK(prom_check(text, "xen_ioreqd_kicks_total{guest=\"g1\"}") == TOTAL_KICKS, "kicks in the metrics");
        CHECK(prom_check(text, "xen_ioreqd_unmatched_writes_total{guest=\"g1\"}") == 2, "unmatched in the metrics");
        CHECK(prom_check(text, "xen_ioreqd_dispatch_latency_seconds_count{guest=\"g1\"}") == TOTAL_KICKS,
              "histogram count in the metrics");
        CHECK(prom_check(text, "xen_ioreqd_dispatch_latency_seconds_bucket{guest=\"g1\",le=\"+Inf\"}") == TOTAL_KICKS,
              "+Inf bucket in the metrics");
        CHECK(prom_check(text, "xen_ioreqd_guests{state=\"serving\"}") == 1, "serving guests in the metrics");
        snprintf(want, sizeof want, "xen_ioreqd_registration_kicks_total{guest=\"g1\",space=\"mmio\",address=\"0x%llx\","
                 "length=\"2\",match=\"exact\",value=\"0x1234\",mask=\"0xffff\"}", (unsigned long long) EXACT);
        CHECK(prom_check(text, want) == EXACT_KICKS, "a registration's kicks in the metrics: %s", text);
        CHECK_EQ(run_ctl(&it, 0, "--json", "metrics", NULL), 2, "metrics has no JSON");

        /* metrics -o: written whole, readable by node_exporter, no temporary file left */
        snprintf(tmpout, sizeof tmpout, "%s/prom", it.dir);
        CHECK(mkdir(tmpout, 0755) == 0, "mkdir: %m");
        snprintf(tmpout, sizeof tmpout, "%s/prom/xen-ioreqd.prom", it.dir);
        CTL_OK(&it, "metrics", "-o", tmpout);
        CHECK(stat(tmpout, &st) == 0 && (st.st_mode & 0777) == 0644, "metrics -o: mode %o", st.st_mode & 0777);
        f = fopen(tmpout, "re");
        CHECK(f, "open %s: %m", tmpout);
        {
                static char buf[1 << 18];
                size_t n = fread(buf, 1, sizeof(buf) - 1, f);

                buf[n] = '\0';
                CHECK(prom_check(buf, "xen_ioreqd_kicks_total{guest=\"g1\"}") == TOTAL_KICKS, "metrics -o content");
        }
        fclose(f);
        {
                char cmd[600];

                snprintf(cmd, sizeof cmd, "test $(ls -A %s/prom | wc -l) -eq 1", it.dir);
                CHECK(system(cmd) == 0, "a temporary file left next to the metrics");
        }

        irqfds_and_claims(&it, g1);

        /* a registration that goes is no longer listed; the histogram keeps counting */
        CHECK_EQ(it_virtio(c1, BASE, 1, true, -1), 0, "VIRTIO_MMIO deassign");
        kicks(&it, g1, BASE + NOTIFY, 4, 0, 3);
        CTL_OK(&it, "--json", "show", "g1");
        jq_true("(.registrations | length) == 2 and .latency.count == $k and .guest.kicks == $k and "
                "([.registrations[] | select(.match == \"mask\")][0].kicks == 40)", "k", TOTAL_KICKS + 3);

        /* a restart with a handover: the control socket is back, every count goes on from where it was */
        {
                pid_t old = it_daemon_pid(&it), pid = 0;

                CHECK(kill(it.daemon, SIGUSR1) == 0, "ask the supervisor for a restart");
                CHECK(it_wait_note(&it, "READY=1", IT_TIMEOUT_MS), "READY=1 after the restart");
                for (int i = 0; i < 200 && ((pid = it_daemon_pid(&it)) == 0 || pid == old); i++)
                        usleep(10000);
                CHECK(pid > 0 && pid != old, "a new daemon after %d", (int) old);
                it_wait_worker(&it, g1, 0, IT_TIMEOUT_MS);
        }
        kicks(&it, g1, BASE + NOTIFY, 4, 0, 2);
        CHECK_EQ(it_efd_take(efd[0]), 3 + 2, "queue 0's eventfd across the restart");
        CTL_OK(&it, "--json", "show", "g1");
        jq_true(".guest.kicks == $k and .latency.count == $k and (.registrations | length) == 2 and "
                "([.registrations[] | select(.match == \"mask\")][0].kicks == 42) and "
                "([.registrations[] | select(.match == \"exact\")][0].kicks == 3) and "
                "(.clients | length) == 1", "k", TOTAL_KICKS + 3 + 2);

        /* a reload moves the control socket */
        {
                char moved[400], extra[500];

                snprintf(moved, sizeof moved, "%s/ctl2", it.dir);
                snprintf(extra, sizeof extra, "control_socket = %s\n", moved);
                it_write_global(&it, extra);
                it_drain_notes(&it);
                it_daemon_signal(&it, SIGHUP);
                CHECK(it_wait_note(&it, "READY=1", IT_TIMEOUT_MS), "READY=1 after the reload");
                CHECK(access(ctl_socket, F_OK) < 0 && errno == ENOENT, "the old control socket is gone");
                snprintf(ctl_socket, sizeof ctl_socket, "%s", moved);
                CTL_OK(&it, "--json", "status");
                jq_true(".guests_configured == 2 and .kicks == $k", "k", TOTAL_KICKS + 3 + 2);
                /* and back */
                it_write_global(&it, NULL);
                it_daemon_signal(&it, SIGHUP);
                CHECK(it_wait_note(&it, "READY=1", IT_TIMEOUT_MS), "READY=1 after the reload");
                snprintf(ctl_socket, sizeof ctl_socket, "%s/control", it.sockets_dir);
                CHECK(access(moved, F_OK) < 0 && errno == ENOENT, "the moved control socket is gone");
                CTL_OK(&it, "status");
        }

        bad_requests(&it);
        not_root(&it);

        close(c1);
        for (int i = 0; i < 3; i++)
                close(efd[i]);
        it_daemon_signal(&it, SIGTERM);
        CHECK_EQ(it_daemon_wait(&it, IT_TIMEOUT_MS), 0, "exit status");
        CHECK(access(ctl_socket, F_OK) < 0 && errno == ENOENT, "the control socket is removed at the end");
        it_fini(&it);
        return 0;
}
