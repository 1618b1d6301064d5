/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Plain driver for the libFuzzer targets, so that they run in `make check`
 * without clang: every file of the corpus directory (FUZZ_CORPUS_DIR or
 * argv[1..]) is fed to LLVMFuzzerTestOneInput as is, then with
 * deterministic mutations (bit flips, truncations, byte overwrites).  An
 * empty or missing corpus is a failure, not a skip.  With clang, build the
 * target without this file and -fsanitize=fuzzer instead.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MUTATIONS 2000u
#define INPUT_MAX (1u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng = 0x2545f4914f6cdd1d;

static uint64_t next(void) {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        return rng;
}

static int run_file(const char *path) {
        FILE *f = fopen(path, "rbe");
        uint8_t *data, *mut;
        size_t size;

        if (!f) {
                fprintf(stderr, "%s: %s\n", path, strerror(errno));
                return -1;
        }
        data = malloc(INPUT_MAX);
        mut = malloc(INPUT_MAX + 1);
        if (!data || !mut) {
                fclose(f);
                free(data);
                free(mut);
                return -1;
        }
        size = fread(data, 1, INPUT_MAX, f);
        fclose(f);

        LLVMFuzzerTestOneInput(data, size);
        for (unsigned i = 0; i < MUTATIONS; i++) {
                size_t n = size;
                memcpy(mut, data, size);
                switch (next() % 4) {
                case 0:
                        if (n)
                                mut[next() % n] ^= (uint8_t) (1u << (next() % 8));
                        break;
                case 1:
                        n = n ? next() % n : 0;
                        break;
                case 2:
                        if (n)
                                mut[next() % n] = (uint8_t) next();
                        break;
                default:
                        if (n < INPUT_MAX)
                                mut[n++] = (uint8_t) next();
                        break;
                }
                LLVMFuzzerTestOneInput(mut, n);
        }
        free(data);
        free(mut);
        return 0;
}

static int run_dir(const char *dir) {
        DIR *d = opendir(dir);
        struct dirent *de;
        unsigned n = 0;

        if (!d) {
                fprintf(stderr, "%s: %s\n", dir, strerror(errno));
                return -1;
        }
        while ((de = readdir(d))) {
                char path[4096];
                struct stat st;
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
                if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                        continue;
                if (run_file(path) < 0) {
                        closedir(d);
                        return -1;
                }
                n++;
        }
        closedir(d);
        if (n == 0) {
                fprintf(stderr, "%s: empty corpus\n", dir);
                return -1;
        }
        printf("%s: %u inputs, %u mutations each\n", dir, n, MUTATIONS);
        return 0;
}

int main(int argc, char **argv) {
        alarm(300);
        if (argc > 1) {
                for (int i = 1; i < argc; i++)
                        if (run_dir(argv[i]) < 0)
                                return 1;
                return 0;
        }
#ifdef FUZZ_CORPUS_DIR
        return run_dir(FUZZ_CORPUS_DIR) < 0 ? 1 : 0;
#else
        fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
        return 1;
#endif
}
