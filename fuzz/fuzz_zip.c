/* fuzz_zip.c - libFuzzer target: the zip reader: directory, lookups, stored and deflated entries. */
#include "fuzz_common.h"
#include "formats/zip.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rf_error err;
    rf_zip zip;
    rf_status st = rf_zip_open(&zip, data, size, "fuzz.zip", &err);
    fuzz_check_error(st, &err, "fuzz.zip");
    if (st != RF_OK)
        return 0;
    uint8_t x = 0;
    for (size_t i = 0; i < zip.count; i++) {
        const rf_zip_entry *e = &zip.entries[i];
        if ((const uint8_t *)e->name < data ||
            e->name_len > size - (size_t)((const uint8_t *)e->name - data))
            abort();
        const rf_zip_entry *found = rf_zip_find(&zip, e->name, e->name_len);
        if (!found || found->name_len != e->name_len ||
            memcmp(found->name, e->name, e->name_len) != 0)
            abort();
        const uint8_t *bytes;
        uint8_t *allocated;
        st = rf_zip_read(&zip, e, &bytes, &allocated, &err);
        fuzz_check_error(st, &err, "fuzz.zip");
        if (st != RF_OK)
            continue;
        if (!allocated && e->size &&
            (bytes < data || e->size > size - (size_t)(bytes - data)))
            abort();
        x ^= fuzz_touch(bytes, (size_t)e->size);
        free(allocated);
    }
    fuzz_sink(x);
    rf_zip_close(&zip);
    return 0;
}
