/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the configuration parser.  Input: one byte choosing the
 * global file (even) or a guest file (odd), then the file's content.  The
 * parse must either succeed with values within their documented ranges, or
 * fail with a message that names the file.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_limits(const GuestLimits *l) {
        if (l->max_registrations < 1 || l->max_registrations > 65536 || l->max_client_registrations < 1 ||
            l->max_client_registrations > 65536 || l->max_connections < 1 || l->max_connections > 1024 ||
            l->max_connections_per_uid < 1 || l->max_connections_per_uid > 1024 || l->busy_poll_us > 1000000)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static Config *global;
        char err[512];
        bool guest;
        FILE *f;
        int r;

        if (size < 1)
                return 0;
        guest = data[0] & 1;
        data++;
        size--;
        if (!global) {
                f = fopen("/dev/null", "re");
                if (!f || config_parse_global(f, "global.conf", &global, err, sizeof(err)) < 0)
                        abort();
                fclose(f);
        }
        /* fmemopen cannot open an empty buffer everywhere: use /dev/null then */
        f = size ? fmemopen((void *) data, size, "r") : fopen("/dev/null", "re");
        if (!f)
                return 0;
        err[0] = 'x';
        if (guest) {
                GuestConfig *g = NULL;
                r = config_parse_guest(f, "fuzz.conf", "fuzz", global, &g, err, sizeof(err));
                if (r == 0) {
                        if (!g || !config_guest_name_valid(g->name) || !g->socket || g->socket[0] != '/' ||
                            strlen(g->socket) > 107 || g->socket_mode > 0777 || g->n_allow_uids > CONFIG_ALLOW_MAX ||
                            g->n_allow_gids > CONFIG_ALLOW_MAX)
                                abort();
                        for (size_t i = 1; i < g->n_allow_uids; i++)
                                if (g->allow_uids[i - 1] >= g->allow_uids[i])
                                        abort();
                        check_limits(&g->limits);
                        if (!guest_config_equal(g, g))
                                abort();
                }
                guest_config_free(g);
        } else {
                Config *c = NULL;
                r = config_parse_global(f, "fuzz.conf", &c, err, sizeof(err));
                if (r == 0) {
                        if (!c || c->max_guests < 1 || c->max_guests > 4096 || c->guests_dir[0] != '/' ||
                            c->socket_dir[0] != '/' || !config_log_level_to_string(c->log_level))
                                abort();
                        check_limits(&c->limits);
                }
                config_free(c);
        }
        fclose(f);
        if (r == 0 && err[0] != '\0')
                abort();
        if (r < 0 && strncmp(err, "fuzz.conf", 9) != 0)
                abort();
        return 0;
}
