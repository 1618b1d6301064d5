/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * xq-servers: the ioreq servers Xen holds for a domain, asked of the hypervisor
 * by a process of its own (not the daemon's view): get_ioreq_server_info with
 * no gfn pointers only looks a server up (FACTS 3f), ENOENT for an id without
 * one (FACTS 1i), for each of the 8 ids a domain can have.
 * Prints "SERVERS domid=N count=C ids=I[,J...]" (ids=none when there is none)
 * and exits 0, or exits 1 with a message on any other error.
 * usage: xq-servers DOMID
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xendevicemodel.h>

#define MAX_SERVERS 8           /* MAX_NR_IOREQ_SERVERS */

int main(int argc, char **argv)
{
        if (argc != 2) {
                fprintf(stderr, "usage: xq-servers DOMID\n");
                return 2;
        }
        char *end;
        unsigned long domid = strtoul(argv[1], &end, 10);
        if (*end || end == argv[1] || domid == 0 || domid >= 0x7ff0) {
                fprintf(stderr, "xq-servers: bad domid '%s'\n", argv[1]);
                return 2;
        }
        xendevicemodel_handle *dm = xendevicemodel_open(NULL, 0);
        if (!dm) {
                printf("SERVERS-FAIL open: %s\n", strerror(errno));
                return 1;
        }
        char ids[64] = "";
        unsigned count = 0;
        for (unsigned id = 0; id < MAX_SERVERS; id++) {
                if (xendevicemodel_get_ioreq_server_info(dm, (domid_t)domid, (ioservid_t)id, NULL, NULL, NULL) == 0) {
                        size_t n = strlen(ids);
                        snprintf(ids + n, sizeof(ids) - n, "%s%u", count ? "," : "", id);
                        count++;
                } else if (errno != ENOENT) {
                        printf("SERVERS-FAIL domid=%lu id=%u: %s\n", domid, id, strerror(errno));
                        xendevicemodel_close(dm);
                        return 1;
                }
        }
        printf("SERVERS domid=%lu count=%u ids=%s\n", domid, count, count ? ids : "none");
        xendevicemodel_close(dm);
        return 0;
}
