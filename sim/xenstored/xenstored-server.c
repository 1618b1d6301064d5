/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-xenstored: connections, requests and watches.
 *
 * Request semantics follow Xen 4.17's C xenstored (xenstored_core.c,
 * _watch.c, _domain.c, _transaction.c): replies echo the request header
 * with the type and length replaced, failures are XS_ERROR carrying the
 * errno name of xsd_errors[], a watch fires once when it is registered, a
 * change fires the watches on the node and its ancestors, an identical
 * watch event still queued for a connection is not queued twice, unknown
 * request types get ENOSYS and a length above XENSTORE_PAYLOAD_MAX drops
 * the connection.
 *
 * Flow control: a connection whose unsent output exceeds PAUSE_BYTES is not
 * read until it drains; one whose output would exceed max_pending_bytes (a
 * client that never reads its watch events) is disconnected.  Sockets are
 * non-blocking, so no client can stall the others.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <xen/io/xs_wire.h>

#include "xenstored-log.h"
#include "xenstored-server.h"
#include "xenstored-store.h"

#define container_of(ptr, type, member) ((type *) (void *) ((char *) (ptr) - offsetof(type, member)))

#define HDR_SIZE sizeof(struct xsd_sockmsg)
#define PAUSE_BYTES (64 * 1024)
/* Messages handled per readable event before others get their turn. */
#define READ_BUDGET 64
#define DOMID_FIRST_RESERVED 0x7FF0U
#define DOMID_SELF 0x7FF0U
#define IMPLICIT_PREFIX "/local/domain/0"
/* All open transactions together may copy at most this many times max_nodes. */
#define TX_NODES_FACTOR 16

_Static_assert(sizeof(struct xsd_sockmsg) == 16, "xsd_sockmsg is 16 bytes on the wire");

enum {
        DOM_INTRODUCED = 1 << 0,
        DOM_SHUTDOWN = 1 << 1,
};

typedef struct OutMsg OutMsg;
struct OutMsg {
        OutMsg *next;
        size_t len;             /* header + body */
        size_t off;             /* bytes already sent */
        bool watch_event;
        unsigned char buf[];
};

typedef struct Watch Watch;
struct Watch {
        Watch *next;
        char *node;             /* absolute path or @special */
        char *token;
        bool relative;          /* events carry paths relative to IMPLICIT_PREFIX */
};

typedef struct Tx Tx;
struct Tx {
        Tx *next;
        uint32_t id;
        Store *clone;
        size_t cloned_nodes;    /* charged to Server.tx_nodes */
};

typedef struct Conn Conn;
struct Conn {
        Server *srv;
        Conn *next;
        Conn *next_dead;
        unsigned int id;
        int fd;
        ev_io io;
        bool read_only;
        bool dead;
        bool paused;

        struct xsd_sockmsg in_hdr;
        size_t in_used;
        char in_body[XENSTORE_PAYLOAD_MAX + 1];

        OutMsg *out_head;
        OutMsg *out_tail;
        size_t out_bytes;

        Watch *watches;
        size_t n_watches;

        Tx *txs;
        size_t n_txs;
        uint32_t next_tx_id;
};

typedef struct Listener Listener;
struct Listener {
        Server *srv;
        Listener *next;
        ev_io io;
        bool read_only;
};

struct Server {
        struct ev_loop *loop;
        ServerLimits limits;
        Store *store;
        Conn *conns;
        size_t n_conns;
        Conn *dead;
        unsigned int next_conn_id;
        Listener *listeners;
        ev_idle reaper;
        ev_timer accept_retry;
        size_t tx_nodes;        /* nodes in all transaction clones */
        uint8_t domains[DOMID_FIRST_RESERVED];
        StorePerm special_perms[2][1];  /* @introduceDomain, @releaseDomain */
};

/* --- output --------------------------------------------------------------- */

static void conn_kill(Conn *c, const char *why);

static void conn_update_io(Conn *c) {
        int events = (c->paused ? 0 : EV_READ) | (c->out_head ? EV_WRITE : 0);

        if (c->dead || (c->io.events & (EV_READ | EV_WRITE)) == events)
                return;
        ev_io_stop(c->srv->loop, &c->io);
        ev_io_set(&c->io, c->fd, events);
        if (events)
                ev_io_start(c->srv->loop, &c->io);
}

static void conn_flush(Conn *c) {
        while (c->out_head && !c->dead) {
                OutMsg *m = c->out_head;
                ssize_t n = send(c->fd, m->buf + m->off, m->len - m->off, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN || errno == EWOULDBLOCK)
                                break;
                        conn_kill(c, "send failed");
                        return;
                }
                m->off += (size_t) n;
                c->out_bytes -= (size_t) n;
                if (m->off < m->len)
                        continue;
                c->out_head = m->next;
                if (!c->out_head)
                        c->out_tail = NULL;
                free(m);
        }
        if (c->paused && c->out_bytes < PAUSE_BYTES / 2)
                c->paused = false;
        conn_update_io(c);
}

static int conn_queue(Conn *c, uint32_t type, uint32_t req_id, uint32_t tx_id,
                      const void *a, size_t alen, const void *b, size_t blen, bool watch_event) {
        struct xsd_sockmsg hdr = { .type = type, .req_id = req_id, .tx_id = tx_id,
                                   .len = (uint32_t) (alen + blen) };
        OutMsg *m;

        if (c->dead)
                return 0;
        if (c->out_bytes + HDR_SIZE + alen + blen > c->srv->limits.max_pending_bytes) {
                conn_kill(c, "too much unread output");
                return ENOSPC;
        }
        m = malloc(sizeof(*m) + HDR_SIZE + alen + blen);
        if (!m) {
                conn_kill(c, "out of memory");
                return ENOMEM;
        }
        m->next = NULL;
        m->len = HDR_SIZE + alen + blen;
        m->off = 0;
        m->watch_event = watch_event;
        memcpy(m->buf, &hdr, HDR_SIZE);
        if (alen)
                memcpy(m->buf + HDR_SIZE, a, alen);
        if (blen)
                memcpy(m->buf + HDR_SIZE + alen, b, blen);
        if (c->out_tail)
                c->out_tail->next = m;
        else
                c->out_head = m;
        c->out_tail = m;
        c->out_bytes += m->len;
        if (c->out_bytes > PAUSE_BYTES)
                c->paused = true;
        conn_flush(c);
        return 0;
}

static void send_reply(Conn *c, uint32_t type, const void *data, size_t len);

static void send_error(Conn *c, int err) {
        const char *name = xsd_errors[0].errstring;     /* EINVAL, as xenstored falls back to */

        for (size_t i = 0; i < sizeof(xsd_errors) / sizeof(xsd_errors[0]); i++)
                if (xsd_errors[i].errnum == err) {
                        name = xsd_errors[i].errstring;
                        break;
                }
        conn_queue(c, XS_ERROR, c->in_hdr.req_id, c->in_hdr.tx_id, name, strlen(name) + 1, NULL, 0, false);
}

static void send_reply(Conn *c, uint32_t type, const void *data, size_t len) {
        if (len > XENSTORE_PAYLOAD_MAX) {
                send_error(c, E2BIG);
                return;
        }
        conn_queue(c, type, c->in_hdr.req_id, c->in_hdr.tx_id, data, len, NULL, 0, false);
}

static void send_ack(Conn *c, uint32_t type) {
        send_reply(c, type, "OK", sizeof("OK"));
}

static void send_event(Conn *c, const char *path, const char *token) {
        size_t plen = strlen(path) + 1, tlen = strlen(token) + 1;

        if (c->dead || plen + tlen > XENSTORE_PAYLOAD_MAX)
                return;
        if (path[0] != '@') {
                for (const OutMsg *m = c->out_head; m; m = m->next)
                        if (m->watch_event && m->len == HDR_SIZE + plen + tlen &&
                            memcmp(m->buf + HDR_SIZE, path, plen) == 0 &&
                            memcmp(m->buf + HDR_SIZE + plen, token, tlen) == 0)
                                return;
        }
        conn_queue(c, XS_WATCH_EVENT, 0, 0, path, plen, token, tlen, true);
}

/* --- watches -------------------------------------------------------------- */

/* Is child the node parent or below it?  "/" contains everything. */
static bool path_is_child(const char *child, const char *parent) {
        size_t len = strlen(parent);

        if (strcmp(parent, "/") == 0)
                return true;
        return strncmp(child, parent, len) == 0 && (child[len] == '/' || child[len] == '\0');
}

static const char *watch_event_path(const Watch *w, const char *name) {
        if (w->relative && strncmp(name, IMPLICIT_PREFIX, strlen(IMPLICIT_PREFIX)) == 0) {
                name += strlen(IMPLICIT_PREFIX);
                if (*name == '/')
                        name++;
        }
        return name;
}

static void fire_watches(void *userdata, const char *name, bool exact) {
        Server *srv = userdata;

        for (Conn *c = srv->conns; c; c = c->next)
                for (Watch *w = c->watches; w && !c->dead; w = w->next)
                        if (exact ? strcmp(name, w->node) == 0 : path_is_child(name, w->node))
                                send_event(c, watch_event_path(w, name), w->token);
}

static Watch *watch_free(Watch *w) {
        if (w) {
                free(w->node);
                free(w->token);
                free(w);
        }
        return NULL;
}

static void conn_delete_watches(Conn *c) {
        while (c->watches) {
                Watch *w = c->watches;

                c->watches = w->next;
                watch_free(w);
        }
        c->n_watches = 0;
}

/* --- transactions --------------------------------------------------------- */

static Tx *tx_find(Conn *c, uint32_t id) {
        for (Tx *t = c->txs; t; t = t->next)
                if (t->id == id)
                        return t;
        return NULL;
}

static void tx_remove(Conn *c, Tx *t) {
        for (Tx **p = &c->txs; *p; p = &(*p)->next)
                if (*p == t) {
                        *p = t->next;
                        c->n_txs--;
                        break;
                }
        c->srv->tx_nodes -= t->cloned_nodes;
        store_free(t->clone);
        free(t);
}

static void conn_delete_txs(Conn *c) {
        while (c->txs)
                tx_remove(c, c->txs);
}

/* --- request helpers ------------------------------------------------------ */

typedef struct Request {
        Conn *conn;
        const char *body;
        size_t len;
        Tx *tx;                 /* NULL outside a transaction */
} Request;

/* Number of NUL-terminated strings in the body (bytes after the last NUL are ignored). */
static size_t count_strings(const Request *rq) {
        size_t n = 0;

        for (size_t i = 0; i < rq->len; i++)
                if (rq->body[i] == '\0')
                        n++;
        return n;
}

/* The single argument: the body must be one string with its NUL as last byte. */
static const char *onearg(const Request *rq) {
        if (rq->len == 0 || memchr(rq->body, '\0', rq->len) != rq->body + rq->len - 1)
                return NULL;
        return rq->body;
}

/* Absolute form of a path argument into buf; relative paths are below /local/domain/0. */
static const char *canonicalize(const char *path, char *buf, size_t size) {
        int n;

        if (!path || path[0] == '/' || path[0] == '@')
                return path;
        n = snprintf(buf, size, IMPLICIT_PREFIX "/%s", path);
        if (n < 0 || (size_t) n >= size)
                return NULL;
        return buf;
}

/* atoi() as xenstored uses it, without its undefined overflow. */
static unsigned long parse_domid(const char *s) {
        unsigned long v = 0;

        while (*s == ' ' || *s == '\t' || *s == '\n')
                s++;
        if (*s == '+')
                s++;
        for (; *s >= '0' && *s <= '9'; s++) {
                v = v * 10 + (unsigned long) (*s - '0');
                if (v > UINT32_MAX)
                        return UINT32_MAX;
        }
        return v;
}

static Store *rq_store(const Request *rq) {
        return rq->tx ? rq->tx->clone : rq->conn->srv->store;
}

/* Changes inside a transaction fire their watches at commit. */
static StoreChangeFn rq_fire(const Request *rq) {
        return rq->tx ? NULL : fire_watches;
}

/* --- requests ------------------------------------------------------------- */

#define PATH_BUF (XENSTORE_PAYLOAD_MAX + sizeof(IMPLICIT_PREFIX) + 2)

static int do_read(const Request *rq) {
        char buf[PATH_BUF];
        const char *path = canonicalize(onearg(rq), buf, sizeof(buf)), *data;
        size_t len;
        int r;

        if (!path)
                return EINVAL;
        r = store_read(rq_store(rq), path, &data, &len);
        if (r)
                return r;
        send_reply(rq->conn, XS_READ, data, len);
        return 0;
}

static int do_write(const Request *rq) {
        char buf[PATH_BUF];
        const char *path, *end = memchr(rq->body, '\0', rq->len);
        size_t off;
        int r;

        if (!end)
                return EINVAL;
        off = (size_t) (end - rq->body) + 1;
        path = canonicalize(rq->body, buf, sizeof(buf));
        if (!path)
                return EINVAL;
        r = store_write(rq_store(rq), path, rq->body + off, rq->len - off, rq_fire(rq), rq->conn->srv);
        if (r)
                return r;
        send_ack(rq->conn, XS_WRITE);
        return 0;
}

static int do_mkdir(const Request *rq) {
        char buf[PATH_BUF];
        const char *path = canonicalize(onearg(rq), buf, sizeof(buf));
        int r;

        if (!path)
                return EINVAL;
        r = store_mkdir(rq_store(rq), path, rq_fire(rq), rq->conn->srv);
        if (r)
                return r;
        send_ack(rq->conn, XS_MKDIR);
        return 0;
}

static int do_rm(const Request *rq) {
        char buf[PATH_BUF];
        const char *path = canonicalize(onearg(rq), buf, sizeof(buf));
        int r;

        if (!path)
                return EINVAL;
        r = store_rm(rq_store(rq), path, rq_fire(rq), rq->conn->srv);
        if (r)
                return r;
        send_ack(rq->conn, XS_RM);
        return 0;
}

static int do_directory(const Request *rq) {
        char buf[PATH_BUF], *list;
        const char *path = canonicalize(onearg(rq), buf, sizeof(buf));
        size_t len;
        int r;

        if (!path)
                return EINVAL;
        r = store_directory(rq_store(rq), path, &list, &len, NULL);
        if (r)
                return r;
        send_reply(rq->conn, XS_DIRECTORY, list, len);
        free(list);
        return 0;
}

/* Reply: generation, NUL, as many child names as fit, and an empty string after the last one. */
static int do_directory_part(const Request *rq) {
        char buf[PATH_BUF], gen[24], *list, *reply;
        const char *path;
        size_t len, off, genlen, part, maxlen;
        uint64_t generation;
        int r;

        if (count_strings(rq) != 2)
                return EINVAL;
        path = canonicalize(rq->body, buf, sizeof(buf));
        if (!path)
                return EINVAL;
        r = store_directory(rq_store(rq), path, &list, &len, &generation);
        if (r)
                return r;
        off = parse_domid(rq->body + strlen(rq->body) + 1);
        genlen = (size_t) snprintf(gen, sizeof(gen), "%llu", (unsigned long long) generation) + 1;
        reply = malloc(XENSTORE_PAYLOAD_MAX);
        if (!reply) {
                free(list);
                return ENOMEM;
        }
        memcpy(reply, gen, genlen);
        if (off >= len) {
                reply[genlen] = '\0';
                send_reply(rq->conn, XS_DIRECTORY_PART, reply, genlen + 1);
        } else {
                maxlen = XENSTORE_PAYLOAD_MAX - genlen - 1;
                part = 0;
                while (off + part < len) {
                        size_t l = strlen(list + off + part) + 1;

                        if (part + l > maxlen)
                                break;
                        part += l;
                }
                memcpy(reply + genlen, list + off, part);
                if (off + part == len)
                        reply[genlen + part++] = '\0';
                send_reply(rq->conn, XS_DIRECTORY_PART, reply, genlen + part);
        }
        free(reply);
        free(list);
        return 0;
}

static int do_get_perms(const Request *rq) {
        char buf[PATH_BUF], out[XENSTORE_PAYLOAD_MAX + 16];
        const char *path = canonicalize(onearg(rq), buf, sizeof(buf));
        StorePerm *perms;
        size_t n, len = 0;
        int r;

        if (!path)
                return EINVAL;
        r = store_get_perms(rq_store(rq), path, &perms, &n);
        if (r)
                return r;
        for (size_t i = 0; i < n && len + 16 <= sizeof(out); i++) {
                store_perm_format(&perms[i], out + len, 16);
                len += strlen(out + len) + 1;
        }
        free(perms);
        send_reply(rq->conn, XS_GET_PERMS, out, len);
        return 0;
}

static int do_set_perms(const Request *rq) {
        char buf[PATH_BUF];
        StorePerm perms[XENSTORE_PAYLOAD_MAX / 2];
        const char *path, *p;
        size_t n = count_strings(rq);
        int r;

        if (n < 2)
                return EINVAL;
        n--;
        if (n > sizeof(perms) / sizeof(perms[0]))
                return EINVAL;
        p = rq->body + strlen(rq->body) + 1;
        for (size_t i = 0; i < n; i++) {
                r = store_perm_parse(p, &perms[i]);
                if (r)
                        return r;
                p += strlen(p) + 1;
        }

        if (rq->body[0] == '@') {
                Server *srv = rq->conn->srv;
                int which = strcmp(rq->body, "@introduceDomain") == 0 ? 0 :
                            strcmp(rq->body, "@releaseDomain") == 0 ? 1 : -1;

                if (which < 0)
                        return EINVAL;
                srv->special_perms[which][0] = perms[0];
                send_ack(rq->conn, XS_SET_PERMS);
                return 0;
        }
        path = canonicalize(rq->body, buf, sizeof(buf));
        if (!path)
                return EINVAL;
        r = store_set_perms(rq_store(rq), path, perms, n, rq_fire(rq), rq->conn->srv);
        if (r)
                return r;
        send_ack(rq->conn, XS_SET_PERMS);
        return 0;
}

static int do_watch(const Request *rq) {
        Conn *c = rq->conn;
        char buf[PATH_BUF];
        const char *path, *token;
        bool relative;
        Watch *w;

        if (count_strings(rq) != 2)
                return EINVAL;
        token = rq->body + strlen(rq->body) + 1;
        if (rq->body[0] == '@') {
                relative = false;
                path = rq->body;
                if (strlen(path) > XENSTORE_REL_PATH_MAX)
                        return EINVAL;
        } else {
                relative = rq->body[0] != '/';
                path = canonicalize(rq->body, buf, sizeof(buf));
                if (!path || !store_path_valid(path))
                        return EINVAL;
        }

        for (w = c->watches; w; w = w->next)
                if (strcmp(w->node, path) == 0 && strcmp(w->token, token) == 0)
                        return EEXIST;
        if (c->n_watches >= c->srv->limits.max_watches)
                return E2BIG;

        w = calloc(1, sizeof(*w));
        if (!w)
                return ENOMEM;
        w->node = strdup(path);
        w->token = strdup(token);
        w->relative = relative;
        if (!w->node || !w->token) {
                watch_free(w);
                return ENOMEM;
        }
        /* Appended: events are generated in registration order. */
        {
                Watch **p = &c->watches;

                while (*p)
                        p = &(*p)->next;
                *p = w;
        }
        c->n_watches++;

        send_ack(c, XS_WATCH);
        /* Every new watch fires once at once (FACTS 9d). */
        send_event(c, watch_event_path(w, w->node), w->token);
        return 0;
}

static int do_unwatch(const Request *rq) {
        Conn *c = rq->conn;
        char buf[PATH_BUF];
        const char *path, *token;

        if (count_strings(rq) != 2)
                return EINVAL;
        token = rq->body + strlen(rq->body) + 1;
        path = canonicalize(rq->body, buf, sizeof(buf));
        if (!path)
                return EINVAL;
        for (Watch **p = &c->watches; *p; p = &(*p)->next) {
                Watch *w = *p;

                if (strcmp(w->node, path) == 0 && strcmp(w->token, token) == 0) {
                        *p = w->next;
                        watch_free(w);
                        c->n_watches--;
                        send_ack(c, XS_UNWATCH);
                        return 0;
                }
        }
        return ENOENT;
}

static int do_transaction_start(const Request *rq) {
        Conn *c = rq->conn;
        char id[16];
        Tx *t;
        int r;

        /* No nested transactions. */
        if (rq->tx)
                return EBUSY;
        if (c->n_txs >= c->srv->limits.max_transactions)
                return ENOSPC;
        /* A transaction may copy the whole store: bound the copies of all clients together. */
        if (c->srv->tx_nodes + store_node_count(c->srv->store) > TX_NODES_FACTOR * c->srv->limits.max_nodes)
                return ENOSPC;
        t = calloc(1, sizeof(*t));
        if (!t)
                return ENOMEM;
        r = store_tx_begin(c->srv->store, &t->clone);
        if (r) {
                free(t);
                return r;
        }
        /* Lowest unused id from a per-connection counter; 0 means "no transaction". */
        do
                t->id = c->next_tx_id++;
        while (t->id == 0 || tx_find(c, t->id));
        t->next = c->txs;
        c->txs = t;
        c->n_txs++;
        t->cloned_nodes = store_node_count(t->clone);
        c->srv->tx_nodes += t->cloned_nodes;

        snprintf(id, sizeof(id), "%u", t->id);
        send_reply(c, XS_TRANSACTION_START, id, strlen(id) + 1);
        return 0;
}

static int do_transaction_end(const Request *rq) {
        Conn *c = rq->conn;
        const char *arg = onearg(rq);
        int r = 0;

        if (!arg || (strcmp(arg, "T") != 0 && strcmp(arg, "F") != 0))
                return EINVAL;
        if (!rq->tx)
                return ENOENT;
        if (arg[0] == 'T')
                r = store_tx_commit(rq->tx->clone, c->srv->store, fire_watches, c->srv);
        tx_remove(c, rq->tx);
        if (r)
                return r;
        send_ack(c, XS_TRANSACTION_END);
        return 0;
}

static int do_introduce(const Request *rq) {
        Server *srv = rq->conn->srv;
        unsigned long domid, port;
        const char *vec[3], *p = rq->body;

        if (count_strings(rq) < 3)
                return EINVAL;
        for (int i = 0; i < 3; i++) {
                vec[i] = p;
                p += strlen(p) + 1;
        }
        domid = parse_domid(vec[0]);
        port = parse_domid(vec[2]);
        if (port == 0 || port > INT32_MAX)
                return EINVAL;
        /* Xen would fail to map the ring of a domain that cannot exist. */
        if (domid >= DOMID_FIRST_RESERVED)
                return EINVAL;
        if (!(srv->domains[domid] & DOM_INTRODUCED)) {
                srv->domains[domid] = DOM_INTRODUCED;
                if (domid != 0)
                        fire_watches(srv, "@introduceDomain", true);
        }
        send_ack(rq->conn, XS_INTRODUCE);
        return 0;
}

/* The domain named by the single argument, which must be introduced and not dom0. */
static int onearg_domain(const Request *rq, unsigned long *ret) {
        const char *arg = onearg(rq);
        unsigned long domid;

        if (!arg)
                return EINVAL;
        domid = parse_domid(arg);
        if (domid == 0)
                return EINVAL;
        if (domid >= DOMID_FIRST_RESERVED || !(rq->conn->srv->domains[domid] & DOM_INTRODUCED))
                return ENOENT;
        *ret = domid;
        return 0;
}

static int do_release(const Request *rq) {
        Server *srv = rq->conn->srv;
        unsigned long domid;
        int r = onearg_domain(rq, &domid);

        if (r)
                return r;
        srv->domains[domid] = 0;
        fire_watches(srv, "@releaseDomain", true);
        send_ack(rq->conn, XS_RELEASE);
        return 0;
}

static int do_resume(const Request *rq) {
        unsigned long domid;
        int r = onearg_domain(rq, &domid);

        if (r)
                return r;
        rq->conn->srv->domains[domid] &= (uint8_t) ~DOM_SHUTDOWN;
        send_ack(rq->conn, XS_RESUME);
        return 0;
}

static int do_set_target(const Request *rq) {
        Server *srv = rq->conn->srv;
        unsigned long domid, target;

        if (count_strings(rq) < 2)
                return EINVAL;
        domid = parse_domid(rq->body);
        target = parse_domid(rq->body + strlen(rq->body) + 1);
        if (domid >= DOMID_FIRST_RESERVED || !(srv->domains[domid] & DOM_INTRODUCED) ||
            target >= DOMID_FIRST_RESERVED || !(srv->domains[target] & DOM_INTRODUCED))
                return ENOENT;
        send_ack(rq->conn, XS_SET_TARGET);
        return 0;
}

static int do_is_domain_introduced(const Request *rq) {
        const char *arg = onearg(rq);
        unsigned long domid;
        bool yes;

        if (!arg)
                return EINVAL;
        domid = parse_domid(arg);
        yes = domid == DOMID_SELF ||
              (domid < DOMID_FIRST_RESERVED && (rq->conn->srv->domains[domid] & DOM_INTRODUCED));
        send_reply(rq->conn, XS_IS_DOMAIN_INTRODUCED, yes ? "T" : "F", 2);
        return 0;
}

static int do_get_domain_path(const Request *rq) {
        const char *arg = onearg(rq);
        char path[32];

        if (!arg)
                return EINVAL;
        /* No check that the domain exists (FACTS 9e). */
        snprintf(path, sizeof(path), "/local/domain/%u", (unsigned) parse_domid(arg));
        send_reply(rq->conn, XS_GET_DOMAIN_PATH, path, strlen(path) + 1);
        return 0;
}

static int do_reset_watches(const Request *rq) {
        conn_delete_watches(rq->conn);
        conn_delete_txs(rq->conn);
        send_ack(rq->conn, XS_RESET_WATCHES);
        return 0;
}

/*
 * xenstored's "check", "print" and "help", plus one simulator command that
 * stands in for the hypervisor's VIRQ_DOM_EXC, which xenstored reacts to:
 *   xensim-domain <domid> shutdown   domain shut down: @releaseDomain fires,
 *                                    the domain stays introduced
 *   xensim-domain <domid> dying      domain destroyed: it is released and
 *                                    @releaseDomain fires
 * and "xensim-stats", which reports the live connections, their watches and
 * open transactions, and the number of nodes.
 */
static int do_control(const Request *rq) {
        static const char help[] =
                "check\nprint <string>\nhelp\nxensim-domain <domid> shutdown|dying\nxensim-stats\n";
        Server *srv = rq->conn->srv;
        const char *vec[3] = { 0 }, *p = rq->body;
        size_t n = count_strings(rq);

        if (n == 0)
                return EINVAL;
        for (size_t i = 0; i < n && i < 3; i++) {
                vec[i] = p;
                p += strlen(p) + 1;
        }
        if (strcmp(vec[0], "check") == 0) {
                if (n != 1)
                        return EINVAL;
        } else if (strcmp(vec[0], "print") == 0) {
                char esc[256];

                if (n != 2)
                        return EINVAL;
                log_info("control: %s", log_escape(esc, sizeof(esc), vec[1], strlen(vec[1])));
        } else if (strcmp(vec[0], "help") == 0) {
                send_reply(rq->conn, XS_CONTROL, help, sizeof(help));
                return 0;
        } else if (strcmp(vec[0], "xensim-stats") == 0) {
                size_t conns = 0, watches = 0, txs = 0;
                char out[160];

                if (n != 1)
                        return EINVAL;
                for (const Conn *c = srv->conns; c; c = c->next)
                        if (!c->dead) {
                                conns++;
                                watches += c->n_watches;
                                txs += c->n_txs;
                        }
                snprintf(out, sizeof(out), "connections=%zu watches=%zu transactions=%zu nodes=%zu",
                         conns, watches, txs, store_node_count(srv->store));
                send_reply(rq->conn, XS_CONTROL, out, strlen(out) + 1);
                return 0;
        } else if (strcmp(vec[0], "xensim-domain") == 0) {
                unsigned long domid;

                if (n != 3)
                        return EINVAL;
                domid = parse_domid(vec[1]);
                if (domid == 0 || domid >= DOMID_FIRST_RESERVED)
                        return EINVAL;
                if (!(srv->domains[domid] & DOM_INTRODUCED))
                        return ENOENT;
                if (strcmp(vec[2], "shutdown") == 0) {
                        if (!(srv->domains[domid] & DOM_SHUTDOWN)) {
                                srv->domains[domid] |= DOM_SHUTDOWN;
                                fire_watches(srv, "@releaseDomain", true);
                        }
                } else if (strcmp(vec[2], "dying") == 0) {
                        srv->domains[domid] = 0;
                        fire_watches(srv, "@releaseDomain", true);
                } else
                        return EINVAL;
        } else
                return EINVAL;
        send_ack(rq->conn, XS_CONTROL);
        return 0;
}

static const struct {
        int (*fn)(const Request *rq);
        bool no_tx;             /* the transaction id is ignored */
        bool modifies;          /* refused with EROFS on a read-only socket */
} handlers[XS_TYPE_COUNT] = {
        [XS_CONTROL] = { do_control, false, true },
        [XS_DIRECTORY] = { do_directory, false, false },
        [XS_READ] = { do_read, false, false },
        [XS_GET_PERMS] = { do_get_perms, false, false },
        [XS_WATCH] = { do_watch, true, false },
        [XS_UNWATCH] = { do_unwatch, true, false },
        [XS_TRANSACTION_START] = { do_transaction_start, false, false },
        [XS_TRANSACTION_END] = { do_transaction_end, false, false },
        [XS_INTRODUCE] = { do_introduce, false, true },
        [XS_RELEASE] = { do_release, false, true },
        [XS_GET_DOMAIN_PATH] = { do_get_domain_path, false, false },
        [XS_WRITE] = { do_write, false, true },
        [XS_MKDIR] = { do_mkdir, false, true },
        [XS_RM] = { do_rm, false, true },
        [XS_SET_PERMS] = { do_set_perms, false, true },
        [XS_IS_DOMAIN_INTRODUCED] = { do_is_domain_introduced, false, false },
        [XS_RESUME] = { do_resume, false, true },
        [XS_SET_TARGET] = { do_set_target, false, true },
        [XS_RESET_WATCHES] = { do_reset_watches, false, false },
        [XS_DIRECTORY_PART] = { do_directory_part, false, false },
};

static void conn_process(Conn *c) {
        uint32_t type = c->in_hdr.type;
        Request rq = { .conn = c, .body = c->in_body, .len = c->in_hdr.len };
        int r;

        /* A terminator past the payload: string scans never leave the buffer. */
        c->in_body[c->in_hdr.len] = '\0';

        if (log_verbose) {
                char esc[128];

                log_debug("connection %u: request type %u req %u tx %u \"%s\"", c->id, type,
                          c->in_hdr.req_id, c->in_hdr.tx_id,
                          log_escape(esc, sizeof(esc), c->in_body, c->in_hdr.len));
        }
        if (type >= XS_TYPE_COUNT || !handlers[type].fn) {
                log_debug("connection %u: unknown request type %u", c->id, type);
                send_error(c, ENOSYS);
                return;
        }
        if (handlers[type].modifies && c->read_only) {
                send_error(c, EROFS);
                return;
        }
        if (!handlers[type].no_tx && c->in_hdr.tx_id != 0) {
                rq.tx = tx_find(c, c->in_hdr.tx_id);
                if (!rq.tx) {
                        send_error(c, ENOENT);
                        return;
                }
        }
        r = handlers[type].fn(&rq);
        if (r)
                send_error(c, r);
}

/* --- connections ---------------------------------------------------------- */

static void conn_read(Conn *c) {
        for (int budget = READ_BUDGET; budget > 0 && !c->dead && !c->paused;) {
                size_t want;
                char *dst;
                ssize_t n;

                if (c->in_used < HDR_SIZE) {
                        dst = (char *) &c->in_hdr + c->in_used;
                        want = HDR_SIZE - c->in_used;
                } else {
                        dst = c->in_body + (c->in_used - HDR_SIZE);
                        want = HDR_SIZE + c->in_hdr.len - c->in_used;
                }
                n = recv(c->fd, dst, want, MSG_DONTWAIT);
                if (n == 0) {
                        conn_kill(c, c->in_used ? "disconnected in the middle of a message" : "disconnected");
                        return;
                }
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                conn_kill(c, "recv failed");
                        return;
                }
                c->in_used += (size_t) n;
                if (c->in_used < HDR_SIZE)
                        continue;
                if (c->in_used == HDR_SIZE && c->in_hdr.len > XENSTORE_PAYLOAD_MAX) {
                        log_debug("connection %u: request of %u bytes exceeds the payload limit",
                                  c->id, c->in_hdr.len);
                        conn_kill(c, "oversized request");
                        return;
                }
                if (c->in_used == HDR_SIZE + c->in_hdr.len) {
                        conn_process(c);
                        c->in_used = 0;
                        budget--;
                }
        }
        conn_update_io(c);
}

static void conn_on_io(struct ev_loop *loop, ev_io *w, int revents) {
        Conn *c = container_of(w, Conn, io);

        if (revents & EV_WRITE)
                conn_flush(c);
        if ((revents & EV_READ) && !c->dead)
                conn_read(c);
}

/* Marks c dead; it is freed from an idle watcher, outside any callback that may still use it. */
static void conn_kill(Conn *c, const char *why) {
        if (c->dead)
                return;
        log_debug("connection %u: closing (%s)", c->id, why);
        c->dead = true;
        ev_io_stop(c->srv->loop, &c->io);
        c->next_dead = c->srv->dead;
        c->srv->dead = c;
        ev_idle_start(c->srv->loop, &c->srv->reaper);
}

static Conn *conn_free(Conn *c) {
        if (!c)
                return NULL;
        conn_delete_watches(c);
        conn_delete_txs(c);
        while (c->out_head) {
                OutMsg *m = c->out_head;

                c->out_head = m->next;
                free(m);
        }
        if (c->fd >= 0)
                close(c->fd);
        free(c);
        return NULL;
}

static void server_on_idle(struct ev_loop *loop, ev_idle *w, int revents) {
        Server *srv = container_of(w, Server, reaper);

        ev_idle_stop(loop, w);
        while (srv->dead) {
                Conn *c = srv->dead;

                srv->dead = c->next_dead;
                for (Conn **p = &srv->conns; *p; p = &(*p)->next)
                        if (*p == c) {
                                *p = c->next;
                                srv->n_conns--;
                                break;
                        }
                conn_free(c);
        }
}

static void server_on_accept_retry(struct ev_loop *loop, ev_timer *w, int revents) {
        Server *srv = container_of(w, Server, accept_retry);

        for (Listener *l = srv->listeners; l; l = l->next)
                ev_io_start(loop, &l->io);
}

static void server_on_accept(struct ev_loop *loop, ev_io *w, int revents) {
        Listener *l = container_of(w, Listener, io);
        Server *srv = l->srv;
        Conn *c;
        int fd;

        fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE) {
                        log_warning("Out of file descriptors, pausing accept for a second");
                        for (Listener *i = srv->listeners; i; i = i->next)
                                ev_io_stop(loop, &i->io);
                        ev_timer_stop(loop, &srv->accept_retry);
                        ev_timer_set(&srv->accept_retry, 1.0, 0.0);
                        ev_timer_start(loop, &srv->accept_retry);
                } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                           errno != ECONNABORTED)
                        log_warning("accept failed: %m");
                return;
        }
        if (srv->n_conns >= srv->limits.max_connections) {
                log_debug("refusing a connection: %zu connections open", srv->n_conns);
                close(fd);
                return;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                close(fd);
                return;
        }
        c->srv = srv;
        c->fd = fd;
        c->id = ++srv->next_conn_id;
        c->read_only = l->read_only;
        c->next_tx_id = 1;
        ev_io_init(&c->io, conn_on_io, fd, EV_READ);
        ev_io_start(loop, &c->io);
        c->next = srv->conns;
        srv->conns = c;
        srv->n_conns++;
        log_debug("connection %u: accepted%s", c->id, c->read_only ? " (read-only)" : "");
}

int server_add_listener(Server *srv, int fd, bool read_only) {
        Listener *l = calloc(1, sizeof(*l));

        if (!l)
                return -ENOMEM;
        l->srv = srv;
        l->read_only = read_only;
        ev_io_init(&l->io, server_on_accept, fd, EV_READ);
        ev_io_start(srv->loop, &l->io);
        l->next = srv->listeners;
        srv->listeners = l;
        return 0;
}

int server_new(Server **ret, struct ev_loop *loop, const ServerLimits *limits, bool verbose) {
        Server *srv;
        int r;

        srv = calloc(1, sizeof(*srv));
        if (!srv)
                return -ENOMEM;
        srv->loop = loop;
        srv->limits = *limits;
        log_verbose = verbose;
        r = store_new(&srv->store, limits->max_nodes);
        if (r) {
                free(srv);
                return -r;
        }
        /* The layout xenstored creates at start, and dom0 introduced by itself. */
        r = store_mkdir(srv->store, "/tool/xenstored", NULL, NULL);
        if (r) {
                server_free(srv);
                return -r;
        }
        srv->domains[0] = DOM_INTRODUCED;
        ev_idle_init(&srv->reaper, server_on_idle);
        ev_timer_init(&srv->accept_retry, server_on_accept_retry, 1.0, 0.0);
        *ret = srv;
        return 0;
}

Server *server_free(Server *srv) {
        if (!srv)
                return NULL;
        while (srv->listeners) {
                Listener *l = srv->listeners;

                srv->listeners = l->next;
                ev_io_stop(srv->loop, &l->io);
                close(l->io.fd);
                free(l);
        }
        while (srv->conns) {
                Conn *c = srv->conns;

                srv->conns = c->next;
                if (!c->dead)
                        ev_io_stop(srv->loop, &c->io);
                conn_free(c);
        }
        ev_timer_stop(srv->loop, &srv->accept_retry);
        ev_idle_stop(srv->loop, &srv->reaper);
        store_free(srv->store);
        free(srv);
        return NULL;
}
