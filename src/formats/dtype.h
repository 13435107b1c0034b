/* dtype.h - element types of the tensors in torch.save files, shared by the unpickler (storage
 * types) and the checkpoint reader (tensor types). */
#ifndef RF_DTYPE_H
#define RF_DTYPE_H

typedef enum {
    RF_DTYPE_F32 = 0,
    RF_DTYPE_F64,
    RF_DTYPE_F16,
    RF_DTYPE_BF16,
    RF_DTYPE_I64,
    RF_DTYPE_I32,
    RF_DTYPE_I16,
    RF_DTYPE_I8,
    RF_DTYPE_U8,
    RF_DTYPE_BOOL
} rf_dtype;

#endif
