/* retinaface.h - public API of libretinaface: load a RetinaFace checkpoint, run it, get faces.
 *
 * Typical use:
 *
 *     rf_error err;
 *     rf_model *model;
 *     if (rf_model_load("Resnet50_Final.pth", RF_ANCHORS_RETINAFACE, &model, &err) != RF_OK)
 *         fprintf(stderr, "%s\n", err.message);
 *     rf_context *ctx;                       // one per thread; owns all scratch memory
 *     rf_context_create(model, NULL, &ctx, &err);
 *     rf_image_buf img;                      // BGR, 8 bit
 *     rf_image_load("photo.jpg", &img, &err);
 *     rf_input_policy policy = rf_input_policy_original();
 *     rf_detect_params params = rf_detect_params_default();
 *     rf_faces faces = {0};
 *     rf_detect(ctx, &img.image, &policy, &params, &faces, &err);
 *     for (int i = 0; i < faces.count; i++) ... faces.faces[i].box, .score, .landmarks
 *     rf_faces_free(&faces); rf_image_buf_free(&img); rf_context_free(ctx); rf_model_free(model);
 *
 * Rules that hold for every function:
 * - A model is immutable once loaded: any number of threads may share it, each with its own
 *   context. A context must not be used by two threads at once.
 * - Errors come back as an rf_status; when `err` is not NULL it also receives a one-line message
 *   that names the file or argument at fault. The library never prints and never exits.
 * - Coordinates are pixels of the original image unless stated otherwise.
 */
#ifndef RETINAFACE_H
#define RETINAFACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RF_VERSION "0.1.0"

/* Marks what the shared library exports: it is built with -fvisibility=hidden, so a name not
 * declared with RF_API in an installed header stays inside it. */
#if defined(__GNUC__)
#define RF_API __attribute__((visibility("default")))
#else
#define RF_API
#endif

/* ------------------------------------------------------------------------------ errors */
typedef enum {
    RF_OK = 0,
    RF_E_ARG,         /* an argument is invalid (null pointer, bad size, unknown name) */
    RF_E_IO,          /* a file cannot be opened, read or written */
    RF_E_FORMAT,      /* a file is malformed, truncated or of an unsupported kind */
    RF_E_MODEL,       /* a checkpoint does not hold the tensors this network needs */
    RF_E_NOMEM,       /* out of memory */
    RF_E_LIMIT,       /* a documented limit was exceeded (image pixels, tensor size, ...) */
    RF_E_UNSUPPORTED, /* valid, but not supported here (e.g. a CPU feature missing) */
    RF_E_NETWORK      /* a download failed */
} rf_status;

typedef struct {
    rf_status status;
    char message[512];
} rf_error;

RF_API const char *rf_status_name(rf_status status);

/* ------------------------------------------------------------------------------ model */
typedef enum { RF_BACKBONE_MOBILENET025 = 0, RF_BACKBONE_RESNET50 = 1 } rf_backbone;

/* Anchor presets. RETINAFACE: min sizes [[16,32],[64,128],[256,512]], LeakyReLU(0.1) in the
 * MobileNet0.25 network (biubug6/Pytorch_Retinaface, Open Model Zoo). FACE1MB: min sizes
 * [[10,20],[32,64],[128,256]] and ReLU instead of LeakyReLU(0.1)
 * (biubug6/Face-Detector-1MB-with-landmark). Steps 8/16/32 and variances 0.1/0.2 for both. */
typedef enum { RF_ANCHORS_RETINAFACE = 0, RF_ANCHORS_FACE1MB = 1 } rf_anchors;

typedef struct rf_model rf_model;

/* Loads a torch.save checkpoint (legacy or zip format; keys may carry "module."). The backbone
 * is recognised from the keys; every tensor is checked for presence, dtype and shape. */
RF_API rf_status rf_model_load(const char *path, rf_anchors anchors, rf_model **out, rf_error *err);
/* The same from a buffer (copied as needed; the buffer may be freed afterwards). */
RF_API rf_status rf_model_load_memory(const void *data, size_t size, rf_anchors anchors,
                                      rf_model **out, rf_error *err);
/* A loaded model holds its weights in the layout of this CPU's fastest float32 kernels (AVX2
 * or AVX-512; see RF_LOAD_BF16 / RF_LOAD_INT8 for the others) and, by default, nothing else.
 * RF_LOAD_KEEP_REFERENCE also keeps the plain layout that contexts with RF_KERNELS_REFERENCE,
 * rf_model_save_native and rf_model_save_onnx read (those fail with RF_E_UNSUPPORTED without
 * it): 4 more bytes per parameter, 109 MB for ResNet50. Models of float32 native files loaded
 * from a path (whose weights stay in the mapped file until read) and models on CPUs without
 * AVX2 always have it. */
#define RF_LOAD_KEEP_REFERENCE 1u
RF_API rf_status rf_model_load_flags(const char *path, rf_anchors anchors, unsigned flags,
                                     rf_model **out, rf_error *err);
RF_API rf_status rf_model_load_memory_flags(const void *data, size_t size, rf_anchors anchors,
                                            unsigned flags, rf_model **out, rf_error *err);
/* Pack at load for the fastest kernels of bf16 or int8 contexts instead of float32 ones (a
 * context of another precision then needs RF_LOAD_KEEP_REFERENCE, as for the reference). */
#define RF_LOAD_BF16 2u
#define RF_LOAD_INT8 4u
/* Whether the plain-layout weights are there (see RF_LOAD_KEEP_REFERENCE). */
RF_API int rf_model_has_reference_weights(const rf_model *model);
RF_API void rf_model_free(rf_model *model);
RF_API rf_backbone rf_model_backbone(const rf_model *model);
RF_API rf_anchors rf_model_anchors(const rf_model *model);
/* Number of learned parameters (BatchNorm running statistics not counted). */
RF_API int64_t rf_model_parameters(const rf_model *model);

/* "resnet50", "mobilenet0.25" */
RF_API const char *rf_backbone_name(rf_backbone backbone);
RF_API const char *rf_anchors_name(rf_anchors anchors);              /* "retinaface", "face1mb" */
RF_API rf_status rf_anchors_parse(const char *name, rf_anchors *out); /* RF_E_ARG if unknown */

/* ------------------------------------------------------------------------------ context */
typedef enum {
    RF_KERNELS_AUTO = 0,  /* the fastest the CPU supports */
    RF_KERNELS_REFERENCE, /* portable C, the reference every fast path is tested against; needs
                           * a model loaded with RF_LOAD_KEEP_REFERENCE on CPUs with AVX2 */
    RF_KERNELS_AVX2,
    RF_KERNELS_AVX512
} rf_kernels;

/* What the convolutions compute in. FP32 is exact (agrees with PyTorch float32). BF16: dense
 * convolutions with weights and inputs rounded to bfloat16, sums in float32 (AVX512_BF16).
 * INT8: dense convolutions with int8 weights (symmetric, one scale per output channel) and
 * uint8 inputs (one scale and zero point per tensor, from its range in each pass), sums in
 * int32 (AVX512_VNNI). In both, the first layer, depthwise layers, bias, residual, activation
 * and everything between the convolutions stay float32. The reference kernels run every
 * precision on any CPU. */
typedef enum { RF_PRECISION_FP32 = 0, RF_PRECISION_BF16, RF_PRECISION_INT8 } rf_precision;

typedef struct {
    int threads;        /* worker threads for one forward pass; 0 = 1 */
    rf_kernels kernels; /* RF_E_UNSUPPORTED from rf_context_create if the CPU lacks them, or
                         * the model the weights they read */
    rf_precision precision; /* RF_E_UNSUPPORTED if the kernels lack it (with the missing CPU
                             * feature named) */
} rf_context_options;

typedef struct rf_context rf_context;

RF_API rf_context_options rf_context_options_default(void); /* 1 thread, auto, fp32 */
/* options may be NULL for the defaults. */
RF_API rf_status rf_context_create(const rf_model *model, const rf_context_options *options,
                                   rf_context **out, rf_error *err);
RF_API void rf_context_free(rf_context *ctx);
RF_API const char *rf_kernels_name(rf_kernels kernels);              /* "auto", "reference", ... */
RF_API rf_status rf_kernels_parse(const char *name, rf_kernels *out);
/* the ones actually selected */
RF_API rf_kernels rf_context_kernels(const rf_context *ctx);
RF_API const char *rf_precision_name(rf_precision precision); /* "fp32", "bf16", "int8" */
RF_API rf_status rf_precision_parse(const char *name, rf_precision *out);
RF_API rf_precision rf_context_precision(const rf_context *ctx);
/* The name of the kernel set the context runs: its family and precision together, "avx512",
 * "avx512_bf16", "reference_int8", ... */
RF_API const char *rf_context_kernel_set_name(const rf_context *ctx);

/* Floating-point operations (2 per multiply-add) of one forward pass at the shape the context
 * last ran, counting the convolutions. */
RF_API double rf_context_flops(const rf_context *ctx);

/* Measures (for about 30 ms) the GFLOP/s one core sustains with nothing but the multiply-adds of
 * the context's kernels in its precision (bf16 dot products, int8 ones: GOP/s): the peak a
 * benchmark can quote a percentage of. */
RF_API double rf_context_fma_peak_gflops(const rf_context *ctx);

/* Per-layer-kind timing of the forward passes run while profiling is on (off by default;
 * turning it on resets the totals). */
typedef struct {
    const char *kind; /* "conv 1x1", "conv 3x3", "conv 3x3 depthwise", "conv 7x7", "other" */
    double ms;        /* total wall time */
    double flops;     /* total floating-point operations */
    int calls;
} rf_profile_entry;

#define RF_PROFILE_KINDS 5
RF_API void rf_context_profile_enable(rf_context *ctx, int on);
/* Fills up to max entries (RF_PROFILE_KINDS is enough), returns how many. */
RF_API int rf_context_profile(const rf_context *ctx, rf_profile_entry *entries, int max);

/* ------------------------------------------------------------------------------ images */
typedef enum { RF_PIXELS_BGR = 0, RF_PIXELS_RGB = 1 } rf_pixel_order;

/* A view of 8-bit, 3-channel interleaved pixels; stride is in bytes between rows. */
typedef struct {
    const uint8_t *pixels;
    int width, height;
    size_t stride;
    rf_pixel_order order;
} rf_image;

/* An owned BGR image, as returned by rf_image_load. image.pixels points into it. */
typedef struct {
    rf_image image;
    uint8_t *data;
} rf_image_buf;

/* Images larger than this many pixels are refused before any pixel memory is allocated. */
#define RF_IMAGE_MAX_PIXELS (64LL * 1024 * 1024)

/* JPEG or PNG (by content, not by name). Grey, grey+alpha, RGBA, palette and 16-bit PNGs are
 * converted to 8-bit BGR; alpha is dropped. */
RF_API rf_status rf_image_load(const char *path, rf_image_buf *out, rf_error *err);
RF_API rf_status rf_image_load_memory(const void *data, size_t size, rf_image_buf *out,
                                      rf_error *err);
RF_API rf_status rf_image_alloc(int width, int height, rf_image_buf *out, rf_error *err);
RF_API void rf_image_buf_free(rf_image_buf *img);
/* Format by extension: .png (lossless) or .jpg/.jpeg (quality 90). Nothing is left at path on
 * failure. */
RF_API rf_status rf_image_save(const char *path, const rf_image *img, rf_error *err);
/* Bilinear resize with half-pixel centres (as OpenCV's INTER_LINEAR); dst is allocated. */
RF_API rf_status rf_image_resize(const rf_image *src, int width, int height, rf_image_buf *dst,
                                 rf_error *err);

/* ------------------------------------------------------------------------------ detection */
typedef struct {
    float box[4];        /* x1, y1, x2, y2 */
    float score;         /* face probability */
    float landmarks[10]; /* (x, y) of: left eye, right eye, nose, left and right mouth corner */
} rf_face;

/* A growable list of faces; start from {0} and reuse across calls. */
typedef struct {
    rf_face *faces;
    int count;
    int capacity;
} rf_faces;
RF_API void rf_faces_free(rf_faces *faces);

/* How an image becomes the network input. */
typedef enum {
    RF_INPUT_ORIGINAL = 0, /* as is (the original repository's evaluation) */
    RF_INPUT_STRETCH,      /* to width x height, aspect not kept (Open Model Zoo: 640x640) */
    RF_INPUT_LONG_SIDE     /* longer side to long_side, aspect kept */
} rf_input_mode;

typedef struct {
    rf_input_mode mode;
    int width, height; /* RF_INPUT_STRETCH */
    int long_side;     /* RF_INPUT_LONG_SIDE */
} rf_input_policy;

RF_API rf_input_policy rf_input_policy_original(void);
RF_API rf_input_policy rf_input_policy_stretch(int width, int height);
RF_API rf_input_policy rf_input_policy_long_side(int long_side);

/* The network input size for an image of img_w x img_h, and the factors that map network
 * pixels back to image pixels (x_image = x_net * scale_x). */
RF_API rf_status rf_input_geometry(const rf_input_policy *policy, int img_w, int img_h, int *net_w,
                                   int *net_h, float *scale_x, float *scale_y, rf_error *err);

typedef struct {
    float score_threshold; /* keep anchors with score > this; default 0.02 */
    float nms_threshold;   /* drop boxes with IoU > this with a better one; default 0.4 */
    int pre_nms_top_k;     /* best-scoring candidates kept before NMS; default 5000, 0 = all */
    int keep_top_k;        /* faces kept after NMS; default 750, 0 = all */
    float nms_offset;      /* added to widths/heights in IoU: 1 (default, original repo) or 0 */
    int nms_in_network_pixels; /* 0 (default): NMS on image pixels; 1: on network pixels (OMZ) */
} rf_detect_params;

RF_API rf_detect_params rf_detect_params_default(void);

/* One image: preprocess by policy, forward, decode, threshold, NMS. Allocates nothing once
 * the context has seen this input size (and faces has the capacity). */
RF_API rf_status rf_detect(rf_context *ctx, const rf_image *image, const rf_input_policy *policy,
                           const rf_detect_params *params, rf_faces *faces, rf_error *err);

/* n images run as one batch; the policy must give them all the same network size
 * (RF_INPUT_STRETCH always does). faces is an array of n lists. */
RF_API rf_status rf_detect_batch(rf_context *ctx, const rf_image *images, int n,
                                 const rf_input_policy *policy, const rf_detect_params *params,
                                 rf_faces *faces, rf_error *err);

/* int8 calibration, optional: without it an int8 pass measures the range of each int8 layer's
 * input itself. rf_model_calibrate runs the images through a float32 context (`threads`, each
 * image at the size the policy gives) and widens the ranges the model holds (none at first,
 * or after rf_model_clear_ranges) so that, for every layer that runs in int8, they hold the
 * least and greatest value its input took: images can come in several calls. int8 contexts
 * created afterwards quantize with those ranges (values beyond them are clamped), which lets a
 * layer store its output the way the next one reads it instead of a pass over it; its accuracy
 * is that of the images' coverage. rf_model_save_native keeps the ranges. No context of the model
 * may run meanwhile; the model must allow a float32 context (a model loaded with RF_LOAD_INT8
 * needs RF_LOAD_KEEP_REFERENCE as well). */
RF_API rf_status rf_model_calibrate(rf_model *model, const rf_image *images, int count,
                                    const rf_input_policy *policy, int threads, rf_error *err);
/* Whether the model carries calibrated ranges (from rf_model_calibrate or its native file). */
RF_API int rf_model_calibrated(const rf_model *model);
/* Drops the model's calibrated ranges: int8 measures every input again. */
RF_API void rf_model_clear_ranges(rf_model *model);

/* ------------------------------------------------------------------------------ raw tensors */
/* Anchors per image for a network input of height x width: 2 * sum_s ceil(H/s) * ceil(W/s). */
RF_API int64_t rf_anchor_count(int height, int width);

/* Network inputs larger than this (batch * height * width) are refused with RF_E_LIMIT. */
#define RF_NETWORK_MAX_PIXELS (16LL * 1024 * 1024)

/* Runs the network on `input`, float32 NCHW [batch,3,height,width], BGR, mean
 * (104,117,123) already subtracted (the `data` tensor of the Open Model Zoo model). */
RF_API rf_status rf_forward(rf_context *ctx, const float *input, int batch, int height, int width,
                            rf_error *err);

/* The tensors of the last forward pass; owned by the context, valid until its next use. */
typedef struct {
    int batch, height, width; /* network input */
    int64_t anchors;          /* per image */
    const float *cls_prob;    /* face_rpn_cls_prob      [batch, anchors, 2] (softmax) */
    const float *bbox_pred;   /* face_rpn_bbox_pred     [batch, anchors, 4] (dx, dy, dw, dh) */
    const float *landmark_pred; /* face_rpn_landmark_pred [batch, anchors, 10] */
} rf_outputs;

RF_API rf_status rf_context_outputs(const rf_context *ctx, rf_outputs *out, rf_error *err);

/* Builds the network input of one image into dst (float32 [3, net_h, net_w], BGR minus mean),
 * resizing bilinearly if the size differs. */
RF_API rf_status rf_image_to_input(const rf_image *image, int net_w, int net_h, float *dst,
                                   rf_error *err);

/* Post-processing of one image's raw tensors (pointers to its [anchors, k] rows): priors for a
 * net_w x net_h input, decode, threshold, sort, NMS, caps; coordinates multiplied by
 * scale_x / scale_y. Deterministic: ties in score keep anchor order. */
RF_API rf_status rf_postprocess(const float *cls_prob, const float *bbox_pred,
                                const float *landmark_pred, int net_w, int net_h, float scale_x,
                                float scale_y, rf_anchors anchors, const rf_detect_params *params,
                                rf_faces *faces, rf_error *err);

/* ------------------------------------------------------------------------------ drawing, npy */
/* Draws boxes, scores and the five landmarks (distinct colours) of faces with
 * score >= min_score onto a BGR image. */
RF_API void rf_draw_faces(rf_image_buf *img, const rf_faces *faces, float min_score);

/* ------------------------------------------------------------------------------ face alignment */
/* Aligned face chips, the input of recognition networks (ArcFace / InsightFace): the similarity
 * transform (rotation, uniform scale, translation; never a reflection) that maps a face's five
 * landmarks onto the standard ArcFace template of a 112x112 chip with the least squared error
 * (Umeyama's method), and the chip it gives, sampled bilinearly. Coordinates follow OpenCV's
 * warpAffine: pixel centres at integer coordinates, image points outside the picture black. */
#define RF_ALIGN_SIZE 112

/* The template: (x, y) of the left eye, right eye, nose, left and right mouth corner in the
 * chip (InsightFace's arcface_dst), in the order of rf_face.landmarks. */
RF_API void rf_align_template(float points[10]);

/* The transform from image to chip: x' = m[0] x + m[1] y + m[2], y' = m[3] x + m[4] y + m[5]
 * (m[4] = m[0], m[3] = -m[1]). RF_E_ARG when a landmark is not finite or all coincide. */
RF_API rf_status rf_align_transform(const float landmarks[10], float m[6], rf_error *err);

/* The RF_ALIGN_SIZE x RF_ALIGN_SIZE chip of the face with these landmarks (rf_face.landmarks),
 * in the image's pixel order. out must be {0} or an image from an earlier call: one of that size
 * is reused, so a loop over faces allocates once. Free it with rf_image_buf_free. */
RF_API rf_status rf_align_face(const rf_image *image, const float landmarks[10],
                               rf_image_buf *out, rf_error *err);

/* Writes a float32 .npy file (version 1.0, little-endian, C order). */
RF_API rf_status rf_npy_save(const char *path, const float *data, int ndim, const int64_t *shape,
                             rf_error *err);

#ifdef __cplusplus
}
#endif
#endif
