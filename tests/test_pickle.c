/* test_pickle.c - the restricted unpickler on streams built byte by byte: accepted and refused. */
#include "formats/pickle.h"
#include "testutil.h"

#include <stdint.h>

typedef struct {
    uint8_t b[4096];
    size_t n;
} stream;

static void put(stream *s, const void *p, size_t n)
{
    memcpy(s->b + s->n, p, n);
    s->n += n;
}
static void op(stream *s, uint8_t o) { put(s, &o, 1); }
static void le(stream *s, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        op(s, i < 8 ? (uint8_t)(v >> (8 * i)) : 0);
}
static void str(stream *s, const char *t)
{
    op(s, 'X');
    le(s, strlen(t), 4);
    put(s, t, strlen(t));
}
static void global(stream *s, const char *mod, const char *name)
{
    op(s, 'c');
    put(s, mod, strlen(mod));
    op(s, '\n');
    put(s, name, strlen(name));
    op(s, '\n');
}

/* OrderedDict({"w": _rebuild_tensor_v2(persid(('storage', FloatStorage, '0', 'cpu', 4)), 0,
 * (2, 2), (2, 1), False, OrderedDict())}) as torch.save writes it with protocol 2. */
static void state_dict(stream *s)
{
    s->n = 0;
    op(s, 0x80); op(s, 2);
    global(s, "collections", "OrderedDict");
    op(s, 'q'); op(s, 0);
    op(s, ')'); op(s, 'R');
    op(s, 'q'); op(s, 1);
    op(s, '(');
    str(s, "w");
    global(s, "torch._utils", "_rebuild_tensor_v2");
    op(s, '(');
    op(s, '(');
    str(s, "storage");
    global(s, "torch", "FloatStorage");
    str(s, "0");
    str(s, "cpu");
    op(s, 'K'); op(s, 4);
    op(s, 't');
    op(s, 'Q');
    op(s, 'K'); op(s, 0);
    op(s, 'K'); op(s, 2); op(s, 'K'); op(s, 2); op(s, 0x86);
    op(s, 'K'); op(s, 2); op(s, 'K'); op(s, 1); op(s, 0x86);
    op(s, 0x89);
    op(s, 'h'); op(s, 0); op(s, ')'); op(s, 'R');
    op(s, 't');
    op(s, 'R');
    op(s, 'u');
    op(s, '}'); op(s, 'b'); /* the _metadata state, ignored */
    op(s, '.');
}

static rf_status parse(const stream *s, rf_pickle *pk, uint32_t *root, rf_error *err)
{
    size_t pos = 0;
    rf_pickle_init(pk);
    return rf_pickle_parse(pk, s->b, s->n, &pos, "t.pth", root, err);
}

/* Parses s, expects RF_E_FORMAT and a message containing want. */
static void refused(const stream *s, const char *want, int line)
{
    rf_pickle pk;
    rf_error err = {0};
    uint32_t root;
    rf_status st = parse(s, &pk, &root, &err);
    CHECK(st == RF_E_FORMAT, "line %d: status %d", line, st);
    CHECK(strstr(err.message, want) != NULL, "line %d: message '%s' lacks '%s'", line,
          err.message, want);
    CHECK(strncmp(err.message, "t.pth: ", 7) == 0, "line %d: message '%s' lacks the name", line,
          err.message);
    rf_pickle_free(&pk);
}
#define REFUSED(s, want) refused(s, want, __LINE__)

static void test_state_dict(void)
{
    stream s;
    state_dict(&s);
    rf_pickle pk;
    rf_error err = {0};
    uint32_t root;
    size_t pos = 0;
    rf_pickle_init(&pk);
    CHECK(rf_pickle_parse(&pk, s.b, s.n, &pos, "t.pth", &root, &err) == RF_OK, "%s",
          err.message);
    CHECK(pos == s.n, "stopped at %zu of %zu", pos, s.n);
    const rf_pk_obj *d = rf_pickle_get(&pk, root);
    CHECK(d->type == RF_PK_DICT && d->u.c.count == 2, "root type %d", d->type);
    if (d->type == RF_PK_DICT && d->u.c.count == 2) {
        CHECK(rf_pk_str_eq(rf_pickle_get(&pk, d->u.c.items[0]), "w"), "key");
        const rf_pk_obj *t = rf_pickle_get(&pk, d->u.c.items[1]);
        CHECK(t->type == RF_PK_TENSOR, "value type %d", t->type);
        const rf_pk_obj *fn = rf_pickle_get(&pk, t->u.c.items[0]);
        const rf_pk_obj *args = rf_pickle_get(&pk, t->u.c.items[1]);
        CHECK(fn->type == RF_PK_GLOBAL && fn->u.g.kind == RF_PKG_REBUILD_TENSOR_V2, "fn");
        CHECK(args->type == RF_PK_TUPLE && args->u.c.count == 6, "args");
        const rf_pk_obj *pid = rf_pickle_get(&pk, args->u.c.items[0]);
        CHECK(pid->type == RF_PK_PERSID, "persid");
        const rf_pk_obj *tup = rf_pickle_get(&pk, pid->u.c.items[0]);
        CHECK(tup->type == RF_PK_TUPLE && tup->u.c.count == 5, "persid tuple");
        const rf_pk_obj *type = rf_pickle_get(&pk, tup->u.c.items[1]);
        CHECK(type->type == RF_PK_GLOBAL && type->u.g.kind == RF_PKG_STORAGE &&
                  type->u.g.dtype == RF_DTYPE_F32, "storage type");
        const rf_pk_obj *size = rf_pickle_get(&pk, args->u.c.items[2]);
        CHECK(size->type == RF_PK_TUPLE && size->u.c.count == 2 &&
                  rf_pickle_get(&pk, size->u.c.items[0])->u.i == 2, "size");
        CHECK(rf_pickle_get(&pk, args->u.c.items[4])->type == RF_PK_BOOL, "requires_grad");
        CHECK(rf_pickle_get(&pk, args->u.c.items[5])->type == RF_PK_DICT, "hooks");
    }
    rf_pickle_free(&pk);

    /* Every truncation fails cleanly and names the offset. */
    for (size_t cut = 0; cut < s.n; cut++) {
        stream t = s;
        t.n = cut;
        REFUSED(&t, "truncated at offset");
    }
}

static void test_protocol4_and_scalars(void)
{
    stream s = {.n = 0};
    op(&s, 0x80); op(&s, 4);
    op(&s, 0x95); le(&s, 0, 8); /* FRAME length is only a hint */
    op(&s, ']'); op(&s, 0x94);
    op(&s, '(');
    op(&s, 0x8c); op(&s, 5); put(&s, "torch", 5); op(&s, 0x94);
    op(&s, 0x8c); op(&s, 11); put(&s, "HalfStorage", 11); op(&s, 0x94);
    op(&s, 0x93); op(&s, 0x94);
    op(&s, 'J'); le(&s, (uint32_t)-5, 4);
    op(&s, 0x8a); op(&s, 2); op(&s, 0x00); op(&s, 0x80); /* LONG1 -32768 */
    op(&s, 0x8a); op(&s, 0);                             /* LONG1 0 */
    op(&s, 0x8a); op(&s, 10); le(&s, 0x9cfc6c, 10);      /* wider than int64 */
    op(&s, 'G'); le(&s, 0x000000000000f83fULL, 8);       /* 1.5, big-endian */
    op(&s, 'M'); le(&s, 1001, 2);
    op(&s, 'N'); op(&s, 0x88);
    op(&s, 0x8d); le(&s, 2, 8); put(&s, "ab", 2);
    op(&s, 'U'); op(&s, 1); put(&s, "c", 1);
    op(&s, 'C'); op(&s, 3); put(&s, "\x00\x01\x02", 3);
    op(&s, 'h'); op(&s, 1); /* memo 1 = "torch" */
    op(&s, 'e');
    op(&s, '.');
    rf_pickle pk;
    rf_error err = {0};
    uint32_t root;
    CHECK(parse(&s, &pk, &root, &err) == RF_OK, "%s", err.message);
    const rf_pk_obj *l = rf_pickle_get(&pk, root);
    CHECK(l->type == RF_PK_LIST && l->u.c.count == 13, "list type %d count %u", l->type,
          l->u.c.count);
    if (l->type == RF_PK_LIST && l->u.c.count == 13) {
        const rf_pk_obj *o[13];
        for (int i = 0; i < 13; i++)
            o[i] = rf_pickle_get(&pk, l->u.c.items[i]);
        CHECK(o[0]->type == RF_PK_GLOBAL && o[0]->u.g.dtype == RF_DTYPE_F16, "stack global");
        CHECK(o[1]->type == RF_PK_INT && o[1]->u.i == -5, "binint %lld", (long long)o[1]->u.i);
        CHECK(o[2]->type == RF_PK_INT && o[2]->u.i == -32768, "long1 %lld",
              (long long)o[2]->u.i);
        CHECK(o[3]->type == RF_PK_INT && o[3]->u.i == 0, "long1 0");
        CHECK(o[4]->type == RF_PK_BIGINT && o[4]->u.s.len == 10, "bigint");
        CHECK(o[5]->type == RF_PK_FLOAT && o[5]->u.f == 1.5, "float");
        CHECK(o[6]->type == RF_PK_INT && o[6]->u.i == 1001, "binint2");
        CHECK(o[7]->type == RF_PK_NONE && o[8]->type == RF_PK_BOOL && o[8]->u.i == 1, "none");
        CHECK(rf_pk_str_eq(o[9], "ab") && rf_pk_str_eq(o[10], "c"), "strings");
        CHECK(o[11]->type == RF_PK_BYTES && o[11]->u.s.len == 3, "bytes");
        CHECK(rf_pk_str_eq(o[12], "torch"), "memoized string");
    }
    rf_pickle_free(&pk);
}

static void test_refused(void)
{
    stream s = {.n = 0};
    op(&s, 0x80); op(&s, 2);
    global(&s, "os", "system");
    op(&s, '.');
    REFUSED(&s, "refused pickle global 'os.system'");

    s.n = 0;
    op(&s, 0x80); op(&s, 4);
    op(&s, 0x8c); op(&s, 8); put(&s, "builtins", 8);
    op(&s, 0x8c); op(&s, 4); put(&s, "eval", 4);
    op(&s, 0x93); op(&s, '.');
    REFUSED(&s, "refused pickle global 'builtins.eval'");

    s.n = 0; /* a storage class is allowed as a value but must never be called */
    op(&s, 0x80); op(&s, 2);
    global(&s, "torch", "FloatStorage");
    op(&s, ')'); op(&s, 'R'); op(&s, '.');
    REFUSED(&s, "refused REDUCE of a storage type");

    s.n = 0;
    op(&s, 0x80); op(&s, 2);
    str(&s, "os.system"); op(&s, ')'); op(&s, 'R'); op(&s, '.');
    REFUSED(&s, "refused REDUCE of a str");

    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, 'i'); op(&s, '.');
    REFUSED(&s, "unsupported pickle opcode 0x69 at offset 2");
    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, 'N'); op(&s, 0xff);
    REFUSED(&s, "unsupported pickle opcode 0xff at offset 3");
    s.n = 0;
    op(&s, 0x80); op(&s, 9); op(&s, '.');
    REFUSED(&s, "unsupported pickle protocol 9");

    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, 'N'); op(&s, 'q'); op(&s, 0); op(&s, 'h'); op(&s, 1);
    op(&s, '.');
    REFUSED(&s, "memo entry 1 read at offset 5 was never stored");
    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, 'j'); le(&s, 0xffffffffu, 4); op(&s, '.');
    REFUSED(&s, "never stored");
    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, 'N'); op(&s, 'r'); le(&s, 0xffffffffu, 4); op(&s, '.');
    REFUSED(&s, "memo index 4294967295 at offset 3 is out of range");

    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, 0x85); op(&s, '.');
    REFUSED(&s, "stack underflow at offset 2");
    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, ']'); op(&s, '('); op(&s, 'a'); op(&s, '.');
    REFUSED(&s, "stack underflow at offset 4"); /* APPEND may not reach below the MARK */
    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, '.');
    REFUSED(&s, "stack underflow at offset 2");
    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, '}'); op(&s, 'N'); op(&s, 'u'); op(&s, '.');
    REFUSED(&s, "needs a MARK");
    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, '('); op(&s, 'N'); op(&s, 'N'); op(&s, 'u'); op(&s, '.');
    REFUSED(&s, "stack underflow");
    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, ']'); op(&s, 'N'); op(&s, 'N'); op(&s, 's'); op(&s, '.');
    REFUSED(&s, "SETITEM at offset 5 on a list");
    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, '('); op(&s, 'N'); op(&s, '.');
    REFUSED(&s, "MARK still open");
    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, ']'); op(&s, 'N'); op(&s, 'b'); op(&s, '.');
    REFUSED(&s, "BUILD at offset 4 on a list");
    s.n = 0;
    op(&s, 0x80); op(&s, 2);
    for (int i = 0; i < 100; i++)
        op(&s, '(');
    REFUSED(&s, "MARKs nested deeper");

    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, 'X'); le(&s, 0xffffffffu, 4); op(&s, '.');
    REFUSED(&s, "string of 4294967295 bytes at offset 2 runs past the end");
    s.n = 0;
    op(&s, 0x80); op(&s, 4); op(&s, 0x8d); le(&s, UINT64_C(1) << 63, 8); op(&s, '.');
    REFUSED(&s, "runs past the end");
    s.n = 0;
    op(&s, 0x80); op(&s, 4); op(&s, 0x8e); le(&s, UINT64_MAX, 8); op(&s, '.');
    REFUSED(&s, "runs past the end");
    s.n = 0;
    op(&s, 0x80); op(&s, 4); op(&s, 0x95); le(&s, UINT64_MAX, 8); op(&s, 'N'); op(&s, '.');
    REFUSED(&s, "frame of");
    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, 'T'); le(&s, 0x80000000u, 4); op(&s, '.');
    REFUSED(&s, "negative BINSTRING length");
    s.n = 0;
    op(&s, 0x80); op(&s, 2); op(&s, 'c'); put(&s, "torch", 5);
    REFUSED(&s, "no end of line");
}

int main(void)
{
    test_state_dict();
    test_protocol4_and_scalars();
    test_refused();
    return test_summary();
}
