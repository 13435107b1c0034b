/* image_paths.c - the image files a command is given: files as they are, directories as the
 * .jpg/.jpeg/.png files in them. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static int add_path(cli_paths *l, const char *p)
{
    if (l->count == l->capacity) {
        int cap = l->capacity ? 2 * l->capacity : 16;
        char **grown = realloc(l->items, sizeof *grown * (size_t)cap);
        if (!grown)
            return -1;
        l->items = grown;
        l->capacity = cap;
    }
    if (!(l->items[l->count] = strdup(p)))
        return -1;
    l->count++;
    return 0;
}

int cli_paths_free(cli_paths *l, int status)
{
    for (int i = 0; i < l->count; i++)
        free(l->items[i]);
    free(l->items);
    *l = (cli_paths){0};
    return status;
}

int cli_has_image_ext(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") ||
                   !strcasecmp(dot, ".png"));
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cli_collect_images(const char *cmd, const char *arg, cli_paths *out)
{
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode)) {
        DIR *d = opendir(arg);
        if (!d) {
            fprintf(stderr, "retinaface %s: cannot open directory %s: %s\n", cmd, arg,
                    strerror(errno));
            return -1;
        }
        int first = out->count;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || !cli_has_image_ext(e->d_name))
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", arg, e->d_name);
            if (add_path(out, path)) {
                closedir(d);
                fprintf(stderr, "retinaface %s: out of memory\n", cmd);
                return -1;
            }
        }
        closedir(d);
        if (out->count == first)
            fprintf(stderr, "retinaface %s: warning: no .jpg/.jpeg/.png files in %s\n", cmd, arg);
        else /* (qsort may not be given the NULL of an empty list) */
            qsort(out->items + first, (size_t)(out->count - first), sizeof(char *), by_name);
        return 0;
    }
    if (add_path(out, arg)) {
        fprintf(stderr, "retinaface %s: out of memory\n", cmd);
        return -1;
    }
    return 0;
}
