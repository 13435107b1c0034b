/* testutil.h - the tiny test harness: CHECK macros, the shared test-data folder, the summary line. */
#ifndef RF_TESTUTIL_H
#define RF_TESTUTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int tu_passed, tu_failed;

#define CHECK(cond, ...)                                                                \
    do {                                                                                \
        if (cond) {                                                                     \
            tu_passed++;                                                                \
        } else {                                                                        \
            tu_failed++;                                                                \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);             \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
        }                                                                               \
    } while (0)

/* ctest reports a test that exits with this code as skipped. */
#define TEST_SKIP_CODE 77

/* ../shared next to the source tree, or $RETINAFACE_TESTDATA; NULL when neither exists. */
static inline const char *test_data_dir(void)
{
    static char path[4096];
    const char *env = getenv("RETINAFACE_TESTDATA");
    struct stat st;
    if (env && *env) {
        snprintf(path, sizeof path, "%s", env);
    } else {
        snprintf(path, sizeof path, "%s/../shared", RF_SOURCE_DIR);
    }
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return NULL;
    return path;
}

/* Joins the test-data dir and a relative path into a static buffer (one at a time). */
static inline const char *test_data_path(const char *rel)
{
    static char path[8192];
    snprintf(path, sizeof path, "%s/%s", test_data_dir(), rel);
    return path;
}

/* Exits with the skip code, saying why, when ../shared is absent. */
static inline void require_test_data(const char *test)
{
    if (!test_data_dir()) {
        printf("SKIP %s: test data not found (set RETINAFACE_TESTDATA or put shared/ next to "
               "the source tree)\n", test);
        exit(TEST_SKIP_CODE);
    }
}

static inline int test_summary(void)
{
    printf("%d passed, %d failed\n", tu_passed, tu_failed);
    return tu_failed ? 1 : 0;
}

#endif
