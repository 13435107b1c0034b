/* fuzz_matfile.c - libFuzzer target: the MATLAB v5 reader, every array it returns walked. */
#include "fuzz_common.h"
#include "eval/matfile.h"

static void walk(const rf_mat_array *a, int depth)
{
    if (depth > RF_MAT_MAX_DEPTH + 1 || a->ndims < 0 || a->ndims > RF_MAT_MAX_DIMS)
        abort();
    size_t numel = 1;
    for (int d = 0; d < a->ndims; d++) {
        if (a->dims[d] < 0)
            abort();
        numel *= (size_t)a->dims[d];
    }
    if (a->kind != RF_MAT_OTHER && numel != a->numel)
        abort();
    if (a->kind == RF_MAT_NUMERIC || a->kind == RF_MAT_CHAR) {
        if (a->numel && !a->values)
            abort();
        fuzz_sink(fuzz_touch(a->values, a->numel * sizeof *a->values));
    }
    if (a->kind == RF_MAT_CHAR) {
        char *s = rf_mat_string(a);
        if (!s)
            abort();
        fuzz_sink((uint8_t)strlen(s));
        free(s);
    }
    if (a->kind == RF_MAT_CELL) {
        if (a->numel && !a->cells)
            abort();
        for (size_t i = 0; i < a->numel; i++)
            walk(&a->cells[i], depth + 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Smaller than the defaults so that one input cannot take seconds; the limit checks are
     * the same code either way. */
    const rf_mat_limits limits = {.max_inflated = 64u << 20, .max_memory = 256u << 20};
    rf_error err;
    rf_mat_file f;
    rf_status st = rf_mat_load_memory(data, size, "fuzz.mat", &limits, &f, &err);
    fuzz_check_error(st, &err, "fuzz.mat");
    if (st != RF_OK)
        return 0;
    for (int i = 0; i < f.count; i++) {
        if (!f.vars[i].name || rf_mat_find(&f, f.vars[i].name) == NULL)
            abort();
        walk(&f.vars[i].value, 0);
    }
    rf_mat_free(&f);
    return 0;
}
