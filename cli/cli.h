/* cli.h - what the retinaface subcommands share: model/input options, loading, JSON strings. */
#ifndef RF_CLI_H
#define RF_CLI_H

#include "retinaface.h"
#include "retinaface_tools.h"

#include <stdio.h>

/* Exit codes scripts can rely on. */
enum {
    CLI_EXIT_OK = 0,
    CLI_EXIT_FAILURE = 1, /* the work failed (unreadable image, bad model file, ...) */
    CLI_EXIT_USAGE = 2    /* bad command line */
};

typedef struct {
    const char *model;       /* -m/--model */
    rf_anchors anchors;      /* --anchors */
    rf_input_policy policy;  /* --input-size / --long-side / --original-size */
    int policy_given;
    int threads;             /* --threads */
    rf_kernels kernels;      /* --kernels */
    rf_precision precision;  /* --precision */
} cli_model_options;

void cli_model_options_init(cli_model_options *o, rf_input_policy default_policy);
/* If argv[*i] is one of the options above, consumes it (and its value), advancing *i, and
 * returns 1; returns 0 if it is not one of them; prints a message and returns -1 if its value
 * is bad. */
int cli_model_option(int argc, char **argv, int *i, const char *cmd, cli_model_options *o);
/* The help text of those options. */
/* threads_help: what --threads means for the command (its line of help). */
void cli_model_options_help(FILE *f, const char *threads_help);
/* Loads the model and creates one context; prints the error and returns nonzero on failure. */
int cli_open(const char *cmd, const cli_model_options *o, rf_model **model, rf_context **ctx);
/* Loads the model of o (a path or a downloaded model's name), packed for the precision asked
 * for, keeping the plain-layout weights only when the reference kernels are asked for. */
rf_status cli_load_model(const cli_model_options *o, rf_model **model, rf_error *err);

/* Whether arg is option `name`, alone or (long options) as "--name=value". */
int cli_is_option(const char *arg, const char *name);
/* Takes the value of option argv[*i] (from "--opt=value" or the next argument). */
const char *cli_option_value(int argc, char **argv, int *i, const char *cmd);
int cli_parse_int(const char *cmd, const char *opt, const char *s, int lo, int hi, int *out);
int cli_parse_float(const char *cmd, const char *opt, const char *s, float lo, float hi,
                    float *out);
/* Prints s as a JSON string literal. */
void cli_json_string(FILE *f, const char *s);
/* An output by rf_output's rules (retinaface_tools.h), or standard output for "-". */
typedef struct {
    FILE *f;
    rf_output out;
} cli_output;
/* Opens path; prints an error and returns -1 on failure. */
int cli_output_open(const char *cmd, const char *path, cli_output *o);
/* ok: finishes the file (for a regular file: renames it into place); otherwise (or if writing
 * failed) discards it. Prints the error; 0 on success. */
int cli_output_close(const char *cmd, cli_output *o, int ok);

/* One face as a JSON object: box, score, landmarks (docs/json.md). */
void cli_json_face(FILE *f, const rf_face *face);
/* Creates directory path unless it exists; prints an error and returns -1 on failure. */
int cli_make_dir(const char *cmd, const char *path);
/* Writes the aligned 112x112 chip (rf_align_face) of each face with score > threshold to
 * DIR/PREFIX_faceNN.png, NN counting those faces from 00 in their order (the order of the
 * JSON output). chip is scratch reused between calls ({0} at first). Prints the error and
 * returns -1 on failure. */
int cli_write_crops(const char *cmd, const char *dir, const char *prefix, const rf_image *image,
                    const rf_faces *faces, float threshold, rf_image_buf *chip);

/* A list of image paths. */
typedef struct {
    char **items;
    int count, capacity;
} cli_paths;
/* Adds arg to out: a directory as its .jpg/.jpeg/.png files sorted by name (a warning if it
 * has none), anything else as it is. Prints the error and returns -1 on failure. */
int cli_collect_images(const char *cmd, const char *arg, cli_paths *out);
/* Frees the list and passes status through. */
int cli_paths_free(cli_paths *l, int status);
/* Whether name ends in .jpg, .jpeg or .png (any case). */
int cli_has_image_ext(const char *name);

int cmd_detect(int argc, char **argv);
int cmd_video(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_download(int argc, char **argv);
int cmd_convert(int argc, char **argv);

#endif
