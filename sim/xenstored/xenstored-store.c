/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-xenstored: the node tree (see xenstored-store.h).
 *
 * Semantics follow Xen 4.17's C xenstored: WRITE and MKDIR create missing
 * parents, which inherit the permissions of their parent; a change to a
 * child list counts as a change of the parent (its generation moves); RM is
 * recursive and reports the removed nodes bottom-up, the removed root
 * non-exact and everything below it exact.
 */
#include "autoconfig.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xenstored-store.h"

#define LOCAL_DOMAIN_PREFIX "/local/domain/"
/* XENSTORE_REL_PATH_MAX of <xen/io/xs_wire.h>. */
#define REL_PATH_MAX 2048

typedef struct StoreNode StoreNode;

struct StoreNode {
        char *name;             /* last path component; "" for the root */
        StoreNode *parent;
        StoreNode **children;   /* in creation order */
        size_t n_children;
        size_t cap_children;
        char *data;
        size_t len;
        StorePerm *perms;       /* at least one entry */
        size_t n_perms;
        uint64_t gen;
        bool lazy;              /* in a transaction: children not copied from the store yet */
};

typedef enum TxOpType {
        TX_OP_WRITE,
        TX_OP_MKDIR,
        TX_OP_RM,
        TX_OP_SET_PERMS,
} TxOpType;

typedef struct TxOp {
        TxOpType type;
        char *path;
        char *data;
        size_t len;
        StorePerm *perms;
        size_t n_perms;
} TxOp;

typedef struct TxAccess {
        char *path;
        uint64_t gen;           /* 0: the node did not exist */
} TxAccess;

struct Store {
        StoreNode *root;
        size_t n_nodes;
        size_t max_nodes;
        uint64_t generation;

        /* Only in transaction clones. */
        bool tracking;
        Store *live;            /* where nodes not reached yet are copied from */
        bool oom;               /* a copy failed: the transaction can only fail */
        size_t base_nodes;
        TxAccess *accesses;
        size_t n_accesses;
        TxOp *ops;
        size_t n_ops;
        size_t cap_ops;
};

static StoreNode *node_free(StoreNode *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_children; i++)
                node_free(n->children[i]);
        free(n->children);
        free(n->name);
        free(n->data);
        free(n->perms);
        free(n);
        return NULL;
}

static StoreNode *node_alloc(const char *name, size_t name_len, const StorePerm *perms, size_t n_perms) {
        StoreNode *n = calloc(1, sizeof(*n));

        if (!n)
                return NULL;
        n->name = strndup(name, name_len);
        n->perms = malloc(n_perms * sizeof(*perms));
        if (!n->name || !n->perms)
                return node_free(n);
        memcpy(n->perms, perms, n_perms * sizeof(*perms));
        n->n_perms = n_perms;
        return n;
}

int store_new(Store **ret, size_t max_nodes) {
        static const StorePerm root_perm = { .domid = 0, .access = STORE_PERM_NONE };
        Store *s;

        s = calloc(1, sizeof(*s));
        if (!s)
                return ENOMEM;
        s->max_nodes = max_nodes;
        s->root = node_alloc("", 0, &root_perm, 1);
        if (!s->root) {
                free(s);
                return ENOMEM;
        }
        s->n_nodes = 1;
        s->root->gen = ++s->generation;
        *ret = s;
        return 0;
}

Store *store_free(Store *s) {
        if (!s)
                return NULL;
        node_free(s->root);
        for (size_t i = 0; i < s->n_accesses; i++)
                free(s->accesses[i].path);
        free(s->accesses);
        for (size_t i = 0; i < s->n_ops; i++) {
                free(s->ops[i].path);
                free(s->ops[i].data);
                free(s->ops[i].perms);
        }
        free(s->ops);
        free(s);
        return NULL;
}

size_t store_node_count(const Store *s) {
        return s->n_nodes;
}

bool store_path_valid(const char *path) {
        size_t len, local_off = 0;

        if (!path || path[0] != '/')
                return false;
        len = strlen(path);
        if (len > 1 && path[len - 1] == '/')
                return false;
        if (strstr(path, "//"))
                return false;
        if (strspn(path, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-/_@") != len)
                return false;

        /* Paths below /local/domain/<domid>/ get the relative limit after that prefix. */
        if (strncmp(path, LOCAL_DOMAIN_PREFIX, strlen(LOCAL_DOMAIN_PREFIX)) == 0) {
                const char *p = path + strlen(LOCAL_DOMAIN_PREFIX);
                size_t digits = strspn(p, "0123456789");

                if (digits >= 1 && digits <= 5 && p[digits] == '/')
                        local_off = (size_t) (p - path) + digits + 1;
        }
        return len <= local_off + REL_PATH_MAX;
}

static char *node_path(const StoreNode *n);
static StoreNode *node_lookup(Store *s, const char *path);
static int node_add_child(StoreNode *parent, StoreNode *child);

/* A copy of n without its children (they are copied when reached). */
static StoreNode *node_stub(const StoreNode *n) {
        StoreNode *c = node_alloc(n->name, strlen(n->name), n->perms, n->n_perms);

        if (!c)
                return NULL;
        c->gen = n->gen;
        c->lazy = true;
        if (n->len > 0) {
                c->data = malloc(n->len);
                if (!c->data)
                        return node_free(c);
                memcpy(c->data, n->data, n->len);
                c->len = n->len;
        }
        return c;
}

/*
 * A transaction reaches the children of n: copy them from the store as they are now, as
 * xenstored reads a node a transaction did not touch yet from its database. The commit's
 * check of every node the transaction looked at catches what changed since.
 */
static void node_load(Store *s, StoreNode *n) {
        const StoreNode *src;
        char *path;

        if (!n->lazy)
                return;
        n->lazy = false;
        path = node_path(n);
        if (!path) {
                s->oom = true;
                return;
        }
        src = node_lookup(s->live, path);
        free(path);
        for (size_t i = 0; src && i < src->n_children; i++) {
                StoreNode *c = node_stub(src->children[i]);

                if (!c || node_add_child(n, c)) {
                        node_free(c);
                        s->oom = true;
                        return;
                }
        }
}

static StoreNode *node_child(Store *s, StoreNode *n, const char *name, size_t name_len) {
        node_load(s, n);
        for (size_t i = 0; i < n->n_children; i++) {
                StoreNode *c = n->children[i];

                if (strlen(c->name) == name_len && memcmp(c->name, name, name_len) == 0)
                        return c;
        }
        return NULL;
}

/* Deepest existing node along path; *ret_rest is the part of path not found ("" when found). */
static StoreNode *node_walk(Store *s, const char *path, const char **ret_rest) {
        StoreNode *n = s->root;
        const char *p = path + 1;

        while (*p) {
                size_t l = strcspn(p, "/");
                StoreNode *c = node_child(s, n, p, l);

                if (!c)
                        break;
                n = c;
                p += l;
                if (*p == '/')
                        p++;
        }
        *ret_rest = p;
        return n;
}

static StoreNode *node_lookup(Store *s, const char *path) {
        const char *rest;
        StoreNode *n = node_walk(s, path, &rest);

        return *rest ? NULL : n;
}

/* Transaction clones remember the generation of every node at first access. */
static int note_access(Store *s, const char *path, const StoreNode *n) {
        TxAccess *a;

        if (!s->tracking)
                return 0;
        for (size_t i = 0; i < s->n_accesses; i++)
                if (strcmp(s->accesses[i].path, path) == 0)
                        return 0;
        if (s->n_accesses >= STORE_TX_NODES_MAX)
                return ENOSPC;
        if (s->n_accesses % 64 == 0) {
                a = realloc(s->accesses, (s->n_accesses + 64) * sizeof(*a));
                if (!a)
                        return ENOMEM;
                s->accesses = a;
        }
        a = &s->accesses[s->n_accesses];
        a->path = strdup(path);
        if (!a->path)
                return ENOMEM;
        a->gen = n ? n->gen : 0;
        s->n_accesses++;
        return 0;
}

/* The existing node at path, its access noted for the open transaction: 0, EINVAL, ENOENT, ... */
static int node_read(Store *s, const char *path, StoreNode **ret) {
        StoreNode *n;
        int r;

        if (!store_path_valid(path))
                return EINVAL;
        n = node_lookup(s, path);
        if (s->oom)
                return ENOMEM;
        r = note_access(s, path, n);
        if (r)
                return r;
        if (!n)
                return ENOENT;
        *ret = n;
        return 0;
}

/* Absolute path of n into a fresh string. */
static char *node_path(const StoreNode *n) {
        size_t len = 0;
        char *buf, *p;

        if (!n->parent)
                return strdup("/");
        for (const StoreNode *i = n; i->parent; i = i->parent)
                len += 1 + strlen(i->name);
        buf = malloc(len + 1);
        if (!buf)
                return NULL;
        p = buf + len;
        *p = '\0';
        for (const StoreNode *i = n; i->parent; i = i->parent) {
                size_t l = strlen(i->name);

                p -= l;
                memcpy(p, i->name, l);
                *--p = '/';
        }
        return buf;
}

static int note_node(Store *s, const StoreNode *n) {
        char *path;
        int r;

        if (!s->tracking)
                return 0;
        path = node_path(n);
        if (!path)
                return ENOMEM;
        r = note_access(s, path, n);
        free(path);
        return r;
}

static int record_op(Store *s, TxOpType type, const char *path, const void *data, size_t len,
                     const StorePerm *perms, size_t n_perms) {
        TxOp *op;

        if (!s->tracking)
                return 0;
        if (s->n_ops == s->cap_ops) {
                size_t cap = s->cap_ops ? s->cap_ops * 2 : 16;

                op = realloc(s->ops, cap * sizeof(*op));
                if (!op)
                        return ENOMEM;
                s->ops = op;
                s->cap_ops = cap;
        }
        op = &s->ops[s->n_ops];
        *op = (TxOp) { .type = type, .len = len, .n_perms = n_perms };
        op->path = strdup(path);
        if (len > 0) {
                op->data = malloc(len);
                if (op->data)
                        memcpy(op->data, data, len);
        }
        if (n_perms > 0) {
                op->perms = malloc(n_perms * sizeof(*perms));
                if (op->perms)
                        memcpy(op->perms, perms, n_perms * sizeof(*perms));
        }
        if (!op->path || (len > 0 && !op->data) || (n_perms > 0 && !op->perms)) {
                free(op->path);
                free(op->data);
                free(op->perms);
                return ENOMEM;
        }
        s->n_ops++;
        return 0;
}

/* Drops the last recorded operation when applying it to the clone failed. */
static void unrecord_op(Store *s) {
        TxOp *op;

        if (!s->tracking || s->n_ops == 0)
                return;
        op = &s->ops[--s->n_ops];
        free(op->path);
        free(op->data);
        free(op->perms);
}

static int node_add_child(StoreNode *parent, StoreNode *child) {
        if (parent->n_children == parent->cap_children) {
                size_t cap = parent->cap_children ? parent->cap_children * 2 : 4;
                StoreNode **c = realloc(parent->children, cap * sizeof(*c));

                if (!c)
                        return ENOMEM;
                parent->children = c;
                parent->cap_children = cap;
        }
        parent->children[parent->n_children++] = child;
        child->parent = parent;
        return 0;
}

static void node_remove_child(StoreNode *parent, StoreNode *child) {
        for (size_t i = 0; i < parent->n_children; i++)
                if (parent->children[i] == child) {
                        memmove(&parent->children[i], &parent->children[i + 1],
                                (parent->n_children - i - 1) * sizeof(*parent->children));
                        parent->n_children--;
                        return;
                }
}

static size_t count_components(const char *p) {
        size_t n = 0;

        while (*p) {
                p += strcspn(p, "/");
                n++;
                if (*p == '/')
                        p++;
        }
        return n;
}

/* Node at path, created with its missing parents when absent; *ret_created tells which. */
static int node_get_or_create(Store *s, const char *path, StoreNode **ret, bool *ret_created) {
        const char *rest;
        StoreNode *n = node_walk(s, path, &rest), *top = NULL, *cur;
        size_t missing;
        int r;

        if (s->oom)
                return ENOMEM;
        r = note_access(s, path, *rest ? NULL : n);
        if (r)
                return r;
        if (!*rest) {
                *ret = n;
                *ret_created = false;
                return 0;
        }

        /* The existing ancestor gets a new child: that is a change of it. */
        r = note_node(s, n);
        if (r)
                return r;
        /* The implicit parents are absent now: a transaction must see them absent at commit. */
        if (s->tracking) {
                char *prefix = strdup(path);

                if (!prefix)
                        return ENOMEM;
                for (char *p = prefix + (rest - path); r == 0 && (p = strchr(p, '/')); p++) {
                        *p = '\0';
                        r = note_access(s, prefix, NULL);
                        *p = '/';
                }
                free(prefix);
                if (r)
                        return r;
        }
        missing = count_components(rest);
        if (s->n_nodes + missing > s->max_nodes)
                return ENOSPC;

        /* Build the missing chain detached, then link it in one step. */
        cur = NULL;
        while (*rest) {
                size_t l = strcspn(rest, "/");
                StoreNode *c = node_alloc(rest, l, n->perms, n->n_perms);

                if (!c || (cur && node_add_child(cur, c))) {
                        node_free(c);
                        node_free(top);
                        return ENOMEM;
                }
                if (!top)
                        top = c;
                cur = c;
                rest += l;
                if (*rest == '/')
                        rest++;
        }
        if (node_add_child(n, top)) {
                node_free(top);
                return ENOMEM;
        }
        s->n_nodes += missing;
        n->gen = ++s->generation;
        for (StoreNode *i = cur; i != n; i = i->parent)
                i->gen = ++s->generation;
        *ret = cur;
        *ret_created = true;
        return 0;
}

int store_read(Store *s, const char *path, const char **ret_data, size_t *ret_len) {
        StoreNode *n;
        int r;

        r = node_read(s, path, &n);
        if (r)
                return r;
        *ret_data = n->data ? n->data : "";
        *ret_len = n->len;
        return 0;
}

int store_write(Store *s, const char *path, const void *data, size_t len,
                StoreChangeFn fn, void *userdata) {
        StoreNode *n;
        bool created;
        char *copy = NULL;
        int r;

        if (!store_path_valid(path))
                return EINVAL;
        if (len > 0) {
                copy = malloc(len);
                if (!copy)
                        return ENOMEM;
                memcpy(copy, data, len);
        }
        r = record_op(s, TX_OP_WRITE, path, data, len, NULL, 0);
        if (r == 0) {
                r = node_get_or_create(s, path, &n, &created);
                if (r)
                        unrecord_op(s);
        }
        if (r) {
                free(copy);
                return r;
        }
        free(n->data);
        n->data = copy;
        n->len = len;
        n->gen = ++s->generation;
        if (fn)
                fn(userdata, path, false);
        return 0;
}

int store_mkdir(Store *s, const char *path, StoreChangeFn fn, void *userdata) {
        StoreNode *n;
        bool created;
        int r;

        if (!store_path_valid(path))
                return EINVAL;
        r = record_op(s, TX_OP_MKDIR, path, NULL, 0, NULL, 0);
        if (r)
                return r;
        r = node_get_or_create(s, path, &n, &created);
        if (r) {
                unrecord_op(s);
                return r;
        }
        if (created && fn)
                fn(userdata, path, false);
        return 0;
}

/* Bottom-up removal of the subtree at n whose path is buf[0..len). */
static int rm_subtree(Store *s, StoreNode *n, char **buf, size_t *cap, size_t len, bool is_root,
                      StoreChangeFn fn, void *userdata) {
        int r;

        r = note_access(s, *buf, n);
        if (r)
                return r;
        node_load(s, n);
        if (s->oom)
                return ENOMEM;
        for (size_t i = 0; i < n->n_children; i++) {
                StoreNode *c = n->children[i];
                size_t need = len + 1 + strlen(c->name) + 1;

                if (need > *cap) {
                        char *nb = realloc(*buf, need);

                        if (!nb)
                                return ENOMEM;
                        *buf = nb;
                        *cap = need;
                }
                (*buf)[len] = '/';
                strcpy(*buf + len + 1, c->name);
                r = rm_subtree(s, c, buf, cap, need - 1, false, fn, userdata);
                if (r)
                        return r;
                (*buf)[len] = '\0';
        }
        if (fn)
                fn(userdata, *buf, !is_root);
        return 0;
}

static size_t subtree_size(const StoreNode *n) {
        size_t k = 1;

        for (size_t i = 0; i < n->n_children; i++)
                k += subtree_size(n->children[i]);
        return k;
}

int store_rm(Store *s, const char *path, StoreChangeFn fn, void *userdata) {
        StoreNode *n, *parent;
        const char *rest;
        char *buf;
        size_t cap;
        int r;

        if (!store_path_valid(path))
                return EINVAL;
        n = node_walk(s, path, &rest);
        if (s->oom)
                return ENOMEM;
        if (*rest) {
                /* Missing node: fine if its parent exists. */
                r = note_access(s, path, NULL);
                if (r)
                        return r;
                return strchr(rest, '/') ? ENOENT : 0;
        }
        if (!n->parent)
                return EINVAL;
        r = record_op(s, TX_OP_RM, path, NULL, 0, NULL, 0);
        if (r)
                return r;
        cap = strlen(path) + 1;
        buf = strdup(path);
        r = buf ? note_node(s, n->parent) : ENOMEM;
        /* Fire (and, in a clone, record) before detaching: nothing can fail after this walk. */
        if (r == 0)
                r = rm_subtree(s, n, &buf, &cap, cap - 1, true, fn, userdata);
        free(buf);
        if (r) {
                unrecord_op(s);
                return r;
        }

        parent = n->parent;
        node_remove_child(parent, n);
        parent->gen = ++s->generation;
        s->n_nodes -= subtree_size(n);
        node_free(n);
        return 0;
}

int store_directory(Store *s, const char *path, char **ret_buf, size_t *ret_len, uint64_t *ret_gen) {
        StoreNode *n;
        size_t len = 0;
        char *buf, *p;
        int r;

        r = node_read(s, path, &n);
        if (r)
                return r;
        node_load(s, n);
        if (s->oom)
                return ENOMEM;
        for (size_t i = 0; i < n->n_children; i++)
                len += strlen(n->children[i]->name) + 1;
        buf = malloc(len + 1);
        if (!buf)
                return ENOMEM;
        p = buf;
        for (size_t i = 0; i < n->n_children; i++) {
                size_t l = strlen(n->children[i]->name) + 1;

                memcpy(p, n->children[i]->name, l);
                p += l;
        }
        *p = '\0';
        *ret_buf = buf;
        *ret_len = len;
        if (ret_gen)
                *ret_gen = n->gen;
        return 0;
}

int store_get_perms(Store *s, const char *path, StorePerm **ret, size_t *ret_n) {
        StoreNode *n;
        StorePerm *p;
        int r;

        r = node_read(s, path, &n);
        if (r)
                return r;
        p = malloc(n->n_perms * sizeof(*p));
        if (!p)
                return ENOMEM;
        memcpy(p, n->perms, n->n_perms * sizeof(*p));
        *ret = p;
        *ret_n = n->n_perms;
        return 0;
}

int store_set_perms(Store *s, const char *path, const StorePerm *perms, size_t n_perms,
                    StoreChangeFn fn, void *userdata) {
        StoreNode *n;
        StorePerm *p;
        int r;

        if (!store_path_valid(path) || n_perms == 0)
                return EINVAL;
        n = node_lookup(s, path);
        if (s->oom)
                return ENOMEM;
        r = note_access(s, path, n);
        if (r)
                return r;
        if (!n)
                return ENOENT;
        p = malloc(n_perms * sizeof(*p));
        if (!p)
                return ENOMEM;
        memcpy(p, perms, n_perms * sizeof(*p));
        r = record_op(s, TX_OP_SET_PERMS, path, NULL, 0, perms, n_perms);
        if (r) {
                free(p);
                return r;
        }
        free(n->perms);
        n->perms = p;
        n->n_perms = n_perms;
        n->gen = ++s->generation;
        if (fn)
                fn(userdata, path, false);
        return 0;
}

int store_perm_parse(const char *s, StorePerm *ret) {
        StorePerm p;
        char *end;
        long id;

        switch (s[0]) {
        case 'r':
                p.access = STORE_PERM_READ;
                break;
        case 'w':
                p.access = STORE_PERM_WRITE;
                break;
        case 'b':
                p.access = STORE_PERM_BOTH;
                break;
        case 'n':
                p.access = STORE_PERM_NONE;
                break;
        default:
                return EINVAL;
        }
        if (!s[1])
                return EINVAL;
        errno = 0;
        id = strtol(s + 1, &end, 0);
        if (*end || errno || id < 0 || id > UINT16_MAX)
                return EINVAL;
        p.domid = (uint32_t) id;
        *ret = p;
        return 0;
}

void store_perm_format(const StorePerm *p, char *buf, size_t size) {
        static const char letters[] = { 'n', 'r', 'w', 'b' };

        if (size < 2)
                return;
        buf[0] = letters[p->access & 3];
        snprintf(buf + 1, size - 1, "%u", p->domid);
}

int store_tx_begin(Store *live, Store **ret_tx) {
        Store *tx = calloc(1, sizeof(*tx));

        if (!tx)
                return ENOMEM;
        tx->root = node_stub(live->root);
        if (!tx->root) {
                free(tx);
                return ENOMEM;
        }
        tx->live = live;
        tx->n_nodes = tx->base_nodes = live->n_nodes;
        tx->max_nodes = live->max_nodes;
        tx->generation = live->generation;
        tx->tracking = true;
        *ret_tx = tx;
        return 0;
}

/* The changes a commit makes, one per node, fired after the replay. */
typedef struct TxChange {
        char *path;
        bool exact;
        size_t order;           /* first access of the node in the transaction */
        size_t seq;
} TxChange;

typedef struct TxChanges {
        const Store *tx;
        TxChange *v;
        size_t n, cap;
        StoreChangeFn fn;       /* fired at once for a change that cannot be kept */
        void *userdata;
} TxChanges;

static size_t access_order(const Store *tx, const char *path) {
        for (size_t i = 0; i < tx->n_accesses; i++)
                if (strcmp(tx->accesses[i].path, path) == 0)
                        return i;
        return tx->n_accesses;
}

/* A node changed twice fires once; a non-exact event replaces an exact one (xenstored). */
static void tx_change_note(void *userdata, const char *path, bool exact) {
        TxChanges *c = userdata;
        TxChange *n;

        for (size_t i = 0; i < c->n; i++)
                if (strcmp(c->v[i].path, path) == 0) {
                        c->v[i].exact = c->v[i].exact && exact;
                        return;
                }
        if (c->n == c->cap) {
                size_t cap = c->cap ? c->cap * 2 : 32;

                n = realloc(c->v, cap * sizeof(*n));
                if (!n) {
                        c->fn(c->userdata, path, exact);
                        return;
                }
                c->v = n;
                c->cap = cap;
        }
        n = &c->v[c->n];
        n->path = strdup(path);
        if (!n->path) {
                c->fn(c->userdata, path, exact);
                return;
        }
        n->exact = exact;
        n->order = access_order(c->tx, path);
        n->seq = c->n++;
}

static int tx_change_cmp(const void *a, const void *b) {
        const TxChange *x = a, *y = b;

        if (x->order != y->order)
                return x->order < y->order ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int store_tx_commit(Store *tx, Store *live, StoreChangeFn fn, void *userdata) {
        TxChanges changes = { .tx = tx, .fn = fn, .userdata = userdata };
        int r = 0;

        if (tx->oom)
                return ENOMEM;
        for (size_t i = 0; i < tx->n_accesses; i++) {
                const StoreNode *n = node_lookup(live, tx->accesses[i].path);

                if ((n ? n->gen : 0) != tx->accesses[i].gen)
                        return EAGAIN;
        }
        if (tx->n_nodes > tx->base_nodes &&
            live->n_nodes + (tx->n_nodes - tx->base_nodes) > live->max_nodes)
                return ENOSPC;

        /* Same starting state as the clone for every node involved: the replay cannot diverge. */
        for (size_t i = 0; i < tx->n_ops && r == 0; i++) {
                const TxOp *op = &tx->ops[i];
                StoreChangeFn note = fn ? tx_change_note : NULL;

                switch (op->type) {
                case TX_OP_WRITE:
                        r = store_write(live, op->path, op->data, op->len, note, &changes);
                        break;
                case TX_OP_MKDIR:
                        r = store_mkdir(live, op->path, note, &changes);
                        break;
                case TX_OP_RM:
                        r = store_rm(live, op->path, note, &changes);
                        break;
                case TX_OP_SET_PERMS:
                        r = store_set_perms(live, op->path, op->perms, op->n_perms, note,
                                            &changes);
                        break;
                }
        }
        /* As xenstored at commit: one event per changed node, in the order of first access. */
        if (changes.n)
                qsort(changes.v, changes.n, sizeof(*changes.v), tx_change_cmp);
        for (size_t i = 0; i < changes.n; i++) {
                fn(userdata, changes.v[i].path, changes.v[i].exact);
                free(changes.v[i].path);
        }
        free(changes.v);
        return r;
}
