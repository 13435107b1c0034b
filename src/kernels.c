/* kernels.c - chooses the kernel set once from what the CPU supports (cpuid). */
#include "kernels.h"

#include <string.h>

static const rf_kernel_set reference_set = {RF_KERNELS_REFERENCE, "reference", rf_conv_reference,
                                            NULL};

const rf_kernel_set *rf_kernels_select(rf_kernels which)
{
    switch (which) {
    case RF_KERNELS_AUTO:
    case RF_KERNELS_REFERENCE:
        return &reference_set;
    case RF_KERNELS_AVX2:
    case RF_KERNELS_AVX512:
        return NULL;
    }
    return NULL;
}

const char *rf_kernels_name(rf_kernels kernels)
{
    switch (kernels) {
    case RF_KERNELS_AUTO: return "auto";
    case RF_KERNELS_REFERENCE: return "reference";
    case RF_KERNELS_AVX2: return "avx2";
    case RF_KERNELS_AVX512: return "avx512";
    }
    return "unknown";
}

rf_status rf_kernels_parse(const char *name, rf_kernels *out)
{
    static const rf_kernels all[] = {RF_KERNELS_AUTO, RF_KERNELS_REFERENCE, RF_KERNELS_AVX2,
                                     RF_KERNELS_AVX512};
    for (size_t i = 0; name && i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(name, rf_kernels_name(all[i]))) {
            *out = all[i];
            return RF_OK;
        }
    return RF_E_ARG;
}
