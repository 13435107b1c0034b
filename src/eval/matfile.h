/* matfile.h - reads MATLAB v5 .mat files (the WIDER FACE ground truth): numeric, char, cell arrays. */
#ifndef RF_MATFILE_H
#define RF_MATFILE_H

#include "base/common.h"

#include <stddef.h>
#include <stdint.h>

/* Refused with RF_E_LIMIT: larger files, more inflated bytes (all compressed elements together),
 * more parsed memory (numbers become doubles, so up to 8x the stored bytes, plus ~100 bytes per
 * cell), deeper cell nesting, more dimensions. */
#define RF_MAT_MAX_FILE_BYTES (512u << 20)
#define RF_MAT_MAX_INFLATED_BYTES (512u << 20)
#define RF_MAT_MAX_MEMORY_BYTES (2048u << 20)
#define RF_MAT_MAX_DEPTH 16
#define RF_MAT_MAX_DIMS 8

typedef enum {
    RF_MAT_NUMERIC, /* double, single, (u)int8..64, logical: values converted to double */
    RF_MAT_CHAR,    /* UTF-16 code units (or bytes), converted to double */
    RF_MAT_CELL,
    RF_MAT_OTHER    /* struct, object, sparse, function handle...: present but not decoded */
} rf_mat_kind;

typedef struct rf_mat_array {
    rf_mat_kind kind;
    int mx_class;               /* MATLAB class code: 1 cell, 4 char, 6 double, 7 single, ... */
    int ndims;
    int64_t dims[RF_MAT_MAX_DIMS];
    size_t numel;               /* product of dims */
    double *values;             /* NUMERIC, CHAR: numel values, column-major (real part) */
    struct rf_mat_array *cells; /* CELL: numel arrays, column-major */
} rf_mat_array;

typedef struct {
    char *name;
    rf_mat_array value;
} rf_mat_var;

typedef struct {
    rf_mat_var *vars;
    int count;
} rf_mat_file;

/* Limits for rf_mat_load_memory_limits; a 0 field means the default above. */
typedef struct {
    size_t max_inflated;
    size_t max_memory;
} rf_mat_limits;

rf_status rf_mat_load(const char *path, rf_mat_file *out, rf_error *err);
/* `name` is used in messages. limits may be NULL. */
rf_status rf_mat_load_memory(const void *data, size_t size, const char *name,
                             const rf_mat_limits *limits, rf_mat_file *out, rf_error *err);
void rf_mat_free(rf_mat_file *file);
/* The variable called `name`, or NULL. */
const rf_mat_array *rf_mat_find(const rf_mat_file *file, const char *name);
/* A CHAR array as a NUL-terminated string (code units above 0x7f become UTF-8); NULL when
 * `a` is not a char array or on allocation failure. The caller frees it. */
char *rf_mat_string(const rf_mat_array *a);

#endif
