/* pickle.h - a restricted unpickler that builds an inert object graph from what torch.save emits. */
#ifndef RF_PICKLE_H
#define RF_PICKLE_H

#include "base/common.h"
#include "formats/dtype.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    RF_PK_NONE = 0,
    RF_PK_BOOL,
    RF_PK_INT,
    RF_PK_BIGINT,  /* a LONG1 too wide for int64: raw two's-complement little-endian bytes */
    RF_PK_FLOAT,
    RF_PK_STR,     /* unicode and protocol-1 byte strings alike */
    RF_PK_BYTES,
    RF_PK_TUPLE,
    RF_PK_LIST,
    RF_PK_DICT,    /* dict or OrderedDict: items are key, value, key, value, ... in insertion order */
    RF_PK_GLOBAL,  /* one of the allowed globals, never called */
    RF_PK_PERSID,  /* a persistent id: items[0] is the id object */
    RF_PK_TENSOR   /* a tensor-rebuild call: items[0] is the rebuild global, items[1] its args */
} rf_pk_type;

typedef enum {
    RF_PKG_ORDERED_DICT = 0,
    RF_PKG_REBUILD_TENSOR,
    RF_PKG_REBUILD_TENSOR_V2,
    RF_PKG_REBUILD_PARAMETER,
    RF_PKG_STORAGE /* torch.<Type>Storage; the element type is in dtype */
} rf_pk_global;

typedef struct {
    rf_pk_type type;
    union {
        int64_t i; /* BOOL, INT */
        double f;  /* FLOAT */
        struct {
            const uint8_t *ptr; /* into the parsed buffer, not NUL-terminated */
            size_t len;
        } s;       /* STR, BYTES, BIGINT */
        struct {
            uint32_t *items;
            uint32_t count, cap;
        } c;       /* TUPLE, LIST, DICT, PERSID, TENSOR */
        struct {
            rf_pk_global kind;
            rf_dtype dtype;
        } g;       /* GLOBAL */
    } u;
} rf_pk_obj;

/* Objects of every stream parsed into it; references are indices into objs. Strings point into
 * the parsed buffers, which must outlive the rf_pickle. */
typedef struct {
    rf_pk_obj *objs;
    uint32_t count, cap;
} rf_pickle;

void rf_pickle_init(rf_pickle *pk);
void rf_pickle_free(rf_pickle *pk);

/* Runs one pickle stream starting at data[*pos] up to its STOP; *pos is left just after it and
 * *root receives the result. Offsets in messages are relative to data; `name` prefixes them. */
rf_status rf_pickle_parse(rf_pickle *pk, const uint8_t *data, size_t size, size_t *pos,
                          const char *name, uint32_t *root, rf_error *err);

static inline const rf_pk_obj *rf_pickle_get(const rf_pickle *pk, uint32_t ref)
{
    return &pk->objs[ref];
}

const char *rf_pk_type_name(rf_pk_type type);

/* 1 when obj is a STR equal to the NUL-terminated s. */
int rf_pk_str_eq(const rf_pk_obj *obj, const char *s);

#endif
