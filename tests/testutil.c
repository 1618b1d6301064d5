/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

int tu_rm_rf(const char *path) {
        struct stat st;
        struct dirent *e;
        DIR *d;
        int r = 0;

        if (lstat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return unlink(path) < 0 ? -errno : 0;
        d = opendir(path);
        if (!d)
                return -errno;
        while ((e = readdir(d))) {
                char sub[PATH_MAX];
                int n;

                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                n = snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
                if (n < 0 || (size_t) n >= sizeof sub) {
                        r = -ENAMETOOLONG;      /* never a truncated name: it could be another file */
                        continue;
                }
                (void) tu_rm_rf(sub);
        }
        closedir(d);
        if (rmdir(path) < 0)
                return r < 0 ? r : -errno;
        return 0;
}
