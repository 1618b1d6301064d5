/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Configuration files, parsed with inih through a table of
 * {section, key, parser, offset, min, max} into structs preloaded with
 * defaults.  inih does not give handlers the line number, so the stream
 * reader counts lines itself; it also catches what inih would accept
 * silently: over-long lines, NUL bytes, section headers without keys,
 * indented continuation lines.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include "config.h"
#include "stats.h"

#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *) 0)->sun_path) - 1)
#define DIR_ENTRIES_MAX 4096u   /* *.conf files considered in guests_dir */
#define MSG_MAX         256u

typedef struct ParseCtx ParseCtx;
typedef struct ConfigKey ConfigKey;
typedef int (*ConfigParser)(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value);

struct ConfigKey {
        const char *section;
        const char *key;
        ConfigParser parse;
        size_t offset;
        size_t offset2;         /* lists: offset of the count */
        unsigned long min;
        unsigned long max;
};

struct ParseCtx {
        FILE *f;
        const char *filename;
        const ConfigKey *table;
        size_t n_table;
        const char *const *sections;
        char *base;             /* the struct being filled */
        uint64_t seen;          /* keys already set, by table index */

        unsigned line;          /* line the reader returned last */
        size_t bytes;
        bool indented;          /* that line starts with blanks */
        bool too_big;

        unsigned err_line;      /* first problem, 0 if none */
        int err;
        char msg[MSG_MAX];

        /* guest files */
        unsigned name_line;
        unsigned socket_line;
};

static const GuestLimits default_limits = {
        .max_registrations = 1024,
        .max_client_registrations = 256,
        .max_connections = 64,
        .max_connections_per_uid = 16,
        .busy_poll_us = 0,
        .max_irqfds = 16,
        .max_claims = 8,
        .claim_deadline_ms = 1000,
};

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
        va_list ap;

        if (!err || errlen == 0)
                return;
        va_start(ap, fmt);
        (void) vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
}

/* Record the first problem of a file (by line; earlier lines win). */
static int fail_at(ParseCtx *ctx, unsigned line, int err, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail_at(ParseCtx *ctx, unsigned line, int err, const char *fmt, ...) {
        va_list ap;

        if (ctx->err_line != 0 && ctx->err_line <= line)
                return err;
        ctx->err_line = line;
        ctx->err = err;
        va_start(ap, fmt);
        (void) vsnprintf(ctx->msg, sizeof(ctx->msg), fmt, ap);
        va_end(ap);
        return err;
}

/* Quote an untrusted string for a message: printable ASCII, else \xNN, cut at 48. */
static const char *quote(char *buf, size_t size, const char *s) {
        size_t o = 0;

        for (size_t i = 0; s[i] && o + 8 < size; i++) {
                unsigned char c = (unsigned char) s[i];
                if (i >= 48) {
                        memcpy(buf + o, "...", 3);
                        o += 3;
                        break;
                }
                if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
                        buf[o++] = (char) c;
                else
                        o += (size_t) snprintf(buf + o, size - o, "\\x%02x", c);
        }
        buf[o] = '\0';
        return buf;
}

/* ---- value parsers ---- */

static int parse_ulong(const char *s, int base, unsigned long *ret) {
        char *end;
        unsigned long v;

        if (!*s)
                return -ENODATA;
        for (const char *p = s; *p; p++)
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;
        errno = 0;
        v = strtoul(s, &end, base);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || *end != '\0' || end == s)
                return -EINVAL;
        *ret = v;
        return 0;
}

static int parse_u32(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value) {
        unsigned long v;
        char q[MSG_MAX];
        int r = parse_ulong(value, 10, &v);

        if (r == -ENODATA)
                return fail_at(ctx, ctx->line, -EINVAL, "%s: empty value", k->key);
        if (r == -EINVAL)
                return fail_at(ctx, ctx->line, -EINVAL, "%s: \"%s\" is not a decimal number", k->key,
                               quote(q, sizeof(q), value));
        if (r == -ERANGE || v < k->min || v > k->max)
                return fail_at(ctx, ctx->line, -ERANGE, "%s: \"%s\" is out of range %lu..%lu", k->key,
                               quote(q, sizeof(q), value), k->min, k->max);
        *(uint32_t *) (void *) (base + k->offset) = (uint32_t) v;
        return 0;
}

static int check_path(ParseCtx *ctx, const ConfigKey *k, const char *value, size_t max) {
        char q[MSG_MAX];

        if (value[0] != '/')
                return fail_at(ctx, ctx->line, -EINVAL, "%s: \"%s\" is not an absolute path", k->key,
                               quote(q, sizeof(q), value));
        for (const char *p = value; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return fail_at(ctx, ctx->line, -EINVAL, "%s: \"%s\" contains control characters",
                                       k->key, quote(q, sizeof(q), value));
        if (strlen(value) > max)
                return fail_at(ctx, ctx->line, -ENAMETOOLONG, "%s: \"%s\" is longer than %zu bytes", k->key,
                               quote(q, sizeof(q), value), max);
        return 0;
}

static int set_string(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value) {
        char **p = (char **) (void *) (base + k->offset);
        char *s = strdup(value);
        size_t n;

        if (!s)
                return fail_at(ctx, ctx->line, -ENOMEM, "%s: out of memory", k->key);
        /* "/run/x/" → "/run/x" */
        n = strlen(s);
        while (n > 1 && s[n - 1] == '/')
                s[--n] = '\0';
        free(*p);
        *p = s;
        return 0;
}

static int parse_path(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value) {
        int r = check_path(ctx, k, value, PATH_MAX - 1);
        return r < 0 ? r : set_string(ctx, k, base, value);
}

static int parse_socket(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value) {
        int r = check_path(ctx, k, value, SOCKET_PATH_MAX);

        if (r < 0)
                return r;
        if (value[strlen(value) - 1] == '/') {
                char q[MSG_MAX];
                return fail_at(ctx, ctx->line, -EINVAL, "%s: \"%s\" is a directory name", k->key,
                               quote(q, sizeof(q), value));
        }
        ctx->socket_line = ctx->line;
        return set_string(ctx, k, base, value);
}

static int parse_log_level(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value) {
        char q[MSG_MAX];
        int l = config_log_level_from_string(value);

        if (l < 0)
                return fail_at(ctx, ctx->line, -EINVAL,
                               "%s: unknown level \"%s\" (err, warning, notice, info, debug)", k->key,
                               quote(q, sizeof(q), value));
        *(int *) (void *) (base + k->offset) = l;
        return 0;
}

static int parse_name(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value) {
        char q[MSG_MAX];

        if (!config_guest_name_valid(value))
                return fail_at(ctx, ctx->line, -EINVAL, "%s: \"%s\" is not a valid guest name", k->key,
                               quote(q, sizeof(q), value));
        strcpy(base + k->offset, value);        /* length checked */
        ctx->name_line = ctx->line;
        return 0;
}

static int parse_mode(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value) {
        unsigned long v;
        char q[MSG_MAX];
        int r = parse_ulong(value, 8, &v);

        if (r == 0 && strspn(value, "01234567") != strlen(value))
                r = -EINVAL;
        if (r < 0 || v > 0777)
                return fail_at(ctx, ctx->line, -EINVAL, "%s: \"%s\" is not an octal mode 0..0777", k->key,
                               quote(q, sizeof(q), value));
        *(mode_t *) (void *) (base + k->offset) = (mode_t) v;
        return 0;
}

/* A numeric id: decimal, 0..0xfffffffe ((uid_t) -1 means "no change" to chown). */
static int parse_id(const char *s, uint32_t *ret) {
        unsigned long v;
        int r = parse_ulong(s, 10, &v);

        if (r < 0)
                return r;
        if (v >= UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

static int lookup_id(const char *name, bool group, uint32_t *ret) {
        long sz = sysconf(group ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
        size_t size = sz > 0 ? (size_t) sz : 4096;
        int r;

        if (strspn(name, "0123456789") == strlen(name))
                return parse_id(name, ret);     /* numeric: no lookup */

        for (;;) {
                char *buf = malloc(size);
                if (!buf)
                        return -ENOMEM;
                if (group) {
                        struct group gr, *res = NULL;
                        r = getgrnam_r(name, &gr, buf, size, &res);
                        if (r == 0 && res)
                                *ret = (uint32_t) res->gr_gid;
                        else if (r == 0)
                                r = ENOENT;
                } else {
                        struct passwd pw, *res = NULL;
                        r = getpwnam_r(name, &pw, buf, size, &res);
                        if (r == 0 && res)
                                *ret = (uint32_t) res->pw_uid;
                        else if (r == 0)
                                r = ENOENT;
                }
                free(buf);
                if (r != ERANGE || size >= (1u << 20))
                        return -r;
                size *= 2;
        }
}

static int parse_owner(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value, bool group) {
        uint32_t id;
        char q[MSG_MAX];
        int r;

        if (!*value)
                return fail_at(ctx, ctx->line, -EINVAL, "%s: empty value", k->key);
        r = lookup_id(value, group, &id);
        if (r == -ENOMEM)
                return fail_at(ctx, ctx->line, r, "%s: out of memory", k->key);
        if (r < 0)
                return fail_at(ctx, ctx->line, -ENOENT, "%s: unknown %s \"%s\"", k->key, group ? "group" : "user",
                               quote(q, sizeof(q), value));
        if (group)
                *(gid_t *) (void *) (base + k->offset) = (gid_t) id;
        else
                *(uid_t *) (void *) (base + k->offset) = (uid_t) id;
        return 0;
}

static int parse_user(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value) {
        return parse_owner(ctx, k, base, value, false);
}

static int parse_group(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value) {
        return parse_owner(ctx, k, base, value, true);
}

/*
 * The workers' user: a name (its uid and primary group) or a number (that
 * uid, and the gid of the same number unless worker_group says otherwise);
 * never root.
 */
static int parse_worker_user(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value) {
        Config *c = (Config *) (void *) base;
        char q[MSG_MAX];
        int r;

        r = config_resolve_worker_user(value, &c->worker_uid, &c->worker_user_gid);
        if (r == -ENOMEM)
                return fail_at(ctx, ctx->line, r, "%s: out of memory", k->key);
        if (r == -EPERM)
                return fail_at(ctx, ctx->line, -EINVAL, "%s: \"%s\" is root: workers never run as root", k->key,
                               quote(q, sizeof(q), value));
        if (r < 0)
                return fail_at(ctx, ctx->line, -ENOENT, "%s: unknown user \"%s\"", k->key, quote(q, sizeof(q), value));
        c->worker_user_set = true;
        return 0;
}

static int parse_worker_group(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value) {
        Config *c = (Config *) (void *) base;
        char q[MSG_MAX];
        int r;

        r = parse_owner(ctx, k, base, value, true);
        if (r < 0)
                return r;
        if (c->worker_gid == 0)
                return fail_at(ctx, ctx->line, -EINVAL, "%s: \"%s\" is root's group: workers never run in it", k->key,
                               quote(q, sizeof(q), value));
        c->worker_group_set = true;
        return 0;
}

static int cmp_u32(const void *a, const void *b) {
        uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
        return x < y ? -1 : x > y;
}

/* Space-separated names or ids → sorted array without duplicates. */
static int parse_id_list(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value, bool group) {
        _Static_assert(sizeof(uid_t) == sizeof(uint32_t) && sizeof(gid_t) == sizeof(uint32_t), "id size");
        uint32_t ids[CONFIG_ALLOW_MAX], *arr = NULL;
        size_t n = 0, out = 0;
        char tok[256], q[MSG_MAX];
        const char *p = value;
        uint32_t **target = (uint32_t **) (void *) (base + k->offset);
        size_t *count = (size_t *) (void *) (base + k->offset2);

        for (;;) {
                size_t len;
                uint32_t id;
                int r;

                p += strspn(p, " \t");
                if (!*p)
                        break;
                len = strcspn(p, " \t");
                if (len >= sizeof(tok))
                        return fail_at(ctx, ctx->line, -EINVAL, "%s: name too long", k->key);
                memcpy(tok, p, len);
                tok[len] = '\0';
                p += len;
                if (n >= CONFIG_ALLOW_MAX)
                        return fail_at(ctx, ctx->line, -E2BIG, "%s: more than %u entries", k->key,
                                       CONFIG_ALLOW_MAX);
                r = lookup_id(tok, group, &id);
                if (r == -ENOMEM)
                        return fail_at(ctx, ctx->line, r, "%s: out of memory", k->key);
                if (r < 0)
                        return fail_at(ctx, ctx->line, -ENOENT, "%s: unknown %s \"%s\"", k->key,
                                       group ? "group" : "user", quote(q, sizeof(q), tok));
                ids[n++] = id;
        }
        if (n > 0) {
                qsort(ids, n, sizeof(ids[0]), cmp_u32);
                arr = malloc(n * sizeof(*arr));
                if (!arr)
                        return fail_at(ctx, ctx->line, -ENOMEM, "%s: out of memory", k->key);
                for (size_t i = 0; i < n; i++)
                        if (out == 0 || arr[out - 1] != ids[i])
                                arr[out++] = ids[i];
        }
        free(*target);
        *target = arr;
        *count = out;
        return 0;
}

static int parse_users(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value) {
        return parse_id_list(ctx, k, base, value, false);
}

static int parse_groups(ParseCtx *ctx, const ConfigKey *k, char *base, const char *value) {
        return parse_id_list(ctx, k, base, value, true);
}

/* ---- tables ---- */

#define LIMIT_KEYS(sec, type, field)                                                                      \
        { sec, "max_registrations", parse_u32, offsetof(type, field.max_registrations), 0, 1, 65536 },     \
        { sec, "max_client_registrations", parse_u32, offsetof(type, field.max_client_registrations), 0, 1, \
          65536 },                                                                                        \
        { sec, "max_connections", parse_u32, offsetof(type, field.max_connections), 0, 1, 1024 },         \
        { sec, "max_connections_per_uid", parse_u32, offsetof(type, field.max_connections_per_uid), 0, 1, \
          1024 },                                                                                         \
        { sec, "busy_poll_us", parse_u32, offsetof(type, field.busy_poll_us), 0, 0, 1000000 },        \
        { sec, "max_irqfds", parse_u32, offsetof(type, field.max_irqfds), 0, 0, STATS_MAX_IRQFDS },        \
        { sec, "max_claims", parse_u32, offsetof(type, field.max_claims), 0, 0, STATS_MAX_CLAIMS },        \
        { sec, "claim_deadline_ms", parse_u32, offsetof(type, field.claim_deadline_ms), 0, 1, 60000 }

static const ConfigKey global_keys[] = {
        { "daemon", "guests_dir", parse_path, offsetof(Config, guests_dir), 0, 0, 0 },
        { "daemon", "socket_dir", parse_path, offsetof(Config, socket_dir), 0, 0, 0 },
        { "daemon", "control_socket", parse_socket, offsetof(Config, control_socket), 0, 0, 0 },
        { "daemon", "control_max_connections", parse_u32, offsetof(Config, control_max_connections), 0, 1, 1024 },
        { "daemon", "log_level", parse_log_level, offsetof(Config, log_level), 0, 0, 0 },
        { "daemon", "max_guests", parse_u32, offsetof(Config, max_guests), 0, 1, 4096 },
        { "daemon", "worker_user", parse_worker_user, offsetof(Config, worker_uid), 0, 0, 0 },
        { "daemon", "worker_group", parse_worker_group, offsetof(Config, worker_gid), 0, 0, 0 },
        { "daemon", "worker_uid_base", parse_u32, offsetof(Config, worker_uid_base), 0, CONFIG_UID_BASE_MIN,
          CONFIG_UID_BASE_MAX },
        LIMIT_KEYS("limits", Config, limits),
};
static const char *const global_sections[] = { "daemon", "limits", NULL };

static const ConfigKey guest_keys[] = {
        { "guest", "name", parse_name, offsetof(GuestConfig, name), 0, 0, 0 },
        { "guest", "socket", parse_socket, offsetof(GuestConfig, socket), 0, 0, 0 },
        { "guest", "socket_user", parse_user, offsetof(GuestConfig, socket_uid), 0, 0, 0 },
        { "guest", "socket_group", parse_group, offsetof(GuestConfig, socket_gid), 0, 0, 0 },
        { "guest", "socket_mode", parse_mode, offsetof(GuestConfig, socket_mode), 0, 0, 0 },
        { "guest", "allow_users", parse_users, offsetof(GuestConfig, allow_uids),
          offsetof(GuestConfig, n_allow_uids), 0, 0 },
        { "guest", "allow_groups", parse_groups, offsetof(GuestConfig, allow_gids),
          offsetof(GuestConfig, n_allow_gids), 0, 0 },
        LIMIT_KEYS("guest", GuestConfig, limits),
};
static const char *const guest_sections[] = { "guest", NULL };

_Static_assert(sizeof(global_keys) / sizeof(global_keys[0]) <= 64, "seen bitmap");
_Static_assert(sizeof(guest_keys) / sizeof(guest_keys[0]) <= 64, "seen bitmap");

/* ---- inih glue ---- */

static bool section_known(const ParseCtx *ctx, const char *s, size_t len) {
        for (const char *const *p = ctx->sections; *p; p++)
                if (strlen(*p) == len && strncmp(*p, s, len) == 0)
                        return true;
        return false;
}

/* Look at a raw line for what inih would accept silently. */
static void inspect_line(ParseCtx *ctx, const char *line) {
        const char *s = line + strspn(line, " \t\r\n");
        char q[MSG_MAX], name[64];

        ctx->indented = s != line && *s && *s != ';' && *s != '#';
        if (*s == '[') {
                size_t len = strcspn(s + 1, "]");
                if (s[1 + len] == ']' && !section_known(ctx, s + 1, len)) {
                        size_t n = len < sizeof(name) - 1 ? len : sizeof(name) - 1;
                        memcpy(name, s + 1, n);
                        name[n] = '\0';
                        (void) fail_at(ctx, ctx->line, -EINVAL, "unknown section [%s]", quote(q, sizeof(q), name));
                }
        }
}

static char *reader(char *str, int num, void *stream) {
        ParseCtx *ctx = stream;
        size_t n = 0, cap = num > 1 ? (size_t) num - 1 : 0;
        bool too_long = false, nul = false;
        int c;

        if (ctx->too_big || cap < 2)
                return NULL;
        c = getc(ctx->f);
        if (c == EOF)
                return NULL;
        ctx->line++;
        for (; c != EOF; c = getc(ctx->f)) {
                if (++ctx->bytes > CONFIG_FILE_MAX) {
                        ctx->too_big = true;
                        return NULL;
                }
                if (c == '\0') {
                        nul = true;
                        c = ' ';
                }
                if (c == '\n')
                        break;
                if (n < cap - 1)
                        str[n++] = (char) c;
                else
                        too_long = true;
        }
        str[n++] = '\n';
        str[n] = '\0';
        if (nul)
                (void) fail_at(ctx, ctx->line, -EINVAL, "NUL byte in line");
        else if (too_long)
                (void) fail_at(ctx, ctx->line, -EINVAL, "line longer than %zu characters", cap - 1);
        else
                inspect_line(ctx, str);
        return str;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
        ParseCtx *ctx = user;
        char q1[MSG_MAX], q2[MSG_MAX];

        if (!*section)
                return fail_at(ctx, ctx->line, -EINVAL, "key \"%s\" outside of a section",
                               quote(q1, sizeof(q1), name)), 0;
        if (!section_known(ctx, section, strlen(section)))
                return fail_at(ctx, ctx->line, -EINVAL, "unknown section [%s]", quote(q1, sizeof(q1), section)),
                       0;
        for (size_t i = 0; i < ctx->n_table; i++) {
                const ConfigKey *k = &ctx->table[i];
                if (strcmp(k->section, section) != 0 || strcmp(k->key, name) != 0)
                        continue;
                if (ctx->seen & (UINT64_C(1) << i)) {
                        if (ctx->indented)
                                return fail_at(ctx, ctx->line, -EINVAL,
                                               "indented line: continuation lines are not supported"),
                                       0;
                        return fail_at(ctx, ctx->line, -EINVAL, "duplicate key \"%s\"", k->key), 0;
                }
                ctx->seen |= UINT64_C(1) << i;
                return k->parse(ctx, k, ctx->base, value) < 0 ? 0 : 1;
        }
        return fail_at(ctx, ctx->line, -EINVAL, "unknown key \"%s\" in section [%s]", quote(q1, sizeof(q1), name),
                       quote(q2, sizeof(q2), section)),
               0;
}

static int run_parser(ParseCtx *ctx, char *err, size_t errlen) {
        int rc = ini_parse_stream(reader, ctx, handler, ctx);

        if (ctx->too_big) {
                set_err(err, errlen, "%s: file larger than %u bytes", ctx->filename, CONFIG_FILE_MAX);
                return -EFBIG;
        }
        if (ferror(ctx->f)) {
                set_err(err, errlen, "%s: read error", ctx->filename);
                return -EIO;
        }
        if (rc == -2) {
                set_err(err, errlen, "%s: out of memory", ctx->filename);
                return -ENOMEM;
        }
        if (rc > 0 && (ctx->err_line == 0 || (unsigned) rc < ctx->err_line))
                (void) fail_at(ctx, (unsigned) rc, -EINVAL, "syntax error (expected [section] or key = value)");
        if (ctx->err_line != 0) {
                set_err(err, errlen, "%s:%u: %s", ctx->filename, ctx->err_line, ctx->msg);
                return ctx->err;
        }
        return 0;
}

/* ---- global file ---- */

static Config *config_new_default(void) {
        Config *c = calloc(1, sizeof(*c));

        if (!c)
                return NULL;
        c->guests_dir = strdup(CONFIG_DEFAULT_GUESTS_DIR);
        c->socket_dir = strdup(CONFIG_DEFAULT_SOCKET_DIR);
        c->control_socket = strdup(CONFIG_DEFAULT_CONTROL_SOCKET);
        c->control_max_connections = 16;
        c->log_level = LOG_INFO;
        c->max_guests = 1024;
        c->limits = default_limits;
        if (!c->guests_dir || !c->socket_dir || !c->control_socket)
                return config_free(c);
        return c;
}

Config *config_free(Config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_guests; i++)
                guest_config_free(c->guests[i]);
        free(c->guests);
        free(c->socket_dir);
        free(c->control_socket);
        free(c->guests_dir);
        free(c->path);
        free(c);
        return NULL;
}

int config_parse_global(FILE *f, const char *filename, Config **ret, char *err, size_t errlen) {
        ParseCtx ctx = {
                .f = f,
                .filename = filename,
                .table = global_keys,
                .n_table = sizeof(global_keys) / sizeof(global_keys[0]),
                .sections = global_sections,
        };
        Config *c;
        int r;

        set_err(err, errlen, "%s", "");
        if (!f || !filename || !ret)
                return -EINVAL;
        c = config_new_default();
        if (!c || !(c->path = strdup(filename))) {
                config_free(c);
                set_err(err, errlen, "%s: out of memory", filename);
                return -ENOMEM;
        }
        /* unless set, the control socket follows socket_dir */
        free(c->control_socket);
        c->control_socket = NULL;
        ctx.base = (char *) c;
        r = run_parser(&ctx, err, errlen);
        if (r >= 0 && !c->control_socket) {
                size_t n = strlen(c->socket_dir) + strlen("/control");

                if (n > SOCKET_PATH_MAX) {
                        set_err(err, errlen, "%s: socket_dir %s is too long for the control socket (socket_dir/control,"
                                " at most %zu bytes): set control_socket", filename, c->socket_dir, SOCKET_PATH_MAX);
                        r = -ENAMETOOLONG;
                } else if (!(c->control_socket = malloc(n + 1))) {
                        set_err(err, errlen, "%s: out of memory", filename);
                        r = -ENOMEM;
                } else
                        (void) snprintf(c->control_socket, n + 1, "%s/control",
                                        strcmp(c->socket_dir, "/") == 0 ? "" : c->socket_dir);
        }
        if (r < 0) {
                config_free(c);
                return r;
        }
        if (c->worker_user_set && !c->worker_group_set)
                c->worker_gid = c->worker_user_gid;
        *ret = c;
        return 0;
}

int config_worker_ids(const Config *c, uid_t *ret_uid, gid_t *ret_gid, char *err, size_t errlen) {
        uid_t uid;
        gid_t gid;
        int r;

        set_err(err, errlen, "%s", "");
        if (c->worker_user_set) {
                *ret_uid = c->worker_uid;
                *ret_gid = c->worker_gid;
                return 0;
        }
        if (c->worker_uid_base > 0) {
                /* each worker gets base + domid; these are not used */
                *ret_uid = (uid_t) c->worker_uid_base;
                *ret_gid = (gid_t) c->worker_uid_base;
                return 0;
        }
        r = config_resolve_worker_user(CONFIG_DEFAULT_WORKER_USER, &uid, &gid);
        if (r < 0) {
                set_err(err, errlen, "%s: worker_user: the default user \"%s\" %s (create it, or set worker_user or"
                        " worker_uid_base)", c->path ? c->path : "configuration", CONFIG_DEFAULT_WORKER_USER,
                        r == -EPERM ? "is root" : "does not exist");
                return r == -ENOMEM ? r : -ENOENT;
        }
        *ret_uid = uid;
        *ret_gid = c->worker_group_set ? c->worker_gid : gid;
        return 0;
}

int config_resolve_worker_user(const char *name, uid_t *ret_uid, gid_t *ret_gid) {
        long sz = sysconf(_SC_GETPW_R_SIZE_MAX);
        size_t size = sz > 0 ? (size_t) sz : 4096;
        uint32_t id;
        int r;

        if (!*name)
                return -ENOENT;
        if (strspn(name, "0123456789") == strlen(name)) {
                r = parse_id(name, &id);
                if (r < 0)
                        return -ENOENT;
                if (id == 0)
                        return -EPERM;
                *ret_uid = (uid_t) id;
                *ret_gid = (gid_t) id;
                return 0;
        }
        for (;;) {
                struct passwd pw, *res = NULL;
                char *buf = malloc(size);

                if (!buf)
                        return -ENOMEM;
                r = getpwnam_r(name, &pw, buf, size, &res);
                if (r == 0 && res) {
                        *ret_uid = res->pw_uid;
                        *ret_gid = res->pw_gid;
                        free(buf);
                        return *ret_uid == 0 || *ret_gid == 0 ? -EPERM : 0;
                }
                free(buf);
                if (r != ERANGE || size >= (1u << 20))
                        return -ENOENT;
                size *= 2;
        }
}

/* ---- guest files ---- */

GuestConfig *guest_config_free(GuestConfig *g) {
        if (!g)
                return NULL;
        free(g->allow_uids);
        free(g->allow_gids);
        free(g->socket);
        free(g->file);
        free(g);
        return NULL;
}

int config_parse_guest(FILE *f, const char *filename, const char *default_name, const Config *global,
                       GuestConfig **ret, char *err, size_t errlen) {
        ParseCtx ctx = {
                .f = f,
                .filename = filename,
                .table = guest_keys,
                .n_table = sizeof(guest_keys) / sizeof(guest_keys[0]),
                .sections = guest_sections,
        };
        GuestConfig *g;
        char q[MSG_MAX];
        int r;

        set_err(err, errlen, "%s", "");
        if (!f || !filename || !default_name || !global || !ret)
                return -EINVAL;
        g = calloc(1, sizeof(*g));
        if (!g || !(g->file = strdup(filename)) || !(g->allow_uids = calloc(1, sizeof(uid_t)))) {
                guest_config_free(g);
                set_err(err, errlen, "%s: out of memory", filename);
                return -ENOMEM;
        }
        g->allow_uids[0] = 0;   /* allow_users = root */
        g->n_allow_uids = 1;
        g->socket_uid = 0;
        g->socket_gid = 0;
        g->socket_mode = 0660;
        g->limits = global->limits;

        ctx.base = (char *) g;
        r = run_parser(&ctx, err, errlen);
        if (r < 0)
                goto fail;
        g->name_line = ctx.name_line;
        g->socket_line = ctx.socket_line;

        if (g->name[0] == '\0') {
                if (!config_guest_name_valid(default_name)) {
                        set_err(err, errlen, "%s: \"%s\" (from the file name) is not a valid guest name; set name=",
                                filename, quote(q, sizeof(q), default_name));
                        r = -EINVAL;
                        goto fail;
                }
                strcpy(g->name, default_name);  /* length checked */
        }
        if (!g->socket) {
                size_t n = strlen(global->socket_dir) + 1 + strlen(g->name) + strlen(".sock");
                if (n > SOCKET_PATH_MAX) {
                        set_err(err, errlen, "%s: default socket path %s/%s.sock is longer than %zu bytes; set socket=",
                                filename, global->socket_dir, g->name, SOCKET_PATH_MAX);
                        r = -ENAMETOOLONG;
                        goto fail;
                }
                g->socket = malloc(n + 1);
                if (!g->socket) {
                        set_err(err, errlen, "%s: out of memory", filename);
                        r = -ENOMEM;
                        goto fail;
                }
                (void) snprintf(g->socket, n + 1, "%s/%s.sock", strcmp(global->socket_dir, "/") == 0 ? "" :
                                global->socket_dir, g->name);
        }
        *ret = g;
        return 0;
fail:
        guest_config_free(g);
        return r;
}

int config_add_guest(Config *c, GuestConfig *g) {
        GuestConfig **n;

        if (!c || !g)
                return -EINVAL;
        if (c->n_guests >= DIR_ENTRIES_MAX)
                return -E2BIG;
        n = realloc(c->guests, (c->n_guests + 1) * sizeof(*n));
        if (!n)
                return -ENOMEM;
        n[c->n_guests++] = g;
        c->guests = n;
        return 0;
}

/* ---- cross-file rules ---- */

static int cmp_guest_name(const void *a, const void *b) {
        const GuestConfig *x = *(const GuestConfig *const *) a, *y = *(const GuestConfig *const *) b;
        int r = strcmp(x->name, y->name);
        return r != 0 ? r : strcmp(x->file, y->file);
}

static int cmp_guest_socket(const void *a, const void *b) {
        const GuestConfig *x = *(const GuestConfig *const *) a, *y = *(const GuestConfig *const *) b;
        int r = strcmp(x->socket, y->socket);
        return r != 0 ? r : strcmp(x->file, y->file);
}

static void where(char *buf, size_t size, const char *file, unsigned line) {
        if (line)
                (void) snprintf(buf, size, "%s:%u", file, line);
        else
                (void) snprintf(buf, size, "%s", file);
}

int config_validate(const Config *c, char *err, size_t errlen) {
        const GuestConfig **v;
        char at[PATH_MAX + 16], q[MSG_MAX];
        int r = 0;

        if (!c)
                return -EINVAL;
        if (c->n_guests > c->max_guests) {
                set_err(err, errlen, "%s: %zu guests configured, more than max_guests=%u", c->guests_dir,
                        c->n_guests, c->max_guests);
                return -E2BIG;
        }
        for (size_t i = 0; i < c->n_guests; i++)
                if (strcmp(c->guests[i]->socket, c->control_socket) == 0) {
                        where(at, sizeof(at), c->guests[i]->file, c->guests[i]->socket_line);
                        set_err(err, errlen, "%s: socket %s is the control socket", at,
                                quote(q, sizeof(q), c->guests[i]->socket));
                        return -EEXIST;
                }
        if (c->n_guests < 2)
                return 0;
        v = malloc(c->n_guests * sizeof(*v));
        if (!v) {
                set_err(err, errlen, "out of memory");
                return -ENOMEM;
        }
        memcpy(v, c->guests, c->n_guests * sizeof(*v));

        qsort(v, c->n_guests, sizeof(*v), cmp_guest_name);
        for (size_t i = 1; i < c->n_guests; i++)
                if (strcmp(v[i - 1]->name, v[i]->name) == 0) {
                        where(at, sizeof(at), v[i]->file, v[i]->name_line);
                        set_err(err, errlen, "%s: guest name \"%s\" is already used by %s", at,
                                quote(q, sizeof(q), v[i]->name), v[i - 1]->file);
                        r = -EEXIST;
                        goto out;
                }
        qsort(v, c->n_guests, sizeof(*v), cmp_guest_socket);
        for (size_t i = 1; i < c->n_guests; i++)
                if (strcmp(v[i - 1]->socket, v[i]->socket) == 0) {
                        where(at, sizeof(at), v[i]->file, v[i]->socket_line);
                        set_err(err, errlen, "%s: socket %s is already used by %s", at,
                                quote(q, sizeof(q), v[i]->socket), v[i - 1]->file);
                        r = -EEXIST;
                        goto out;
                }
out:
        free(v);
        return r;
}

/* ---- loading ---- */

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool conf_name(const char *n) {
        size_t len = strlen(n);
        return n[0] != '.' && len > 5 && strcmp(n + len - 5, ".conf") == 0;
}

static int load_guests(Config *c, char *err, size_t errlen) {
        DIR *d;
        struct dirent *de;
        char **names = NULL;
        size_t n = 0;
        int r = 0;

        d = opendir(c->guests_dir);
        if (!d) {
                r = -errno;
                set_err(err, errlen, "%s: cannot open directory: %s", c->guests_dir, strerror(-r));
                return r;
        }
        while ((errno = 0, de = readdir(d))) {
                char **nn;
                if (!conf_name(de->d_name))
                        continue;
                if (n >= DIR_ENTRIES_MAX || n >= c->max_guests) {
                        set_err(err, errlen, "%s: more than max_guests=%u guest files", c->guests_dir,
                                c->max_guests);
                        r = -E2BIG;
                        goto out;
                }
                nn = realloc(names, (n + 1) * sizeof(*nn));
                if (!nn || !(nn[n] = strdup(de->d_name))) {
                        if (nn)
                                names = nn;
                        set_err(err, errlen, "out of memory");
                        r = -ENOMEM;
                        goto out;
                }
                names = nn;
                n++;
        }
        if (errno != 0) {
                r = -errno;
                set_err(err, errlen, "%s: cannot read directory: %s", c->guests_dir, strerror(-r));
                goto out;
        }
        if (n > 0)
                qsort(names, n, sizeof(*names), cmp_str);

        for (size_t i = 0; i < n; i++) {
                char path[PATH_MAX], stem[NAME_MAX + 1];
                struct stat st;
                GuestConfig *g = NULL;
                FILE *f;

                if ((size_t) snprintf(path, sizeof(path), "%s/%s", c->guests_dir, names[i]) >= sizeof(path)) {
                        set_err(err, errlen, "%s/%s: path too long", c->guests_dir, names[i]);
                        r = -ENAMETOOLONG;
                        goto out;
                }
                if (stat(path, &st) < 0) {
                        r = -errno;
                        set_err(err, errlen, "%s: %s", path, strerror(-r));
                        goto out;
                }
                if (!S_ISREG(st.st_mode))
                        continue;
                f = fopen(path, "re");
                if (!f) {
                        r = -errno;
                        set_err(err, errlen, "%s: cannot open: %s", path, strerror(-r));
                        goto out;
                }
                snprintf(stem, sizeof(stem), "%.*s", (int) (strlen(names[i]) - 5), names[i]);
                r = config_parse_guest(f, path, stem, c, &g, err, errlen);
                fclose(f);
                if (r < 0)
                        goto out;
                r = config_add_guest(c, g);
                if (r < 0) {
                        guest_config_free(g);
                        set_err(err, errlen, "%s: %s", path, strerror(-r));
                        goto out;
                }
        }
out:
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        closedir(d);
        return r;
}

int config_load(const char *path, const char *guests_dir_override, Config **ret, char *err, size_t errlen) {
        const char *p = path ? path : CONFIG_DEFAULT_PATH;
        Config *c = NULL;
        FILE *f;
        int r;

        set_err(err, errlen, "%s", "");
        if (!ret)
                return -EINVAL;
        f = fopen(p, "re");
        if (!f) {
                r = -errno;
                if (path || r != -ENOENT) {
                        set_err(err, errlen, "%s: cannot open: %s", p, strerror(-r));
                        return r;
                }
                /* no global file at the default place: defaults */
                c = config_new_default();
                if (!c || !(c->path = strdup(p))) {
                        set_err(err, errlen, "out of memory");
                        config_free(c);
                        return -ENOMEM;
                }
        } else {
                r = config_parse_global(f, p, &c, err, errlen);
                fclose(f);
                if (r < 0)
                        return r;
        }
        if (guests_dir_override) {
                char *d = strdup(guests_dir_override);
                if (!d) {
                        set_err(err, errlen, "out of memory");
                        config_free(c);
                        return -ENOMEM;
                }
                free(c->guests_dir);
                c->guests_dir = d;
        }
        r = load_guests(c, err, errlen);
        if (r == 0)
                r = config_validate(c, err, errlen);
        if (r < 0) {
                config_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

/* ---- queries ---- */

const GuestConfig *config_find_guest(const Config *c, const char *name) {
        if (!c || !name)
                return NULL;
        for (size_t i = 0; i < c->n_guests; i++)
                if (strcmp(c->guests[i]->name, name) == 0)
                        return c->guests[i];
        return NULL;
}

bool guest_config_equal(const GuestConfig *a, const GuestConfig *b) {
        if (!a || !b)
                return a == b;
        return strcmp(a->name, b->name) == 0 && strcmp(a->socket, b->socket) == 0 && a->socket_uid == b->socket_uid &&
               a->socket_gid == b->socket_gid && a->socket_mode == b->socket_mode &&
               a->n_allow_uids == b->n_allow_uids && a->n_allow_gids == b->n_allow_gids &&
               (a->n_allow_uids == 0 || memcmp(a->allow_uids, b->allow_uids, a->n_allow_uids * sizeof(uid_t)) == 0) &&
               (a->n_allow_gids == 0 || memcmp(a->allow_gids, b->allow_gids, a->n_allow_gids * sizeof(gid_t)) == 0) &&
               memcmp(&a->limits, &b->limits, sizeof(a->limits)) == 0;
}

bool guest_config_allows(const GuestConfig *g, uid_t uid, gid_t gid) {
        uint32_t u = (uint32_t) uid, gg = (uint32_t) gid;

        if (!g)
                return false;
        if (g->n_allow_uids && bsearch(&u, g->allow_uids, g->n_allow_uids, sizeof(uid_t), cmp_u32))
                return true;
        if (g->n_allow_gids && bsearch(&gg, g->allow_gids, g->n_allow_gids, sizeof(gid_t), cmp_u32))
                return true;
        return false;
}

bool config_guest_name_valid(const char *name) {
        size_t len;
        bool digits = true;

        if (!name)
                return false;
        len = strlen(name);
        if (len == 0 || len > CONFIG_NAME_MAX || name[0] == '.')
                return false;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) name[i];
                if (c <= 0x20 || c >= 0x7f || c == '/')
                        return false;
                if (!isdigit(c))
                        digits = false;
        }
        return !digits;
}

static const struct {
        const char *name;
        int level;
} log_levels[] = {
        { "err", LOG_ERR },
        { "warning", LOG_WARNING },
        { "notice", LOG_NOTICE },
        { "info", LOG_INFO },
        { "debug", LOG_DEBUG },
};

int config_log_level_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
                if (strcmp(log_levels[i].name, s) == 0)
                        return log_levels[i].level;
        return -EINVAL;
}

const char *config_log_level_to_string(int level) {
        for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
                if (log_levels[i].level == level)
                        return log_levels[i].name;
        return NULL;
}
