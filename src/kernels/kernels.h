/* kernels.h - the one dispatch point: the table of kernel sets and the choice among them by
 * what the CPU supports; max pooling over a set's max_taps. */
#ifndef RF_KERNELS_H
#define RF_KERNELS_H

#include "kernels/kernel_set.h"

#include <stddef.h>

/* The features of this CPU (RF_CPU_* flags; __builtin_cpu_supports also checks that the OS
 * saves the registers) less those the environment variable RETINAFACE_CPU_DISABLE names
 * (comma-separated /proc/cpuinfo names, e.g. "avx512_bf16,avx512_vnni": to see what a CPU
 * without them does; unknown names are ignored), and the name of feature `bit`
 * (0 .. RF_CPU_FEATURE_COUNT - 1). */
unsigned rf_cpu_features(void);
const char *rf_cpu_feature_name(int bit);         /* GCC's: "avx512bf16" */
const char *rf_cpu_feature_cpuinfo_name(int bit); /* /proc/cpuinfo's: "avx512_bf16" */

/* Every kernel set built in, whether this CPU supports it or not: rf_kernel_sets()[i] for
 * i < *count. Within a precision their order is the order of preference: RF_KERNELS_AUTO
 * takes the last one of that precision the CPU supports. */
const rf_kernel_set *rf_kernel_sets(int *count);

/* The set of family `which` (RF_KERNELS_AUTO: the best the CPU supports) for `precision`, or
 * NULL if the CPU lacks it; then *missing (if not NULL) holds the RF_CPU_* flags it lacks (0:
 * no such set). Auto does not fall back to the reference for bf16 and int8: it is scalar
 * code, far slower than the float32 SIMD sets, and is asked for by name. */
const rf_kernel_set *rf_kernels_select(rf_kernels which, rf_precision precision,
                                      unsigned *missing);

/* "avx512_bf16, avx512_vnni": the /proc/cpuinfo names of the RF_CPU_* flags in features, into
 * buf; the length it needed. */
int rf_cpu_features_text(unsigned features, char *buf, size_t size);

/* out = 3x3 max pooling of in, stride 2, padding 1 (padding never wins), for rows
 * [row0, row1) of out, each pixel by ks->max_taps; of uint8 or bf16 values where in holds
 * them (out too, with the same quantization and words a pixel). */
void rf_maxpool3s2(const rf_kernel_set *ks, const rf_tensor *in, const rf_tensor *out, int row0,
                   int row1);

#endif
