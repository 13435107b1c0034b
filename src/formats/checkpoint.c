/* checkpoint.c - turns a torch.save file (legacy stream or zip) into a flat list of tensors. */
#include "formats/checkpoint.h"

#include "formats/pickle.h"
#include "formats/zip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Files beyond this are not RetinaFace checkpoints; refuse before allocating for them. */
#define MAX_FILE_BYTES (INT64_C(8) << 30)
#define MAX_KEY_BYTES 512
#define ALIGN 64

/* The LONG1 bytes of torch's legacy magic number 0x1950a86a20f9469cfc6c. */
static const uint8_t legacy_magic[10] = {0x6c, 0xfc, 0x9c, 0x46, 0xf9,
                                         0x20, 0x6a, 0xa8, 0x50, 0x19};

typedef struct {
    const uint8_t *name; /* the state-dict key, in the file's bytes (objects may move) */
    size_t name_len;
    rf_dtype dtype;
    int ndim;
    int64_t shape[RF_CKPT_MAX_DIMS], stride[RF_CKPT_MAX_DIMS];
    int64_t offset, numel;
    const uint8_t *skey; /* root storage key */
    size_t skey_len;
    int64_t storage_numel;          /* declared by the persistent id */
    int64_t view_offset, view_numel; /* the part of the root storage the tensor may use */
    const uint8_t *data;            /* root storage bytes, once located */
    int in_file;                    /* data lies in the file buffer, not a temporary */
    int direct;                     /* the tensor is used where it lies in the file */
} tdesc;

typedef struct {
    const char *name;
    rf_error *err;
    uint8_t *file; /* owned; freed at the end unless tensors point into it */
    rf_pickle pk;
    tdesc *t;
    size_t n;
} loader;

static size_t dtype_size(rf_dtype dtype)
{
    switch (dtype) {
    case RF_DTYPE_F64: case RF_DTYPE_I64: return 8;
    case RF_DTYPE_F32: case RF_DTYPE_I32: return 4;
    case RF_DTYPE_F16: case RF_DTYPE_BF16: case RF_DTYPE_I16: return 2;
    case RF_DTYPE_I8: case RF_DTYPE_U8: case RF_DTYPE_BOOL: return 1;
    }
    return 1;
}

const char *rf_dtype_name(rf_dtype dtype)
{
    switch (dtype) {
    case RF_DTYPE_F32: return "float32";
    case RF_DTYPE_F64: return "float64";
    case RF_DTYPE_F16: return "float16";
    case RF_DTYPE_BF16: return "bfloat16";
    case RF_DTYPE_I64: return "int64";
    case RF_DTYPE_I32: return "int32";
    case RF_DTYPE_I16: return "int16";
    case RF_DTYPE_I8: return "int8";
    case RF_DTYPE_U8: return "uint8";
    case RF_DTYPE_BOOL: return "bool";
    }
    return "unknown";
}

static const rf_pk_obj *obj(const loader *ld, uint32_t ref)
{
    return rf_pickle_get(&ld->pk, ref);
}

static int get_int(const rf_pk_obj *o, int64_t *v)
{
    if (o->type != RF_PK_INT)
        return 0;
    *v = o->u.i;
    return 1;
}

static rf_status bad_tensor(loader *ld, const tdesc *t, const char *what)
{
    char kb[120];
    return rf_fail(ld->err, RF_E_FORMAT, "%s: tensor '%s': %s", ld->name,
                   rf_printable(t->name, t->name_len, kb, sizeof kb), what);
}

/* ('storage', StorageType, key, location, numel[, view_metadata]) */
static rf_status parse_storage(loader *ld, tdesc *t, const rf_pk_obj *persid)
{
    const rf_pk_obj *pid = obj(ld, persid->u.c.items[0]);
    if (pid->type != RF_PK_TUPLE || pid->u.c.count < 5 || pid->u.c.count > 6 ||
        !rf_pk_str_eq(obj(ld, pid->u.c.items[0]), "storage"))
        return bad_tensor(ld, t, "persistent id is not ('storage', type, key, location, size)");
    const uint32_t *it = pid->u.c.items;
    const rf_pk_obj *type = obj(ld, it[1]), *key = obj(ld, it[2]);
    if (type->type != RF_PK_GLOBAL || type->u.g.kind != RF_PKG_STORAGE)
        return bad_tensor(ld, t, "storage type is not a torch storage class");
    if (key->type != RF_PK_STR || obj(ld, it[3])->type != RF_PK_STR)
        return bad_tensor(ld, t, "storage key or location is not a string");
    if (!get_int(obj(ld, it[4]), &t->storage_numel) || t->storage_numel < 0)
        return bad_tensor(ld, t, "storage size is not a non-negative int");
    t->dtype = type->u.g.dtype;
    t->skey = key->u.s.ptr;
    t->skey_len = key->u.s.len;
    t->view_offset = 0;
    t->view_numel = t->storage_numel;
    if (pid->u.c.count == 6 && obj(ld, it[5])->type != RF_PK_NONE) {
        /* Old torch saved storage views as (view_key, offset, size) into a root storage. */
        const rf_pk_obj *view = obj(ld, it[5]);
        if (view->type != RF_PK_TUPLE || view->u.c.count != 3 ||
            !get_int(obj(ld, view->u.c.items[1]), &t->view_offset) ||
            !get_int(obj(ld, view->u.c.items[2]), &t->view_numel) || t->view_offset < 0 ||
            t->view_numel < 0 || t->view_offset > t->storage_numel ||
            t->view_numel > t->storage_numel - t->view_offset)
            return bad_tensor(ld, t, "bad storage view metadata");
    }
    return RF_OK;
}

static rf_status parse_dims(loader *ld, tdesc *t, const rf_pk_obj *tuple, int64_t *dims,
                            const char *what)
{
    char msg[80];
    if (tuple->type != RF_PK_TUPLE || tuple->u.c.count > RF_CKPT_MAX_DIMS) {
        snprintf(msg, sizeof msg, "%s is not a tuple of at most %d ints", what,
                 RF_CKPT_MAX_DIMS);
        return bad_tensor(ld, t, msg);
    }
    for (uint32_t i = 0; i < tuple->u.c.count; i++) {
        if (!get_int(obj(ld, tuple->u.c.items[i]), &dims[i]) || dims[i] < 0) {
            snprintf(msg, sizeof msg, "%s holds something other than a non-negative int", what);
            return bad_tensor(ld, t, msg);
        }
    }
    t->ndim = (int)tuple->u.c.count;
    return RF_OK;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) or
 * _rebuild_tensor(storage, offset, size, stride). */
static rf_status parse_tensor(loader *ld, tdesc *t, const rf_pk_obj *val)
{
    char kb[120], msg[200];
    if (val->type != RF_PK_TENSOR) {
        snprintf(msg, sizeof msg, "state dict entry '%s' is a %s, not a tensor",
                 rf_printable(t->name, t->name_len, kb, sizeof kb),
                 rf_pk_type_name(val->type));
        return rf_fail(ld->err, RF_E_FORMAT, "%s: %s", ld->name, msg);
    }
    const rf_pk_obj *fn = obj(ld, val->u.c.items[0]), *args = obj(ld, val->u.c.items[1]);
    uint32_t n = args->u.c.count;
    int v2 = fn->u.g.kind == RF_PKG_REBUILD_TENSOR_V2;
    if (v2 ? (n != 6 && n != 7) : n != 4)
        return bad_tensor(ld, t, "wrong number of tensor rebuild arguments");
    const rf_pk_obj *storage = obj(ld, args->u.c.items[0]);
    if (storage->type != RF_PK_PERSID)
        return bad_tensor(ld, t, "storage is not a persistent id");
    rf_status st = parse_storage(ld, t, storage);
    if (st != RF_OK)
        return st;
    if (!get_int(obj(ld, args->u.c.items[1]), &t->offset) || t->offset < 0)
        return bad_tensor(ld, t, "storage offset is not a non-negative int");
    if ((st = parse_dims(ld, t, obj(ld, args->u.c.items[2]), t->shape, "size")) != RF_OK)
        return st;
    int ndim = t->ndim;
    if ((st = parse_dims(ld, t, obj(ld, args->u.c.items[3]), t->stride, "stride")) != RF_OK)
        return st;
    if (t->ndim != ndim)
        return bad_tensor(ld, t, "size and stride differ in length");
    /* The elements reached are offset + sum((size-1)*stride); all must lie inside the view. */
    t->numel = 1;
    int64_t last = t->offset;
    for (int d = 0; d < ndim; d++) {
        if (t->shape[d] == 0) {
            t->numel = 0;
            break;
        }
        if (t->numel > INT64_MAX / t->shape[d])
            return bad_tensor(ld, t, "too many elements");
        t->numel *= t->shape[d];
        if (t->stride[d] && t->shape[d] - 1 > (INT64_MAX - last) / t->stride[d])
            return bad_tensor(ld, t, "strides reach beyond any storage");
        last += (t->shape[d] - 1) * t->stride[d];
    }
    if (t->numel && last >= t->view_numel) {
        snprintf(msg, sizeof msg, "elements up to %lld lie outside its storage of %lld",
                 (long long)last, (long long)t->view_numel);
        return bad_tensor(ld, t, msg);
    }
    if (t->numel && !rf_mul_size((size_t)t->numel, dtype_size(t->dtype)))
        return bad_tensor(ld, t, "too many bytes");
    return RF_OK;
}

static rf_status collect_tensors(loader *ld, uint32_t root)
{
    const rf_pk_obj *sd = obj(ld, root);
    if (sd->type == RF_PK_DICT) {
        /* A training checkpoint: {"state_dict": {...}, "epoch": ..., ...}. */
        for (uint32_t i = 0; i + 1 < sd->u.c.count; i += 2) {
            const rf_pk_obj *v = obj(ld, sd->u.c.items[i + 1]);
            if (rf_pk_str_eq(obj(ld, sd->u.c.items[i]), "state_dict") && v->type == RF_PK_DICT) {
                sd = v;
                break;
            }
        }
    }
    if (sd->type != RF_PK_DICT)
        return rf_fail(ld->err, RF_E_FORMAT, "%s: the checkpoint holds a %s, not a dict of "
                       "tensors", ld->name, rf_pk_type_name(sd->type));
    ld->n = sd->u.c.count / 2;
    if (ld->n > INT32_MAX)
        return rf_fail(ld->err, RF_E_LIMIT, "%s: too many tensors", ld->name);
    ld->t = calloc(ld->n ? ld->n : 1, sizeof *ld->t);
    if (!ld->t)
        return rf_fail(ld->err, RF_E_NOMEM, "%s: out of memory", ld->name);
    for (size_t i = 0; i < ld->n; i++) {
        tdesc *t = &ld->t[i];
        const rf_pk_obj *key = obj(ld, sd->u.c.items[2 * i]);
        if (key->type != RF_PK_STR)
            return rf_fail(ld->err, RF_E_FORMAT, "%s: state dict key %zu is a %s, not a string",
                           ld->name, i, rf_pk_type_name(key->type));
        t->name = key->u.s.ptr;
        t->name_len = key->u.s.len;
        if (t->name_len > MAX_KEY_BYTES || memchr(t->name, 0, t->name_len))
            return bad_tensor(ld, t, "name too long or holds a NUL byte");
        rf_status st = parse_tensor(ld, t, obj(ld, sd->u.c.items[2 * i + 1]));
        if (st != RF_OK)
            return st;
    }
    return RF_OK;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(const rf_ckpt_tensor *const *)a)->name,
                  (*(const rf_ckpt_tensor *const *)b)->name);
}

typedef struct {
    uint8_t *file;  /* the checkpoint's bytes, kept when tensors point into them */
    uint8_t *arena; /* names, and tensors that had to be copied */
} owned_mem;

static int is_contiguous(const tdesc *t)
{
    int64_t expect = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expect)
            return 0;
        expect *= t->shape[d];
    }
    return 1;
}

static const uint8_t *tensor_start(const tdesc *t)
{
    return t->data + (size_t)(t->view_offset + t->offset) * dtype_size(t->dtype);
}

/* Tensors that lie contiguous and aligned in the file stay there; the rest are copied,
 * contiguous and aligned, into one block that also holds the names. */
static rf_status build(loader *ld, rf_checkpoint *out)
{
    size_t copied = 0, names = 0;
    int direct_count = 0;
    for (size_t i = 0; i < ld->n; i++) {
        tdesc *t = &ld->t[i];
        size_t es = dtype_size(t->dtype), bytes = (size_t)t->numel * es;
        t->direct = t->in_file && t->numel && is_contiguous(t) &&
                    (uintptr_t)tensor_start(t) % es == 0;
        direct_count += t->direct;
        if (!t->direct) {
            if (bytes > SIZE_MAX / 4 - copied)
                return rf_fail(ld->err, RF_E_LIMIT, "%s: tensors too large", ld->name);
            copied += (bytes + ALIGN - 1) / ALIGN * ALIGN;
        }
        names += t->name_len + 1;
    }
    size_t total = (copied + names + ALIGN - 1) / ALIGN * ALIGN + ALIGN;
    owned_mem *own = calloc(1, sizeof *own);
    uint8_t *arena = aligned_alloc(ALIGN, total);
    rf_ckpt_tensor *ts = calloc(ld->n ? ld->n : 1, sizeof *ts);
    rf_ckpt_tensor **sorted = calloc(ld->n ? ld->n : 1, sizeof *sorted);
    if (!own || !arena || !ts || !sorted) {
        free(own);
        free(arena);
        free(ts);
        free(sorted);
        return rf_fail(ld->err, RF_E_NOMEM, "%s: out of memory for %zu bytes of tensors",
                       ld->name, total);
    }
    uint8_t *data_p = arena, *name_p = arena + copied;
    int prefixed = 0;
    for (size_t i = 0; i < ld->n; i++) {
        const tdesc *t = &ld->t[i];
        rf_ckpt_tensor *o = &ts[i];
        size_t es = dtype_size(t->dtype), bytes = (size_t)t->numel * es;
        const uint8_t *k = t->name;
        size_t kl = t->name_len;
        if (kl >= 7 && memcmp(k, "module.", 7) == 0) {
            k += 7;
            kl -= 7;
            prefixed++;
        }
        memcpy(name_p, k, kl);
        name_p[kl] = '\0';
        o->name = (char *)name_p;
        name_p += kl + 1;
        o->dtype = t->dtype;
        o->ndim = t->ndim;
        memcpy(o->shape, t->shape, sizeof o->shape);
        o->numel = t->numel;
        sorted[i] = o;
        if (t->direct) {
            o->data = tensor_start(t);
            continue;
        }
        o->data = data_p;
        if (t->numel && is_contiguous(t)) {
            memcpy(data_p, tensor_start(t), bytes);
        } else if (t->numel) {
            /* Walk the index odometer, keeping the source offset in step with it. */
            const uint8_t *src = t->data + (size_t)t->view_offset * es;
            int64_t idx[RF_CKPT_MAX_DIMS] = {0}, at = t->offset;
            for (int64_t e = 0; e < t->numel; e++) {
                memcpy(data_p + (size_t)e * es, src + (size_t)at * es, es);
                for (int d = t->ndim - 1; d >= 0; d--) {
                    at += t->stride[d];
                    if (++idx[d] < t->shape[d])
                        break;
                    at -= t->stride[d] * t->shape[d];
                    idx[d] = 0;
                }
            }
        }
        data_p += (bytes + ALIGN - 1) / ALIGN * ALIGN;
    }
    qsort(sorted, ld->n, sizeof *sorted, cmp_name);
    for (size_t i = 1; i < ld->n; i++) {
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            char kb[120];
            rf_status st = rf_fail(ld->err, RF_E_FORMAT, "%s: tensor '%s' appears twice",
                                   ld->name, rf_printable((const uint8_t *)sorted[i]->name,
                                                  strlen(sorted[i]->name), kb, sizeof kb));
            free(own);
            free(arena);
            free(ts);
            free(sorted);
            return st;
        }
    }
    free(sorted);
    own->arena = arena;
    if (direct_count) {
        own->file = ld->file;
        ld->file = NULL;
    }
    out->tensors = ts;
    out->count = (int)ld->n;
    out->module_prefixed = prefixed;
    out->owned = own;
    return RF_OK;
}

static int cmp_skey(const void *a, const void *b)
{
    const tdesc *x = *(const tdesc *const *)a, *y = *(const tdesc *const *)b;
    size_t n = x->skey_len < y->skey_len ? x->skey_len : y->skey_len;
    int c = memcmp(x->skey, y->skey, n);
    return c ? c : (x->skey_len > y->skey_len) - (x->skey_len < y->skey_len);
}

/* Points every tensor that uses storage `key` at its bytes; all must agree on type and size.
 * Storages follow one another at odd offsets, so each is moved down onto its own 8-byte size
 * field (already read) to align it; going in file order, nothing unread is overwritten. */
static rf_status attach_storage(loader *ld, tdesc **by_key, const rf_pk_obj *key,
                                uint8_t *data, size_t size, size_t *pos)
{
    char kb[120];
    tdesc probe = {.skey = key->u.s.ptr, .skey_len = key->u.s.len}, *pp = &probe;
    tdesc **hit = bsearch(&pp, by_key, ld->n, sizeof *by_key, cmp_skey);
    rf_printable(key->u.s.ptr, key->u.s.len, kb, sizeof kb);
    if (!hit)
        return rf_fail(ld->err, RF_E_FORMAT, "%s: storage '%s' is listed but no tensor uses it",
                       ld->name, kb);
    while (hit > by_key && cmp_skey(hit - 1, &pp) == 0)
        hit--;
    const tdesc *first = *hit;
    if (first->data)
        return rf_fail(ld->err, RF_E_FORMAT, "%s: storage '%s' is listed twice", ld->name, kb);
    if (size - *pos < 8)
        return rf_fail(ld->err, RF_E_FORMAT, "%s: truncated at offset %zu: storage '%s' has no "
                       "size", ld->name, size, kb);
    uint64_t count = 0;
    for (int i = 0; i < 8; i++)
        count |= (uint64_t)data[*pos + (size_t)i] << (8 * i);
    *pos += 8;
    size_t es = dtype_size(first->dtype);
    if (count != (uint64_t)first->storage_numel)
        return rf_fail(ld->err, RF_E_FORMAT, "%s: storage '%s' at offset %zu holds %llu "
                       "elements, the pickle said %lld", ld->name, kb, *pos - 8,
                       (unsigned long long)count, (long long)first->storage_numel);
    if (count > (size - *pos) / es)
        return rf_fail(ld->err, RF_E_FORMAT, "%s: truncated at offset %zu: storage '%s' needs "
                       "%llu bytes from offset %zu", ld->name, size, kb,
                       (unsigned long long)(count * es), *pos);
    uint8_t *src = data + *pos, *dst = src - (uintptr_t)src % es;
    if (dst != src)
        memmove(dst, src, (size_t)(count * es));
    for (tdesc **p = hit; p < by_key + ld->n && cmp_skey(p, &pp) == 0; p++) {
        if ((*p)->dtype != first->dtype || (*p)->storage_numel != first->storage_numel)
            return rf_fail(ld->err, RF_E_FORMAT, "%s: storage '%s' is used with two types or "
                           "sizes", ld->name, kb);
        (*p)->data = dst;
        (*p)->in_file = 1;
    }
    *pos += (size_t)(count * es);
    return RF_OK;
}

static rf_status load_legacy(loader *ld, uint8_t *data, size_t size, rf_checkpoint *out)
{
    size_t pos = 0;
    uint32_t magic, proto, sys_info, root, keys;
    rf_status st = rf_pickle_parse(&ld->pk, data, size, &pos, ld->name, &magic, ld->err);
    if (st != RF_OK)
        return st;
    const rf_pk_obj *m = obj(ld, magic);
    if (m->type != RF_PK_BIGINT || m->u.s.len != sizeof legacy_magic ||
        memcmp(m->u.s.ptr, legacy_magic, sizeof legacy_magic) != 0)
        return rf_fail(ld->err, RF_E_FORMAT, "%s: not a torch.save file (no magic number)",
                       ld->name);
    if ((st = rf_pickle_parse(&ld->pk, data, size, &pos, ld->name, &proto, ld->err)) != RF_OK)
        return st;
    if (obj(ld, proto)->type != RF_PK_INT || obj(ld, proto)->u.i != 1001)
        return rf_fail(ld->err, RF_E_FORMAT, "%s: unsupported legacy torch.save protocol",
                       ld->name);
    if ((st = rf_pickle_parse(&ld->pk, data, size, &pos, ld->name, &sys_info, ld->err)) != RF_OK)
        return st;
    const rf_pk_obj *si = obj(ld, sys_info);
    if (si->type != RF_PK_DICT)
        return rf_fail(ld->err, RF_E_FORMAT, "%s: legacy system info is a %s, not a dict",
                       ld->name, rf_pk_type_name(si->type));
    for (uint32_t i = 0; i + 1 < si->u.c.count; i += 2) {
        const rf_pk_obj *v = obj(ld, si->u.c.items[i + 1]);
        if (rf_pk_str_eq(obj(ld, si->u.c.items[i]), "little_endian") &&
            v->type == RF_PK_BOOL && !v->u.i)
            return rf_fail(ld->err, RF_E_FORMAT, "%s: big-endian checkpoints are not supported",
                           ld->name);
    }
    if ((st = rf_pickle_parse(&ld->pk, data, size, &pos, ld->name, &root, ld->err)) != RF_OK ||
        (st = collect_tensors(ld, root)) != RF_OK ||
        (st = rf_pickle_parse(&ld->pk, data, size, &pos, ld->name, &keys, ld->err)) != RF_OK)
        return st;
    const rf_pk_obj *kl = obj(ld, keys);
    if (kl->type != RF_PK_LIST)
        return rf_fail(ld->err, RF_E_FORMAT, "%s: storage key list is a %s, not a list",
                       ld->name, rf_pk_type_name(kl->type));
    tdesc **by_key = malloc((ld->n ? ld->n : 1) * sizeof *by_key);
    if (!by_key)
        return rf_fail(ld->err, RF_E_NOMEM, "%s: out of memory", ld->name);
    for (size_t i = 0; i < ld->n; i++)
        by_key[i] = &ld->t[i];
    qsort(by_key, ld->n, sizeof *by_key, cmp_skey);
    for (uint32_t i = 0; i < kl->u.c.count && st == RF_OK; i++) {
        const rf_pk_obj *key = obj(ld, kl->u.c.items[i]);
        if (key->type != RF_PK_STR)
            st = rf_fail(ld->err, RF_E_FORMAT, "%s: storage key %u is a %s, not a string",
                         ld->name, i, rf_pk_type_name(key->type));
        else
            st = attach_storage(ld, by_key, key, data, size, &pos);
    }
    free(by_key);
    if (st != RF_OK)
        return st;
    for (size_t i = 0; i < ld->n; i++) {
        if (!ld->t[i].data) {
            char kb[120];
            return rf_fail(ld->err, RF_E_FORMAT, "%s: storage '%s' is missing from the data",
                           ld->name, rf_printable(ld->t[i].skey, ld->t[i].skey_len, kb, sizeof kb));
        }
    }
    return build(ld, out);
}

/* torch names the zip's top folder after the file, so find "<prefix>/data.pkl". */
static const rf_zip_entry *find_data_pkl(const rf_zip *zip, size_t *prefix_len)
{
    for (size_t i = 0; i < zip->count; i++) {
        const rf_zip_entry *e = &zip->entries[i];
        const char *slash = memchr(e->name, '/', e->name_len);
        if (slash && (size_t)(e->name + e->name_len - slash) == 9 &&
            memcmp(slash, "/data.pkl", 9) == 0) {
            *prefix_len = (size_t)(slash - e->name);
            return e;
        }
    }
    return NULL;
}

static rf_status load_zip(loader *ld, const uint8_t *data, size_t size, rf_checkpoint *out)
{
    rf_zip zip;
    rf_status st = rf_zip_open(&zip, data, size, ld->name, ld->err);
    if (st != RF_OK)
        return st;
    uint8_t **inflated = calloc(zip.count ? zip.count : 1, sizeof *inflated);
    uint8_t *pkl_alloc = NULL;
    if (!inflated) {
        rf_zip_close(&zip);
        return rf_fail(ld->err, RF_E_NOMEM, "%s: out of memory", ld->name);
    }
    size_t prefix_len = 0;
    const rf_zip_entry *pkl = find_data_pkl(&zip, &prefix_len);
    char entry[MAX_KEY_BYTES + 320];
    const uint8_t *bytes;
    if (!pkl) {
        st = rf_fail(ld->err, RF_E_FORMAT, "%s: zip has no '<archive>/data.pkl' entry, so it "
                     "is not a torch.save checkpoint", ld->name);
        goto done;
    }
    const char *prefix = pkl->name;
    if (prefix_len > 256) {
        st = rf_fail(ld->err, RF_E_FORMAT, "%s: zip folder name too long", ld->name);
        goto done;
    }
    snprintf(entry, sizeof entry, "%.*s/byteorder", (int)prefix_len, prefix);
    const rf_zip_entry *bo = rf_zip_find(&zip, entry, strlen(entry));
    uint8_t *bo_alloc = NULL;
    if (bo) {
        if ((st = rf_zip_read(&zip, bo, &bytes, &bo_alloc, ld->err)) != RF_OK)
            goto done;
        int big = bo->size == 3 && memcmp(bytes, "big", 3) == 0;
        free(bo_alloc);
        if (big) {
            st = rf_fail(ld->err, RF_E_FORMAT, "%s: big-endian checkpoints are not supported",
                         ld->name);
            goto done;
        }
    }
    if ((st = rf_zip_read(&zip, pkl, &bytes, &pkl_alloc, ld->err)) != RF_OK)
        goto done;
    char pkl_name[1024], shown[300];
    snprintf(pkl_name, sizeof pkl_name, "%s: %s/data.pkl", ld->name,
             rf_printable((const uint8_t *)prefix, prefix_len, shown, sizeof shown));
    size_t pos = 0;
    uint32_t root;
    if ((st = rf_pickle_parse(&ld->pk, bytes, (size_t)pkl->size, &pos, pkl_name, &root,
                              ld->err)) != RF_OK ||
        (st = collect_tensors(ld, root)) != RF_OK)
        goto done;
    for (size_t i = 0; i < ld->n; i++) {
        tdesc *t = &ld->t[i];
        char kb[120];
        snprintf(entry, sizeof entry, "%.*s/data/%.*s", (int)prefix_len, prefix,
                 (int)t->skey_len, (const char *)t->skey);
        const rf_zip_entry *e = t->skey_len <= MAX_KEY_BYTES && !memchr(t->skey, 0, t->skey_len)
                                    ? rf_zip_find(&zip, entry, strlen(entry))
                                    : NULL;
        if (!e) {
            char eb[300];
            st = rf_fail(ld->err, RF_E_FORMAT, "%s: zip has no entry '%s' for tensor '%s'",
                         ld->name, rf_printable((const uint8_t *)entry, strlen(entry), eb, sizeof eb),
                         rf_printable(t->name, t->name_len, kb, sizeof kb));
            goto done;
        }
        size_t idx = (size_t)(e - zip.entries);
        /* Tensors may share a storage; inflate it once. */
        if (inflated[idx])
            bytes = inflated[idx];
        else if ((st = rf_zip_read(&zip, e, &bytes, &inflated[idx], ld->err)) != RF_OK)
            goto done;
        if ((uint64_t)t->storage_numel > e->size / dtype_size(t->dtype)) {
            char eb[300];
            st = rf_fail(ld->err, RF_E_FORMAT, "%s: entry '%s' holds %llu bytes, fewer than "
                         "%lld elements of %s", ld->name,
                         rf_printable((const uint8_t *)entry, strlen(entry), eb, sizeof eb),
                         (unsigned long long)e->size,
                         (long long)t->storage_numel, rf_dtype_name(t->dtype));
            goto done;
        }
        t->data = bytes;
        t->in_file = !inflated[idx];
    }
    st = build(ld, out);
done:
    for (size_t i = 0; i < zip.count; i++)
        free(inflated[i]);
    free(inflated);
    free(pkl_alloc);
    rf_zip_close(&zip);
    return st;
}

/* Takes ownership of file (malloc'd); it is kept only if tensors point into it. */
static rf_status load_owned(uint8_t *file, size_t size, const char *name, rf_checkpoint *out,
                            rf_error *err)
{
    loader ld;
    memset(&ld, 0, sizeof ld);
    ld.name = name;
    ld.err = err;
    ld.file = file;
    rf_pickle_init(&ld.pk);
    rf_status st;
    if (size >= 4 && memcmp(file, "PK\x03\x04", 4) == 0)
        st = load_zip(&ld, file, size, out);
    else if (size >= 2 && file[0] == 0x80)
        st = load_legacy(&ld, file, size, out);
    else
        st = rf_fail(err, RF_E_FORMAT, "%s: not a torch.save checkpoint (neither a zip nor a "
                     "pickle)", name);
    rf_pickle_free(&ld.pk);
    free(ld.t);
    free(ld.file);
    return st == RF_OK ? rf_ok(err) : st;
}

rf_status rf_checkpoint_load_memory(const void *data, size_t size, const char *name,
                                    rf_checkpoint *out, rf_error *err)
{
    if (!out)
        return rf_fail(err, RF_E_ARG, "rf_checkpoint_load_memory: out is NULL");
    memset(out, 0, sizeof *out);
    if (!name)
        name = "<memory>";
    if (!data && size)
        return rf_fail(err, RF_E_ARG, "%s: data is NULL", name);
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return rf_fail(err, RF_E_NOMEM, "%s: out of memory for %zu bytes", name, size);
    if (size)
        memcpy(copy, data, size);
    return load_owned(copy, size, name, out, err);
}

rf_status rf_checkpoint_load(const char *path, rf_checkpoint *out, rf_error *err)
{
    if (!out)
        return rf_fail(err, RF_E_ARG, "rf_checkpoint_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return rf_fail(err, RF_E_ARG, "rf_checkpoint_load: path is NULL");
    uint8_t *buf;
    size_t size;
    rf_status st = rf_read_file(path, MAX_FILE_BYTES, &buf, &size, err);
    if (st != RF_OK)
        return st;
    return load_owned(buf, size, path, out, err);
}

const rf_ckpt_tensor *rf_checkpoint_find(const rf_checkpoint *ckpt, const char *name)
{
    if (!ckpt || !name)
        return NULL;
    for (int i = 0; i < ckpt->count; i++)
        if (strcmp(ckpt->tensors[i].name, name) == 0)
            return &ckpt->tensors[i];
    return NULL;
}

void rf_checkpoint_free(rf_checkpoint *ckpt)
{
    if (!ckpt)
        return;
    owned_mem *own = ckpt->owned;
    if (own) {
        free(own->file);
        free(own->arena);
        free(own);
    }
    free(ckpt->tensors);
    memset(ckpt, 0, sizeof *ckpt);
}
