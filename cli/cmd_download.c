/* cmd_download.c - `retinaface download`: fetch a known checkpoint, resumably, checked by size and sha256. */
#include "cli.h"

#include "retinaface_tools.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void help(FILE *f)
{
    fputs("usage: retinaface download NAME [options]\n"
          "       retinaface download --list\n\n"
          "Downloads a known model (resnet50, mobilenet0.25) into the cache,\n"
          "$XDG_CACHE_HOME/retinaface (default ~/.cache/retinaface), where `-m NAME` finds it.\n"
          "An interrupted download resumes from NAME.part; the file gets its final name only\n"
          "once its size and sha256 are right. The path is printed on stdout.\n\n"
          "Options:\n"
          "      --dir DIR           put the file in DIR instead of the cache\n"
          "      --url URL           fetch from this URL only (a mirror); with --sha256, NAME\n"
          "                          may be any file name to save as\n"
          "      --sha256 HEX        expected sha256 instead of the known one (the size is then\n"
          "                          not checked)\n"
          "      --tries N           attempts per URL (default 4)\n"
          "      --retry-delay S     first wait between attempts, doubled each time (default 1)\n"
          "      --timeout S         abandon an attempt after S seconds without data (default 60)\n"
          "  -q, --quiet             no progress bar, no notes\n"
          "      --list              the known models and whether they are in the cache\n"
          "  -h, --help              this help\n\n"
          "Exit status: 0 downloaded (or already there), 1 failed, 2 bad command line.\n",
          f);
}

typedef struct {
    int bar; /* stderr is a terminal: redraw one line */
    int drawn;
} progress_state;

static void human(char *buf, size_t size, double bytes)
{
    if (bytes >= 1e9)
        snprintf(buf, size, "%.2f GB", bytes / 1e9);
    else if (bytes >= 1e6)
        snprintf(buf, size, "%.1f MB", bytes / 1e6);
    else
        snprintf(buf, size, "%.0f kB", bytes / 1e3);
}

static void on_progress(void *user, int64_t done, int64_t total, double rate)
{
    progress_state *p = user;
    if (!p->bar)
        return;
    char d[32], t[32], r[32], bar[31];
    human(d, sizeof d, (double)done);
    human(r, sizeof r, rate);
    if (total > 0) {
        const int fill = (int)(30 * (double)done / (double)total);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
        bar[30] = '\0';
        human(t, sizeof t, (double)total);
        fprintf(stderr, "\r%10s / %-10s [%s] %3d%%  %s/s   ", d, t, bar,
                (int)(100 * (double)done / (double)total), r);
    } else {
        fprintf(stderr, "\r%10s  %s/s   ", d, r);
    }
    p->drawn = 1;
}

static void on_note(void *user, const char *message)
{
    progress_state *p = user;
    if (p->drawn)
        fputc('\n', stderr);
    p->drawn = 0;
    fprintf(stderr, "retinaface download: %s\n", message);
}

static int list(void)
{
    char dir[4096];
    rf_error err;
    const int have_cache = rf_cache_dir(dir, sizeof dir, &err) == RF_OK;
    printf("%-14s %-24s %12s  %s\n", "name", "file", "bytes", "cached");
    for (int i = 0; rf_known_model_at(i); i++) {
        const rf_known_model *k = rf_known_model_at(i);
        char path[4200];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, k->file);
        const int cached = have_cache && stat(path, &st) == 0 && st.st_size == k->size;
        printf("%-14s %-24s %12lld  %s\n", k->name, k->file, (long long)k->size,
               cached ? path : "no");
    }
    return CLI_EXIT_OK;
}

int cmd_download(int argc, char **argv)
{
    rf_download_options opt = rf_download_options_default();
    progress_state ps = {.bar = isatty(2)};
    const char *name = NULL, *dir = NULL, *v;
    int quiet = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help(stdout);
            return CLI_EXIT_OK;
        } else if (!strcmp(a, "--list")) {
            return list();
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (cli_is_option(a, "--dir")) {
            if (!(dir = cli_option_value(argc, argv, &i, "download")))
                return CLI_EXIT_USAGE;
        } else if (cli_is_option(a, "--url")) {
            if (!(opt.url = cli_option_value(argc, argv, &i, "download")))
                return CLI_EXIT_USAGE;
        } else if (cli_is_option(a, "--sha256")) {
            if (!(opt.sha256 = cli_option_value(argc, argv, &i, "download")))
                return CLI_EXIT_USAGE;
        } else if (cli_is_option(a, "--tries")) {
            if (!(v = cli_option_value(argc, argv, &i, "download")) ||
                cli_parse_int("download", "--tries", v, 1, 100, &opt.tries))
                return CLI_EXIT_USAGE;
        } else if (cli_is_option(a, "--retry-delay")) {
            float s;
            if (!(v = cli_option_value(argc, argv, &i, "download")) ||
                cli_parse_float("download", "--retry-delay", v, 0.0f, 3600.0f, &s))
                return CLI_EXIT_USAGE;
            opt.retry_delay_s = s;
        } else if (cli_is_option(a, "--timeout")) {
            int s;
            if (!(v = cli_option_value(argc, argv, &i, "download")) ||
                cli_parse_int("download", "--timeout", v, 1, 86400, &s))
                return CLI_EXIT_USAGE;
            opt.stall_timeout_s = s;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "retinaface download: unknown option '%s' (see --help)\n", a);
            return CLI_EXIT_USAGE;
        } else if (name) {
            fprintf(stderr, "retinaface download: one model at a time ('%s' and '%s')\n", name,
                    a);
            return CLI_EXIT_USAGE;
        } else {
            name = a;
        }
    }
    if (!name) {
        fprintf(stderr, "retinaface download: no model named (see --help or --list)\n");
        return CLI_EXIT_USAGE;
    }
    if (!rf_known_model_find(name) && !(opt.url && opt.sha256)) {
        fprintf(stderr, "retinaface download: unknown model '%s' (see --list; any other file "
                        "needs --url and --sha256)\n", name);
        return CLI_EXIT_USAGE;
    }
    if (!quiet) {
        opt.progress = on_progress;
        opt.note = on_note;
        opt.user = &ps;
    }
    char path[4096];
    rf_error err;
    const rf_status st = rf_download(name, dir, &opt, path, sizeof path, &err);
    if (ps.drawn)
        fputc('\n', stderr);
    if (st != RF_OK) {
        fprintf(stderr, "retinaface download: %s\n", err.message);
        return st == RF_E_ARG ? CLI_EXIT_USAGE : CLI_EXIT_FAILURE;
    }
    printf("%s\n", path);
    return CLI_EXIT_OK;
}
