/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Configuration: the global file (default SYSCONFDIR/xen-ioreqd/
 * xen-ioreqd.conf) and one file per guest, guests_dir/NAME.conf.
 *
 * Parsing is table driven ({section, key, parser, offset}) into structs
 * preloaded with defaults.  Every problem is an error with a message
 * "FILE:LINE: text" (or "FILE: text" when no line applies) written to the
 * caller's buffer: unknown sections and keys, duplicate keys, bad or out of
 * range values, unknown users and groups.  After parsing, config_validate()
 * checks rules across files (duplicate guest names or socket paths,
 * max_guests).  See xen-ioreqd.conf(5) for every key, range and default.
 *
 * A Config is immutable once loaded; on SIGHUP the daemon loads a new one and
 * swaps only on success, using guest_config_equal() to find the guests that
 * changed.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define CONFIG_NAME_MAX         64u     /* guest name length */
#define CONFIG_ALLOW_MAX        64u     /* entries in allow_users / allow_groups */
#define CONFIG_FILE_MAX         (64u * 1024u)   /* bytes per config file */
#ifndef SYSCONFDIR
#define SYSCONFDIR              "/etc"
#endif
#ifndef RUNSTATEDIR
#define RUNSTATEDIR             "/run"
#endif
#define CONFIG_DEFAULT_DIR      SYSCONFDIR "/xen-ioreqd"
#define CONFIG_DEFAULT_PATH     CONFIG_DEFAULT_DIR "/xen-ioreqd.conf"
#define CONFIG_DEFAULT_GUESTS_DIR CONFIG_DEFAULT_DIR "/guests.d"
#define CONFIG_DEFAULT_SOCKET_DIR RUNSTATEDIR "/xen-ioreqd"
/* socket_dir/control unless set; no ".sock": never a guest's default socket */
#define CONFIG_DEFAULT_CONTROL_SOCKET CONFIG_DEFAULT_SOCKET_DIR "/control"
#define CONFIG_DEFAULT_WORKER_USER "xen-ioreqd"
/* worker_uid_base: workers of domain D run as base + D; domids are below 0x7ff0 */
#define CONFIG_UID_BASE_MIN     1000u
#define CONFIG_UID_BASE_MAX     (UINT32_C(0xfffffffe) - 0x7ff0u)

/* Limits of one guest; [limits] gives the defaults, [guest] may override. */
typedef struct GuestLimits {
        uint32_t max_registrations;             /* per guest, 1..65536, 1024 */
        uint32_t max_client_registrations;      /* per connection, 1..65536, 256 */
        uint32_t max_connections;               /* per guest, 1..1024, 64 */
        uint32_t max_connections_per_uid;       /* per guest and uid, 1..1024, 16 */
        uint32_t busy_poll_us;                  /* 0..1000000, 0 = off */
        uint32_t max_irqfds;                    /* per guest, 0..64, 16 */
        uint32_t max_claims;                    /* per guest, 0..32, 8 */
        uint32_t claim_deadline_ms;             /* a forwarded access's answer, 1..60000, 1000 */
} GuestLimits;

typedef struct GuestConfig {
        char name[CONFIG_NAME_MAX + 1];         /* as xenstore knows it */
        char *socket;                           /* absolute, fits sun_path */
        uid_t socket_uid;
        gid_t socket_gid;
        mode_t socket_mode;                     /* 0..0777 */
        uid_t *allow_uids;                      /* sorted, no duplicates */
        size_t n_allow_uids;
        gid_t *allow_gids;                      /* sorted, no duplicates */
        size_t n_allow_gids;
        GuestLimits limits;
        /* where it came from, for messages */
        char *file;                             /* path of NAME.conf */
        unsigned name_line;                     /* 0 if name defaulted */
        unsigned socket_line;                   /* 0 if socket defaulted */
} GuestConfig;

typedef struct Config {
        char *path;                             /* the global file */
        char *guests_dir;
        char *socket_dir;
        char *control_socket;                   /* xen-ioreqctl's, root only */
        uint32_t control_max_connections;       /* 1..1024, 16 */
        int log_level;                          /* LOG_ERR..LOG_DEBUG (syslog.h) */
        uint32_t max_guests;                    /* 1..4096, 1024 */
        uid_t worker_uid;                       /* worker_user, never 0 */
        gid_t worker_gid;                       /* worker_group, else worker_user's group */
        gid_t worker_user_gid;
        bool worker_user_set;
        bool worker_group_set;
        uint32_t worker_uid_base;               /* 0: off; else CONFIG_UID_BASE_MIN..MAX */
        GuestLimits limits;                     /* defaults for every guest */
        GuestConfig **guests;                   /* sorted by file name */
        size_t n_guests;
} Config;

/*
 * Load the global file at path (NULL: CONFIG_DEFAULT_PATH, which may then be
 * missing: defaults apply) and every guests_dir/NAME.conf (guests_dir_override
 * if not NULL, else the guests_dir key).  Only regular files whose names end
 * in ".conf" and do not start with '.' are read, in sorted order.  Then
 * config_validate().  Returns 0 or a negative errno with the reason in err
 * (always NUL-terminated when errlen > 0); *ret is set only on success.
 */
int config_load(const char *path, const char *guests_dir_override, Config **ret, char *err, size_t errlen);

Config *config_free(Config *c);

/*
 * Parse one global file from an open stream (filename only for messages) into
 * a new Config with no guests.
 */
int config_parse_global(FILE *f, const char *filename, Config **ret, char *err, size_t errlen);

/*
 * Parse one guest file from an open stream.  default_name is the file name
 * without ".conf"; defaults come from global (its [limits] and socket_dir).
 */
int config_parse_guest(FILE *f, const char *filename, const char *default_name, const Config *global,
                       GuestConfig **ret, char *err, size_t errlen);

GuestConfig *guest_config_free(GuestConfig *g);

/* Add a parsed guest to c (takes ownership on success). */
int config_add_guest(Config *c, GuestConfig *g);

/* Cross-file rules: unique names, unique sockets, at most max_guests. */
int config_validate(const Config *c, char *err, size_t errlen);

/* The guest with this name, or NULL. */
const GuestConfig *config_find_guest(const Config *c, const char *name);

/* Same configuration (every field but file and line numbers)? */
bool guest_config_equal(const GuestConfig *a, const GuestConfig *b);

/* May a peer with these SO_PEERCRED credentials register? (uid or primary gid listed) */
bool guest_config_allows(const GuestConfig *g, uid_t uid, gid_t gid);

/*
 * Is this a valid guest name: 1..64 printable ASCII characters other than
 * space and '/', not starting with '.', not only digits.
 */
bool config_guest_name_valid(const char *name);

/*
 * The user and group workers run as: worker_user/worker_group, else the
 * default user, which must then exist (-ENOENT, with the reason in err).
 * With worker_uid_base each worker runs as base + its domid instead.
 */
int config_worker_ids(const Config *c, uid_t *ret_uid, gid_t *ret_gid, char *err, size_t errlen);

/* A worker user: a name (uid, primary gid) or a number (uid = gid).  -ENOENT, -EPERM (root), -ENOMEM. */
int config_resolve_worker_user(const char *name, uid_t *ret_uid, gid_t *ret_gid);

/* "err", "warning", "notice", "info", "debug" ↔ LOG_*; -EINVAL / NULL if unknown. */
int config_log_level_from_string(const char *s);
const char *config_log_level_to_string(int level);
