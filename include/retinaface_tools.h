/* retinaface_tools.h - tools of libretinaface: output files, download known checkpoints, convert models.
 *
 * Download (libcurl; RF_E_UNSUPPORTED in a build without it):
 *
 *     rf_download_options opt = rf_download_options_default();
 *     char path[4096];
 *     rf_download("resnet50", NULL, &opt, path, sizeof path, &err);   // NULL dir: the cache
 *
 *   A known model has a file name, size, sha256, anchor preset and source URLs, tried in order.
 *   The transfer goes to NAME.part next to the final file and resumes from it (HTTP Range); a
 *   failed attempt (network error, HTTP 408/429/5xx) is retried with doubling back-off. Only a
 *   file whose size and sha256 match is renamed to its final name, so that name never holds a
 *   partial or unverified file; a complete .part that fails the check is deleted. Google
 *   Drive's "can't scan this file for viruses" page is answered (its form or confirm token).
 *   rf_download calls curl_global_init / curl_global_cleanup around its work; they are
 *   reference-counted and thread-safe in libcurl >= 7.84, the library's only process-wide state.
 *
 * Cache: $XDG_CACHE_HOME/retinaface, else $HOME/.cache/retinaface. rf_model_resolve maps a
 *   known name ("resnet50") to its cached file, so `--model resnet50` works after a download.
 *
 * Native format (docs/formats.md): the folded weights of a loaded model in the layout of the
 *   engine, behind a checked header; rf_model_load recognises it by its magic and maps it, with
 *   no parsing work. A native file carries its anchor preset: rf_model_load's `anchors` is not
 *   used for it.
 *
 * ONNX: opset 13, input `data` [N,3,H,W] (BGR minus mean, as rf_forward) with N, H and W
 *   dynamic; outputs face_rpn_bbox_pred [N,A,4], face_rpn_cls_prob [N,A,2] (softmax) and
 *   face_rpn_landmark_pred [N,A,10], A = rf_anchor_count(H, W).
 *
 * Like the rest of the library these never print nor exit; downloads report progress through
 * callbacks.
 */
#ifndef RETINAFACE_TOOLS_H
#define RETINAFACE_TOOLS_H

#include "retinaface.h"

#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------ output files */
/* Every file the library and the CLI write goes through rf_output, by these rules:
 * - a regular file, or a new name, is written to a temporary file beside it and renamed into
 *   place only when complete and synced: a reader never sees half a file, and a failed or killed
 *   writer leaves the previous file as it was (a kill may leave NAME.tmp-PID-N behind);
 * - a symbolic link is followed: its target is written by the rule above, the link stays;
 * - anything else that exists under the name (a character device such as /dev/null, a FIFO, a
 *   socket, /dev/stdout, /proc/self/fd/N) is opened and written in place, never replaced; a
 *   write error there (ENOSPC, EPIPE) is an error of rf_output_close. Opening a FIFO waits for
 *   its reader, and writing to one whose reader has gone raises SIGPIPE unless the program
 *   ignores it (the retinaface command does);
 * - a new file gets mode 0666 & ~umask; a replaced file keeps its mode (and owner, where the
 *   writer may set it); a file the writer may not write (a read-only one) is refused.
 *
 *     rf_output out;
 *     if (rf_output_open(&out, path, &err) == RF_OK) {
 *         rf_status st = fwrite(data, 1, n, out.f) == n ? RF_OK : RF_E_IO;
 *         st = rf_output_close(&out, st, &err);   // RF_OK: the whole file is in place
 *     }
 *
 * Errors name the path: "cannot write PATH: REASON". */
typedef struct {
    FILE *f;            /* write the contents here */
    /* private */
    char *path_;        /* as given, for messages */
    char *target_;      /* where the links lead */
    char *tmp_;         /* the temporary file, or NULL when written in place */
} rf_output;

RF_API rf_status rf_output_open(rf_output *out, const char *path, rf_error *err);
/* Finishes the file when status is RF_OK (flush, sync, rename); otherwise, or if finishing
 * fails, removes the temporary file and returns the error (the first one when status already
 * was). Frees what rf_output_open took; out may then be opened again. */
RF_API rf_status rf_output_close(rf_output *out, rf_status status, rf_error *err);

/* ------------------------------------------------------------------------------ known models */
typedef struct {
    const char *name;     /* "resnet50", "mobilenet0.25" */
    const char *file;     /* "Resnet50_Final.pth" */
    int64_t size;         /* bytes */
    const char *sha256;   /* lower-case hex */
    rf_anchors anchors;
    const char *urls[4];  /* tried in order; NULL-terminated */
} rf_known_model;

/* The i-th known model, or NULL past the end. */
RF_API const rf_known_model *rf_known_model_at(int i);
/* By name, or NULL. */
RF_API const rf_known_model *rf_known_model_find(const char *name);

/* The cache directory (not created here). RF_E_ARG if neither variable is set, RF_E_LIMIT if
 * it does not fit. */
RF_API rf_status rf_cache_dir(char *buf, size_t size, rf_error *err);

/* What `--model ARG` names: an existing file is itself; a known model name otherwise means its
 * file in the cache (RF_E_IO, saying how to get it, if it is not there or has the wrong size).
 * *known (may be NULL) receives the table entry or NULL. */
RF_API rf_status rf_model_resolve(const char *arg, char *path, size_t size,
                                  const rf_known_model **known, rf_error *err);

/* ------------------------------------------------------------------------------ download */
typedef struct {
    const char *url;        /* only this URL instead of the table's (a mirror) */
    const char *sha256;     /* expected hash instead of the table's; the size is then not known
                               in advance and not checked */
    int tries;              /* attempts per URL; default 4 */
    double retry_delay_s;   /* first back-off, doubled after each failure; default 1 */
    long stall_timeout_s;   /* give up an attempt after this long without data; default 60 */
    /* Bytes so far (including a resumed part), total (-1 if unknown), current rate. */
    void (*progress)(void *user, int64_t done, int64_t total, double bytes_per_s);
    /* One line about a retry, a fallback to the next URL or a resumed part. */
    void (*note)(void *user, const char *message);
    void *user;
} rf_download_options;

RF_API rf_download_options rf_download_options_default(void);

/* Downloads known model `name` (or, with opt->url and opt->sha256, any file: `name` is then
 * the file name to save as) into dir (NULL: the cache, created if missing). An existing final
 * file that passes the check is kept without a transfer. path receives the final file. */
RF_API rf_status rf_download(const char *name, const char *dir, const rf_download_options *opt,
                             char *path, size_t path_size, rf_error *err);

/* Lower-case hex sha256 of a file (65 bytes with the terminator). */
RF_API rf_status rf_sha256_file(const char *path, char hex[65], rf_error *err);

/* ------------------------------------------------------------------------------ conversion */
typedef enum {
    RF_STORAGE_F32 = 0, /* mapped and used in place */
    RF_STORAGE_F16 = 1, /* half the size; widened to float32 at load */
    RF_STORAGE_BF16 = 2 /* half the size; widened to float32 at load */
} rf_storage;

RF_API const char *rf_storage_name(rf_storage storage);               /* "f32", "f16", "bf16" */
RF_API rf_status rf_storage_parse(const char *name, rf_storage *out); /* RF_E_ARG if unknown */

/* Writes the native file through rf_output. */
RF_API rf_status rf_model_save_native(const rf_model *model, const char *path, rf_storage storage,
                                      rf_error *err);

/* Writes the ONNX model through rf_output. */
RF_API rf_status rf_model_save_onnx(const rf_model *model, const char *path, rf_error *err);

#ifdef __cplusplus
}
#endif
#endif
