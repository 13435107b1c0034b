/* fuzz_pickle.c - libFuzzer target: the restricted unpickler alone, over consecutive streams. */
#include "fuzz_common.h"
#include "formats/pickle.h"

/* Every reference must name an existing object and every string must lie inside the input. */
static void check_graph(const rf_pickle *pk, const uint8_t *data, size_t size)
{
    uint8_t x = 0;
    for (uint32_t i = 0; i < pk->count; i++) {
        const rf_pk_obj *o = rf_pickle_get(pk, i);
        switch (o->type) {
        case RF_PK_STR: case RF_PK_BYTES: case RF_PK_BIGINT:
            if (o->u.s.ptr < data || o->u.s.len > size - (size_t)(o->u.s.ptr - data))
                abort();
            x ^= fuzz_touch(o->u.s.ptr, o->u.s.len);
            break;
        case RF_PK_TUPLE: case RF_PK_LIST: case RF_PK_DICT: case RF_PK_PERSID: case RF_PK_TENSOR:
            if (o->u.c.count > o->u.c.cap && o->u.c.count)
                abort();
            for (uint32_t k = 0; k < o->u.c.count; k++)
                if (o->u.c.items[k] >= pk->count)
                    abort();
            if ((o->type == RF_PK_PERSID && o->u.c.count != 1) ||
                (o->type == RF_PK_TENSOR && o->u.c.count != 2) ||
                (o->type == RF_PK_DICT && o->u.c.count % 2))
                abort();
            break;
        default:
            break;
        }
        if (strcmp(rf_pk_type_name(o->type), "?") == 0)
            abort();
    }
    fuzz_sink(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rf_pickle pk;
    rf_pickle_init(&pk);
    size_t pos = 0;
    /* A legacy checkpoint is five streams in a row; keep going while they parse. */
    for (int stream = 0; stream < 8 && pos < size; stream++) {
        rf_error err;
        uint32_t root;
        size_t before = pos;
        rf_status st = rf_pickle_parse(&pk, data, size, &pos, "fuzz.pkl", &root, &err);
        fuzz_check_error(st, &err, "fuzz.pkl");
        if (st != RF_OK)
            break;
        if (pos <= before || pos > size || root >= pk.count)
            abort();
    }
    check_graph(&pk, data, size);
    rf_pickle_free(&pk);
    return 0;
}
