/* SPDX-License-Identifier: LGPL-2.1-only */
/*
 * xensim-xenstored: the node tree.
 *
 * A Store is a tree of nodes, each with a byte value, an ordered child list,
 * a permission list (first entry = owner and default access) and a
 * generation number that changes whenever the node itself changes (value,
 * permissions or child list).  A transaction works on its own copy of the
 * nodes it reaches (copied from the live tree when first reached, as
 * xenstored reads an untouched node from its database), which records every
 * node it looked at and every modification it made; on commit the recorded
 * generations are compared with the live tree (EAGAIN on a conflict, as
 * xenstored does), the modifications are replayed on the live tree, and
 * each changed node fires its watches once.
 *
 * Functions return 0 or a positive xenstore errno (ENOENT, EINVAL, ...):
 * these values travel straight into XS_ERROR replies.
 */
#ifndef XENSIM_XENSTORED_STORE_H
#define XENSIM_XENSTORED_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Access bits of one permission entry, as in xenstore's "r1", "w0", "b2", "n0". */
enum {
        STORE_PERM_NONE = 0,
        STORE_PERM_READ = 1,
        STORE_PERM_WRITE = 2,
        STORE_PERM_BOTH = 3,
};

/* xenstored's limit on permission entries per node. */
#define STORE_PERMS_MAX 5
/* xenstored's limit on nodes touched by one transaction (quota_trans_nodes). */
#define STORE_TX_NODES_MAX 1024

typedef struct StorePerm {
        uint32_t domid;
        uint8_t access;
} StorePerm;

typedef struct Store Store;

/*
 * Called for each change that must fire watches: path is the absolute path
 * of the changed node; exact means only watches registered on exactly this
 * path fire (nodes below the root of a recursive RM), otherwise watches on
 * the path and on all its ancestors fire.
 */
typedef void (*StoreChangeFn)(void *userdata, const char *path, bool exact);

int store_new(Store **ret, size_t max_nodes);
Store *store_free(Store *s);

/* Validity of an absolute node path, by xenstored's rules. */
bool store_path_valid(const char *path);

size_t store_node_count(const Store *s);

/* Value of a node; *ret_data points into the store until the next change. */
int store_read(Store *s, const char *path, const char **ret_data, size_t *ret_len);
/* Creates missing parents with the parent's permissions. */
int store_write(Store *s, const char *path, const void *data, size_t len,
                StoreChangeFn fn, void *userdata);
/* Existing node: success without an event. */
int store_mkdir(Store *s, const char *path, StoreChangeFn fn, void *userdata);
/* Recursive. A missing node whose parent exists is success. "/" is EINVAL. */
int store_rm(Store *s, const char *path, StoreChangeFn fn, void *userdata);
/* Child names, each NUL-terminated, concatenated; caller frees *ret_buf. */
int store_directory(Store *s, const char *path, char **ret_buf, size_t *ret_len,
                    uint64_t *ret_gen);
/* Copy of the permission list; caller frees *ret. */
int store_get_perms(Store *s, const char *path, StorePerm **ret, size_t *ret_n);
int store_set_perms(Store *s, const char *path, const StorePerm *perms, size_t n,
                    StoreChangeFn fn, void *userdata);

/*
 * Parse "r0"/"w1"/"b2"/"n3" into *ret; format back into buf (at least 16
 * bytes).  Parsing follows libxenstore's xs_strings_to_perms (strtol base 0).
 */
int store_perm_parse(const char *s, StorePerm *ret);
void store_perm_format(const StorePerm *p, char *buf, size_t size);

/* Transactions: a lazy copy that records accesses and modifications. */
int store_tx_begin(Store *live, Store **ret_tx);
/*
 * Check the copy against the live tree and replay its modifications there,
 * then fire fn once per changed node, in the order the transaction first
 * reached them (a non-exact change of a node wins over an exact one), as
 * xenstored does at commit.  EAGAIN on a conflict, ENOSPC when the node
 * limit would be exceeded; the live tree is untouched then.  The copy is
 * not freed.
 */
int store_tx_commit(Store *tx, Store *live, StoreChangeFn fn, void *userdata);

#endif
