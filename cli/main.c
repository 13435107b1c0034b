/* main.c - the retinaface command: dispatches to its subcommands. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"detect", cmd_detect, "find faces in images; JSON, drawn pictures, raw tensors"},
    {"video", cmd_video, "faces in videos, streams and cameras; drawn or anonymized video, crops"},
    {"bench", cmd_bench, "time the forward pass; GFLOP/s, per-layer-kind times, memory"},
    {"eval", cmd_eval, "AP on WIDER FACE (official and Open Model Zoo protocols)"},
    {"download", cmd_download, "fetch a known checkpoint into the cache, checked by sha256"},
    {"convert", cmd_convert, "checkpoint to the fast-loading native format or to ONNX"},
};

static void usage(FILE *f)
{
    fprintf(f, "retinaface %s - RetinaFace face detector (ResNet50, MobileNet0.25)\n\n"
               "usage: retinaface COMMAND [options]   (retinaface COMMAND --help for more)\n\n"
               "commands:\n", RF_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n", "version", "print the version");
}

int main(int argc, char **argv)
{
    /* a reader that went away (a closed FIFO or pipe) becomes a write error naming the output,
     * reported like any other, rather than a silent death */
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("retinaface %s\n", RF_VERSION);
        return CLI_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "retinaface: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
