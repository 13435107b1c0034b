/* pickle.c - restricted unpickler: a whitelist of opcodes and globals, nothing ever called. */
#include "formats/pickle.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* torch nests MARKs three deep; anything far beyond that is not a state dict. */
#define MAX_MARKS 64
/* SETITEMS/APPENDS batches hold at most 1000 items each; this leaves room for odd writers. */
#define MAX_STACK (1u << 20)
#define MISSING UINT32_MAX

typedef struct {
    rf_pickle *pk;
    const uint8_t *data;
    size_t size, pos, op_at;
    const char *name;
    rf_error *err;
    uint32_t *stack;
    size_t sp, stack_cap;
    size_t marks[MAX_MARKS];
    size_t nmarks;
    uint32_t *memo;
    size_t memo_cap, memo_len;
    size_t obj_limit;
} parser;

static const struct {
    const char *module, *name;
    rf_pk_global kind;
    rf_dtype dtype;
} allowed_globals[] = {
    {"collections", "OrderedDict", RF_PKG_ORDERED_DICT, RF_DTYPE_F32},
    {"torch._utils", "_rebuild_tensor", RF_PKG_REBUILD_TENSOR, RF_DTYPE_F32},
    {"torch._utils", "_rebuild_tensor_v2", RF_PKG_REBUILD_TENSOR_V2, RF_DTYPE_F32},
    {"torch._utils", "_rebuild_parameter", RF_PKG_REBUILD_PARAMETER, RF_DTYPE_F32},
    {"torch", "FloatStorage", RF_PKG_STORAGE, RF_DTYPE_F32},
    {"torch", "DoubleStorage", RF_PKG_STORAGE, RF_DTYPE_F64},
    {"torch", "HalfStorage", RF_PKG_STORAGE, RF_DTYPE_F16},
    {"torch", "BFloat16Storage", RF_PKG_STORAGE, RF_DTYPE_BF16},
    {"torch", "LongStorage", RF_PKG_STORAGE, RF_DTYPE_I64},
    {"torch", "IntStorage", RF_PKG_STORAGE, RF_DTYPE_I32},
    {"torch", "ShortStorage", RF_PKG_STORAGE, RF_DTYPE_I16},
    {"torch", "CharStorage", RF_PKG_STORAGE, RF_DTYPE_I8},
    {"torch", "ByteStorage", RF_PKG_STORAGE, RF_DTYPE_U8},
    {"torch", "BoolStorage", RF_PKG_STORAGE, RF_DTYPE_BOOL},
};

const char *rf_pk_type_name(rf_pk_type type)
{
    switch (type) {
    case RF_PK_NONE: return "None";
    case RF_PK_BOOL: return "bool";
    case RF_PK_INT: return "int";
    case RF_PK_BIGINT: return "int";
    case RF_PK_FLOAT: return "float";
    case RF_PK_STR: return "str";
    case RF_PK_BYTES: return "bytes";
    case RF_PK_TUPLE: return "tuple";
    case RF_PK_LIST: return "list";
    case RF_PK_DICT: return "dict";
    case RF_PK_GLOBAL: return "global";
    case RF_PK_PERSID: return "persistent id";
    case RF_PK_TENSOR: return "tensor";
    }
    return "?";
}

int rf_pk_str_eq(const rf_pk_obj *obj, const char *s)
{
    size_t n = strlen(s);
    return obj->type == RF_PK_STR && obj->u.s.len == n && memcmp(obj->u.s.ptr, s, n) == 0;
}

void rf_pickle_init(rf_pickle *pk)
{
    memset(pk, 0, sizeof *pk);
}

void rf_pickle_free(rf_pickle *pk)
{
    for (uint32_t i = 0; i < pk->count; i++) {
        rf_pk_type t = pk->objs[i].type;
        if (t == RF_PK_TUPLE || t == RF_PK_LIST || t == RF_PK_DICT || t == RF_PK_PERSID ||
            t == RF_PK_TENSOR)
            free(pk->objs[i].u.c.items);
    }
    free(pk->objs);
    rf_pickle_init(pk);
}

static rf_status fail(parser *p, const char *fmt, ...) RF_PRINTF(2, 3);
static rf_status fail(parser *p, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return rf_fail(p->err, RF_E_FORMAT, "%s: %s", p->name, msg);
}

static rf_status need(parser *p, size_t n)
{
    if (n > p->size - p->pos)
        return fail(p, "pickle truncated at offset %zu (opcode at offset %zu needs %zu more bytes)",
                    p->size, p->op_at, n);
    return RF_OK;
}

static uint64_t read_le(parser *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p->data[p->pos + (size_t)i] << (8 * i);
    p->pos += (size_t)n;
    return v;
}

static rf_status new_obj(parser *p, rf_pk_type type, uint32_t *ref)
{
    rf_pickle *pk = p->pk;
    if (pk->count >= p->obj_limit)
        return fail(p, "too many pickle objects at offset %zu", p->op_at);
    if (pk->count == pk->cap) {
        uint32_t cap = pk->cap ? pk->cap * 2 : 256;
        rf_pk_obj *objs = realloc(pk->objs, cap * sizeof *objs);
        if (!objs)
            return rf_fail(p->err, RF_E_NOMEM, "%s: out of memory unpickling", p->name);
        pk->objs = objs;
        pk->cap = cap;
    }
    memset(&pk->objs[pk->count], 0, sizeof pk->objs[0]);
    pk->objs[pk->count].type = type;
    *ref = pk->count++;
    return RF_OK;
}

static rf_status push(parser *p, uint32_t ref)
{
    if (p->sp == p->stack_cap) {
        if (p->stack_cap >= MAX_STACK)
            return fail(p, "pickle stack deeper than %u at offset %zu", MAX_STACK, p->op_at);
        size_t cap = p->stack_cap ? p->stack_cap * 2 : 64;
        uint32_t *s = realloc(p->stack, cap * sizeof *s);
        if (!s)
            return rf_fail(p->err, RF_E_NOMEM, "%s: out of memory unpickling", p->name);
        p->stack = s;
        p->stack_cap = cap;
    }
    p->stack[p->sp++] = ref;
    return RF_OK;
}

static size_t mark_base(const parser *p)
{
    return p->nmarks ? p->marks[p->nmarks - 1] : 0;
}

static rf_status pop(parser *p, uint32_t *ref)
{
    if (p->sp <= mark_base(p))
        return fail(p, "pickle stack underflow at offset %zu", p->op_at);
    *ref = p->stack[--p->sp];
    return RF_OK;
}

static rf_status top(parser *p, uint32_t *ref)
{
    if (p->sp <= mark_base(p))
        return fail(p, "pickle stack underflow at offset %zu", p->op_at);
    *ref = p->stack[p->sp - 1];
    return RF_OK;
}

static rf_status pop_mark(parser *p, size_t *base)
{
    if (!p->nmarks)
        return fail(p, "pickle opcode at offset %zu needs a MARK and there is none", p->op_at);
    *base = p->marks[--p->nmarks];
    return RF_OK;
}

static rf_status add_items(parser *p, uint32_t ref, const uint32_t *items, size_t n)
{
    rf_pk_obj *o = &p->pk->objs[ref];
    if (n > UINT32_MAX - o->u.c.count)
        return fail(p, "container too large at offset %zu", p->op_at);
    if (o->u.c.count + n > o->u.c.cap) {
        size_t cap = o->u.c.cap ? o->u.c.cap : 4;
        while (cap < o->u.c.count + n)
            cap *= 2;
        if (cap > UINT32_MAX)
            cap = UINT32_MAX;
        uint32_t *it = realloc(o->u.c.items, cap * sizeof *it);
        if (!it)
            return rf_fail(p->err, RF_E_NOMEM, "%s: out of memory unpickling", p->name);
        o->u.c.items = it;
        o->u.c.cap = (uint32_t)cap;
    }
    if (n)
        memcpy(o->u.c.items + o->u.c.count, items, n * sizeof *items);
    o->u.c.count += (uint32_t)n;
    return RF_OK;
}

/* A new container holding stack[base..sp), which is popped. */
static rf_status collect(parser *p, rf_pk_type type, size_t base)
{
    uint32_t ref = 0;
    rf_status st = new_obj(p, type, &ref);
    /* the stack may still be unallocated (NULL) when the new container is empty */
    if (st == RF_OK && p->sp > base)
        st = add_items(p, ref, p->stack + base, p->sp - base);
    if (st != RF_OK)
        return st;
    p->sp = base;
    return push(p, ref);
}

static rf_status push_scalar(parser *p, rf_pk_type type, int64_t i)
{
    uint32_t ref = 0;
    rf_status st = new_obj(p, type, &ref);
    if (st != RF_OK)
        return st;
    p->pk->objs[ref].u.i = i;
    return push(p, ref);
}

/* The string's length comes first, in len_bytes little-endian bytes. */
static rf_status push_string(parser *p, rf_pk_type type, int len_bytes)
{
    rf_status st = need(p, (size_t)len_bytes);
    if (st != RF_OK)
        return st;
    uint64_t len = read_le(p, len_bytes);
    if (len > p->size - p->pos)
        return fail(p, "pickle truncated at offset %zu: string of %llu bytes at offset %zu runs "
                    "past the end", p->size, (unsigned long long)len, p->op_at);
    uint32_t ref = 0;
    if ((st = new_obj(p, type, &ref)) != RF_OK)
        return st;
    p->pk->objs[ref].u.s.ptr = p->data + p->pos;
    p->pk->objs[ref].u.s.len = (size_t)len;
    p->pos += (size_t)len;
    return push(p, ref);
}

static rf_status push_global(parser *p, const uint8_t *mod, size_t mod_len, const uint8_t *name,
                             size_t name_len)
{
    for (size_t i = 0; i < sizeof allowed_globals / sizeof allowed_globals[0]; i++) {
        if (strlen(allowed_globals[i].module) == mod_len &&
            memcmp(allowed_globals[i].module, mod, mod_len) == 0 &&
            strlen(allowed_globals[i].name) == name_len &&
            memcmp(allowed_globals[i].name, name, name_len) == 0) {
            uint32_t ref;
            rf_status st = new_obj(p, RF_PK_GLOBAL, &ref);
            if (st != RF_OK)
                return st;
            p->pk->objs[ref].u.g.kind = allowed_globals[i].kind;
            p->pk->objs[ref].u.g.dtype = allowed_globals[i].dtype;
            return push(p, ref);
        }
    }
    char m[80], n[80];
    rf_printable(mod, mod_len, m, sizeof m);
    rf_printable(name, name_len, n, sizeof n);
    return fail(p, "refused pickle global '%s.%s' at offset %zu", m, n, p->op_at);
}

static rf_status read_line(parser *p, const uint8_t **line, size_t *len)
{
    const uint8_t *start = p->data + p->pos;
    const uint8_t *nl = memchr(start, '\n', p->size - p->pos);
    if (!nl)
        return fail(p, "pickle truncated at offset %zu (GLOBAL at offset %zu has no end of line)",
                    p->size, p->op_at);
    *line = start;
    *len = (size_t)(nl - start);
    p->pos += *len + 1;
    return RF_OK;
}

static rf_status memo_put(parser *p, uint64_t idx)
{
    uint32_t ref = 0;
    rf_status st = top(p, &ref);
    if (st != RF_OK)
        return st;
    /* A real pickle numbers its memo entries 0, 1, 2, ...; each PUT costs at least 2 bytes. */
    if (idx >= p->size)
        return fail(p, "pickle memo index %llu at offset %zu is out of range",
                    (unsigned long long)idx, p->op_at);
    if (idx >= p->memo_cap) {
        size_t cap = p->memo_cap ? p->memo_cap : 64;
        while (cap <= idx)
            cap *= 2;
        uint32_t *m = realloc(p->memo, cap * sizeof *m);
        if (!m)
            return rf_fail(p->err, RF_E_NOMEM, "%s: out of memory unpickling", p->name);
        for (size_t i = p->memo_cap; i < cap; i++)
            m[i] = MISSING;
        p->memo = m;
        p->memo_cap = cap;
    }
    if (p->memo[idx] == MISSING)
        p->memo_len++;
    p->memo[idx] = ref;
    return RF_OK;
}

static rf_status memo_get(parser *p, uint64_t idx)
{
    if (idx >= p->memo_cap || p->memo[idx] == MISSING)
        return fail(p, "pickle memo entry %llu read at offset %zu was never stored",
                    (unsigned long long)idx, p->op_at);
    return push(p, p->memo[idx]);
}

static rf_status reduce(parser *p)
{
    uint32_t fn_ref = 0, args_ref = 0, ref;
    rf_status st = pop(p, &args_ref);
    if (st == RF_OK)
        st = pop(p, &fn_ref);
    if (st != RF_OK)
        return st;
    const rf_pk_obj *fn = &p->pk->objs[fn_ref];
    const rf_pk_obj *args = &p->pk->objs[args_ref];
    if (fn->type != RF_PK_GLOBAL || fn->u.g.kind == RF_PKG_STORAGE)
        return fail(p, "refused REDUCE of a %s at offset %zu",
                    fn->type == RF_PK_GLOBAL ? "storage type" : rf_pk_type_name(fn->type),
                    p->op_at);
    if (args->type != RF_PK_TUPLE)
        return fail(p, "REDUCE at offset %zu has %s arguments, not a tuple",
                    p->op_at, rf_pk_type_name(args->type));
    switch (fn->u.g.kind) {
    case RF_PKG_ORDERED_DICT:
        if (args->u.c.count != 0)
            return fail(p, "OrderedDict with arguments at offset %zu is not supported", p->op_at);
        if ((st = new_obj(p, RF_PK_DICT, &ref)) != RF_OK)
            return st;
        return push(p, ref);
    case RF_PKG_REBUILD_PARAMETER: {
        /* A Parameter is its data tensor to us; requires_grad and hooks do not matter. */
        if (args->u.c.count != 3 || p->pk->objs[args->u.c.items[0]].type != RF_PK_TENSOR)
            return fail(p, "_rebuild_parameter at offset %zu does not wrap a tensor", p->op_at);
        return push(p, args->u.c.items[0]);
    }
    default: {
        uint32_t pair[2] = {fn_ref, args_ref};
        if ((st = new_obj(p, RF_PK_TENSOR, &ref)) != RF_OK ||
            (st = add_items(p, ref, pair, 2)) != RF_OK)
            return st;
        return push(p, ref);
    }
    }
}

static rf_status step(parser *p, int *done)
{
    uint32_t a = 0, b = 0, ref;
    size_t base = 0;
    rf_status st;
    p->op_at = p->pos;
    if ((st = need(p, 1)) != RF_OK)
        return st;
    uint8_t op = p->data[p->pos++];
    switch (op) {
    case 0x80: /* PROTO */
        if ((st = need(p, 1)) != RF_OK)
            return st;
        a = p->data[p->pos++];
        if (a < 2 || a > 5)
            return fail(p, "unsupported pickle protocol %u at offset %zu", a, p->op_at);
        return RF_OK;
    case 0x95: { /* FRAME: only a read-ahead hint; every read is bounds-checked anyway */
        if ((st = need(p, 8)) != RF_OK)
            return st;
        uint64_t len = read_le(p, 8);
        if (len > p->size - p->pos)
            return fail(p, "pickle truncated at offset %zu: frame of %llu bytes at offset %zu "
                        "runs past the end", p->size, (unsigned long long)len, p->op_at);
        return RF_OK;
    }
    case '.': /* STOP */
        if (p->nmarks)
            return fail(p, "pickle STOP at offset %zu with a MARK still open", p->op_at);
        *done = 1;
        return RF_OK;
    case 'c': { /* GLOBAL */
        const uint8_t *mod, *name;
        size_t mod_len, name_len;
        if ((st = read_line(p, &mod, &mod_len)) != RF_OK ||
            (st = read_line(p, &name, &name_len)) != RF_OK)
            return st;
        return push_global(p, mod, mod_len, name, name_len);
    }
    case 0x93: { /* STACK_GLOBAL */
        if ((st = pop(p, &b)) != RF_OK || (st = pop(p, &a)) != RF_OK)
            return st;
        const rf_pk_obj *mod = &p->pk->objs[a], *name = &p->pk->objs[b];
        if (mod->type != RF_PK_STR || name->type != RF_PK_STR)
            return fail(p, "STACK_GLOBAL at offset %zu needs two strings", p->op_at);
        return push_global(p, mod->u.s.ptr, mod->u.s.len, name->u.s.ptr, name->u.s.len);
    }
    case 'q': /* BINPUT */
        if ((st = need(p, 1)) != RF_OK)
            return st;
        return memo_put(p, read_le(p, 1));
    case 'r': /* LONG_BINPUT */
        if ((st = need(p, 4)) != RF_OK)
            return st;
        return memo_put(p, read_le(p, 4));
    case 0x94: /* MEMOIZE */
        return memo_put(p, p->memo_len);
    case 'h': /* BINGET */
        if ((st = need(p, 1)) != RF_OK)
            return st;
        return memo_get(p, read_le(p, 1));
    case 'j': /* LONG_BINGET */
        if ((st = need(p, 4)) != RF_OK)
            return st;
        return memo_get(p, read_le(p, 4));
    case '(': /* MARK */
        if (p->nmarks == MAX_MARKS)
            return fail(p, "pickle MARKs nested deeper than %d at offset %zu", MAX_MARKS,
                        p->op_at);
        p->marks[p->nmarks++] = p->sp;
        return RF_OK;
    case '}': /* EMPTY_DICT */
        return collect(p, RF_PK_DICT, p->sp);
    case ')': /* EMPTY_TUPLE */
        return collect(p, RF_PK_TUPLE, p->sp);
    case ']': /* EMPTY_LIST */
        return collect(p, RF_PK_LIST, p->sp);
    case 't': /* TUPLE */
        if ((st = pop_mark(p, &base)) != RF_OK)
            return st;
        return collect(p, RF_PK_TUPLE, base);
    case 'l': /* LIST */
        if ((st = pop_mark(p, &base)) != RF_OK)
            return st;
        return collect(p, RF_PK_LIST, base);
    case 'd': /* DICT */
        if ((st = pop_mark(p, &base)) != RF_OK)
            return st;
        if ((p->sp - base) % 2)
            return fail(p, "DICT at offset %zu has an odd number of items", p->op_at);
        return collect(p, RF_PK_DICT, base);
    case 0x85: case 0x86: case 0x87: /* TUPLE1, TUPLE2, TUPLE3 */
        if (p->sp < mark_base(p) + (size_t)(op - 0x84))
            return fail(p, "pickle stack underflow at offset %zu", p->op_at);
        return collect(p, RF_PK_TUPLE, p->sp - (size_t)(op - 0x84));
    case 'a': case 'e': case 's': case 'u': { /* APPEND, APPENDS, SETITEM, SETITEMS */
        int is_dict = op == 's' || op == 'u';
        if (op == 'a' || op == 's') {
            size_t n = op == 'a' ? 1 : 2;
            if (p->sp < mark_base(p) + n + 1)
                return fail(p, "pickle stack underflow at offset %zu", p->op_at);
            base = p->sp - n;
        } else if ((st = pop_mark(p, &base)) != RF_OK) {
            return st;
        }
        if (base <= mark_base(p))
            return fail(p, "pickle stack underflow at offset %zu", p->op_at);
        ref = p->stack[base - 1];
        rf_pk_type want = is_dict ? RF_PK_DICT : RF_PK_LIST;
        if (p->pk->objs[ref].type != want)
            return fail(p, "%s at offset %zu on a %s", is_dict ? "SETITEM" : "APPEND",
                        p->op_at, rf_pk_type_name(p->pk->objs[ref].type));
        if (is_dict && (p->sp - base) % 2)
            return fail(p, "SETITEMS at offset %zu has an odd number of items", p->op_at);
        if ((st = add_items(p, ref, p->stack + base, p->sp - base)) != RF_OK)
            return st;
        p->sp = base;
        return RF_OK;
    }
    case 'J': /* BININT */
        if ((st = need(p, 4)) != RF_OK)
            return st;
        return push_scalar(p, RF_PK_INT, (int32_t)(uint32_t)read_le(p, 4));
    case 'K': /* BININT1 */
        if ((st = need(p, 1)) != RF_OK)
            return st;
        return push_scalar(p, RF_PK_INT, (int64_t)read_le(p, 1));
    case 'M': /* BININT2 */
        if ((st = need(p, 2)) != RF_OK)
            return st;
        return push_scalar(p, RF_PK_INT, (int64_t)read_le(p, 2));
    case 0x8a: { /* LONG1 */
        if ((st = need(p, 1)) != RF_OK)
            return st;
        size_t n = p->data[p->pos++];
        if ((st = need(p, n)) != RF_OK)
            return st;
        if (n > 8) {
            if ((st = new_obj(p, RF_PK_BIGINT, &ref)) != RF_OK)
                return st;
            p->pk->objs[ref].u.s.ptr = p->data + p->pos;
            p->pk->objs[ref].u.s.len = n;
            p->pos += n;
            return push(p, ref);
        }
        uint64_t v = n ? read_le(p, (int)n) : 0;
        if (n && n < 8 && (v >> (8 * n - 1)) & 1)
            v |= ~UINT64_C(0) << (8 * n); /* sign-extend */
        return push_scalar(p, RF_PK_INT, (int64_t)v);
    }
    case 'X': return push_string(p, RF_PK_STR, 4);   /* BINUNICODE */
    case 0x8c: return push_string(p, RF_PK_STR, 1);  /* SHORT_BINUNICODE */
    case 0x8d: return push_string(p, RF_PK_STR, 8);  /* BINUNICODE8 */
    case 'T': /* BINSTRING: Python reads the length as signed */
        if (p->pos + 4 <= p->size && (p->data[p->pos + 3] & 0x80))
            return fail(p, "negative BINSTRING length at offset %zu", p->op_at);
        return push_string(p, RF_PK_STR, 4);
    case 'U': return push_string(p, RF_PK_STR, 1);   /* SHORT_BINSTRING */
    case 'B': return push_string(p, RF_PK_BYTES, 4); /* BINBYTES */
    case 'C': return push_string(p, RF_PK_BYTES, 1); /* SHORT_BINBYTES */
    case 0x8e: return push_string(p, RF_PK_BYTES, 8); /* BINBYTES8 */
    case 'G': { /* BINFLOAT: big-endian */
        if ((st = need(p, 8)) != RF_OK)
            return st;
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++)
            bits = bits << 8 | p->data[p->pos++];
        if ((st = new_obj(p, RF_PK_FLOAT, &ref)) != RF_OK)
            return st;
        memcpy(&p->pk->objs[ref].u.f, &bits, sizeof bits);
        return push(p, ref);
    }
    case 'N': return push_scalar(p, RF_PK_NONE, 0);
    case 0x88: return push_scalar(p, RF_PK_BOOL, 1); /* NEWTRUE */
    case 0x89: return push_scalar(p, RF_PK_BOOL, 0); /* NEWFALSE */
    case 'R': return reduce(p);
    case 'b': /* BUILD: only the OrderedDict's attributes (a state dict's _metadata) */
        if ((st = pop(p, &b)) != RF_OK || (st = top(p, &a)) != RF_OK)
            return st;
        if (p->pk->objs[a].type != RF_PK_DICT)
            return fail(p, "BUILD at offset %zu on a %s is not supported", p->op_at,
                        rf_pk_type_name(p->pk->objs[a].type));
        return RF_OK;
    case 'Q': /* BINPERSID */
        if ((st = pop(p, &a)) != RF_OK || (st = new_obj(p, RF_PK_PERSID, &ref)) != RF_OK ||
            (st = add_items(p, ref, &a, 1)) != RF_OK)
            return st;
        return push(p, ref);
    default:
        return fail(p, "unsupported pickle opcode 0x%02x at offset %zu", op, p->op_at);
    }
}

rf_status rf_pickle_parse(rf_pickle *pk, const uint8_t *data, size_t size, size_t *pos,
                          const char *name, uint32_t *root, rf_error *err)
{
    parser p;
    memset(&p, 0, sizeof p);
    p.pk = pk;
    p.data = data;
    p.size = size;
    p.pos = *pos;
    p.name = name;
    p.err = err;
    /* Every opcode makes at most one object and takes at least one byte. */
    p.obj_limit = pk->count + (size - *pos) + 16;
    if (p.obj_limit > UINT32_MAX - 1)
        p.obj_limit = UINT32_MAX - 1;
    rf_status st = RF_OK;
    int done = 0;
    while (!done && st == RF_OK)
        st = step(&p, &done);
    if (st == RF_OK)
        st = pop(&p, root);
    if (st == RF_OK)
        *pos = p.pos;
    free(p.stack);
    free(p.memo);
    return st;
}
