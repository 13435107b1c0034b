/* kernels.h - the one dispatch point: the table of kernel sets and the choice among them by
 * what the CPU supports; max pooling over a set's max_taps. */
#ifndef RF_KERNELS_H
#define RF_KERNELS_H

#include "kernels/kernel_set.h"

/* The features of this CPU (RF_CPU_* flags; __builtin_cpu_supports also checks that the OS
 * saves the registers), and the name of feature `bit` (0 .. RF_CPU_FEATURE_COUNT - 1). */
unsigned rf_cpu_features(void);
const char *rf_cpu_feature_name(int bit);

/* Every kernel set built in, indexed by id (the RF_KERNELS_AUTO entry is empty: name NULL),
 * whether this CPU supports it or not: rf_kernel_sets()[i] for i < *count. Their order is the
 * order of preference: RF_KERNELS_AUTO takes the last one the CPU supports. */
const rf_kernel_set *rf_kernel_sets(int *count);

/* The set for `which` (RF_KERNELS_AUTO: the best the CPU supports), or NULL if unsupported. */
const rf_kernel_set *rf_kernels_select(rf_kernels which);

/* out = 3x3 max pooling of in, stride 2, padding 1 (padding never wins), for rows
 * [row0, row1) of out, each pixel by ks->max_taps. */
void rf_maxpool3s2(const rf_kernel_set *ks, const rf_tensor *in, const rf_tensor *out, int row0,
                   int row1);

#endif
