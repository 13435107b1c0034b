/* test_steady_alloc.c - rf_detect allocates nothing on an input size it has seen (counted). */
#include "retinaface.h"
#include "testutil.h"

#include <stdatomic.h>
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

#ifndef SANITIZED
/* The process's allocator, counted: these definitions take the place of glibc's for the
 * library linked into this program, and hand every call on to glibc. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t align, size_t size);
extern void __libc_free(void *p);

static atomic_long allocations;

void *malloc(size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return __libc_realloc(p, size);
}

void *aligned_alloc(size_t align, size_t size)
{
    atomic_fetch_add(&allocations, 1);
    return __libc_memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    atomic_fetch_add(&allocations, 1);
    *out = __libc_memalign(align, size);
    return *out ? 0 : 12; /* ENOMEM */
}

void free(void *p)
{
    __libc_free(p);
}

/* Allocations made by `detect` on a context that has already run it once. */
static long steady_allocations(rf_context *ctx, const rf_image *img, const rf_input_policy *pol,
                               rf_faces *faces, int *ok)
{
    rf_error err;
    *ok = rf_detect(ctx, img, pol, NULL, faces, &err) == RF_OK;
    const long before = atomic_load(&allocations);
    for (int i = 0; i < 3 && *ok; i++)
        *ok = rf_detect(ctx, img, pol, NULL, faces, &err) == RF_OK;
    return atomic_load(&allocations) - before;
}
#endif

int main(void)
{
#ifdef SANITIZED
    printf("SKIP test_steady_alloc: counting malloc would replace the sanitizer's allocator "
           "(the release build runs this test)\n");
    return TEST_SKIP_CODE;
#else
    require_test_data("test_steady_alloc");
    rf_error err;
    rf_model *model = NULL;
    CHECK(rf_model_load(test_data_path("models/mobilenet0.25_Final.pth"), RF_ANCHORS_RETINAFACE,
                        &model, &err) == RF_OK,
          "%s", err.message);
    if (!model)
        return test_summary();
    const int w = 200, h = 150;
    uint8_t *pixels = malloc((size_t)w * h * 3);
    for (int i = 0; i < w * h * 3; i++)
        pixels[i] = (uint8_t)(i * 37 + i / 600);
    const rf_image img = {pixels, w, h, (size_t)w * 3, RF_PIXELS_BGR};
    for (int threads = 1; threads <= 2; threads++) {
        rf_context_options opt = rf_context_options_default();
        opt.threads = threads;
        rf_context *ctx = NULL;
        CHECK(rf_context_create(model, &opt, &ctx, &err) == RF_OK, "%s", err.message);
        if (!ctx)
            continue;
        const rf_input_policy policies[2] = {rf_input_policy_original(),
                                             rf_input_policy_stretch(160, 128)};
        for (int k = 0; k < 2; k++) {
            rf_faces faces = {0};
            int ok;
            const long n = steady_allocations(ctx, &img, &policies[k], &faces, &ok);
            CHECK(ok, "detect failed");
            CHECK(n == 0, "%d thread(s), policy %d: %ld allocations in 3 detections of a size "
                          "seen before", threads, k, n);
            printf("  %d thread(s), %s: %ld allocations in 3 steady-state detections\n", threads,
                   k ? "stretch 160x128" : "original size", n);
            rf_faces_free(&faces);
        }
        rf_context_free(ctx);
    }
    free(pixels);
    rf_model_free(model);
    return test_summary();
#endif
}
