/* download.c - known models, the cache directory, and verified, resumable downloads with libcurl. */
#include "retinaface_tools.h"

#include "base/common.h"
#include "fetch/sha256.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef RF_HAVE_CURL
#include <curl/curl.h>
#endif

/* ------------------------------------------------------------------------------ known models */
/* The Google Drive files are the original release (biubug6/Pytorch_Retinaface); the other
 * URLs are mirrors of the same bytes, which the size and sha256 check makes safe to list. */
static const rf_known_model known_models[] = {
    {"resnet50", "Resnet50_Final.pth", 109497761,
     "6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d", RF_ANCHORS_RETINAFACE,
     {"https://drive.google.com/uc?export=download&id=14KX6VqF69MdSPk3Tr9PlDYbq7ArpdNUW",
      "https://storage.openvinotoolkit.org/repositories/open_model_zoo/public/2022.1/"
      "retinaface-resnet50-pytorch/Resnet50_Final.pth",
      NULL}},
    {"mobilenet0.25", "mobilenet0.25_Final.pth", 1789735,
     "38ec7bb3c9cbfe2f40edabc05fab970a6d648747cbc534092be85d5eb9b37ed0", RF_ANCHORS_RETINAFACE,
     {"https://github.com/xinntao/facexlib/releases/download/v0.1.0/"
      "detection_mobilenet0.25_Final.pth",
      NULL}},
};
#define KNOWN_COUNT ((int)(sizeof known_models / sizeof known_models[0]))

const rf_known_model *rf_known_model_at(int i)
{
    return i >= 0 && i < KNOWN_COUNT ? &known_models[i] : NULL;
}

const rf_known_model *rf_known_model_find(const char *name)
{
    for (int i = 0; name && i < KNOWN_COUNT; i++)
        if (!strcmp(name, known_models[i].name))
            return &known_models[i];
    return NULL;
}

/* ------------------------------------------------------------------------------ files */
rf_status rf_cache_dir(char *buf, size_t size, rf_error *err)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    /* the XDG spec says a relative $XDG_CACHE_HOME is invalid and to be ignored */
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, size, "%s/retinaface", xdg);
    else if (home && *home)
        n = snprintf(buf, size, "%s/.cache/retinaface", home);
    else
        return rf_fail(err, RF_E_ARG, "no cache directory: neither XDG_CACHE_HOME nor HOME is set");
    if (n < 0 || (size_t)n >= size)
        return rf_fail(err, RF_E_LIMIT, "cache directory path too long");
    return rf_ok(err);
}

rf_status rf_sha256_file(const char *path, char hex[65], rf_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return rf_fail(err, RF_E_IO, "%s: cannot open: %s", path, strerror(errno));
    rf_sha256 s;
    rf_sha256_init(&s);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        rf_sha256_update(&s, buf, n);
    const int bad = ferror(f);
    fclose(f);
    if (bad)
        return rf_fail(err, RF_E_IO, "%s: read error", path);
    rf_sha256_hex(&s, hex);
    return rf_ok(err);
}

rf_status rf_model_resolve(const char *arg, char *path, size_t size,
                           const rf_known_model **known, rf_error *err)
{
    if (!arg || !path)
        return rf_fail(err, RF_E_ARG, "rf_model_resolve: null argument");
    const rf_known_model *k = rf_known_model_find(arg);
    struct stat st;
    if (known)
        *known = k;
    if (!k || stat(arg, &st) == 0) { /* a file of that name wins over the cache */
        if ((size_t)snprintf(path, size, "%s", arg) >= size)
            return rf_fail(err, RF_E_LIMIT, "%s: path too long", arg);
        return rf_ok(err);
    }
    char dir[4096];
    rf_status s = rf_cache_dir(dir, sizeof dir, err);
    if (s != RF_OK)
        return s;
    if ((size_t)snprintf(path, size, "%s/%s", dir, k->file) >= size)
        return rf_fail(err, RF_E_LIMIT, "%s/%s: path too long", dir, k->file);
    if (stat(path, &st) != 0)
        return rf_fail(err, RF_E_IO, "model '%s' is not downloaded (no %s); get it with "
                       "`retinaface download %s`", arg, path, arg);
    if (st.st_size != k->size)
        return rf_fail(err, RF_E_IO, "%s: %lld bytes, model '%s' has %lld; download it again",
                       path, (long long)st.st_size, arg, (long long)k->size);
    return rf_ok(err);
}

rf_download_options rf_download_options_default(void)
{
    return (rf_download_options){.tries = 4, .retry_delay_s = 1.0, .stall_timeout_s = 60};
}

#ifndef RF_HAVE_CURL
rf_status rf_download(const char *name, const char *dir, const rf_download_options *opt,
                      char *path, size_t path_size, rf_error *err)
{
    (void)dir, (void)opt, (void)path, (void)path_size;
    return rf_fail(err, RF_E_UNSUPPORTED, "cannot download %s: built without libcurl",
                   name ? name : "(null)");
}
#else
/* ------------------------------------------------------------------------------ downloads */
/* mkdir -p */
static rf_status make_dirs(const char *dir, rf_error *err)
{
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s", dir) >= sizeof path)
        return rf_fail(err, RF_E_LIMIT, "%s: path too long", dir);
    for (char *p = path + 1;; p++) {
        const char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        struct stat st;
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return rf_fail(err, RF_E_IO, "%s: cannot create directory: %s", path, strerror(errno));
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            return rf_fail(err, RF_E_IO, "%s: not a directory", path);
        if (c == '\0')
            return RF_OK;
        *p = c;
    }
}

/* Size (when size >= 0) and sha256 of path against the expected ones; RF_E_FORMAT, naming
 * both, when they differ. */
static rf_status verify(const char *path, int64_t size, const char *sha256, rf_error *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return rf_fail(err, RF_E_IO, "%s: %s", path, strerror(errno));
    if (size >= 0 && st.st_size != size)
        return rf_fail(err, RF_E_FORMAT, "%s: %lld bytes, expected %lld", path,
                       (long long)st.st_size, (long long)size);
    char hex[65];
    rf_status s = rf_sha256_file(path, hex, err);
    if (s != RF_OK)
        return s;
    if (strcmp(hex, sha256) != 0)
        return rf_fail(err, RF_E_FORMAT, "%s: sha256 %s, expected %s", path, hex, sha256);
    return rf_ok(err);
}

#define HTML_MAX (2 << 20)  /* a confirmation page; anything larger is not one */
#define CONFIRM_STEPS 3     /* confirmation pages answered in a row */

typedef enum { ATTEMPT_DONE, ATTEMPT_RETRY, ATTEMPT_NEXT_URL, ATTEMPT_FATAL, ATTEMPT_PAGE } outcome;

/* One HTTP transfer into the .part file. */
typedef struct {
    const rf_download_options *opt;
    CURL *curl;
    int fd;
    int64_t offset;     /* bytes of the part kept (the Range start) */
    int64_t written;    /* this transfer's bytes */
    int64_t expected;   /* the file's size, or -1 */
    int started;        /* the first body byte has been seen */
    int html;           /* the body is an HTML page, kept in memory */
    char *page;
    size_t page_len;
    char content_type[128];
    char content_range[128];
    const char *abort_reason; /* why the write callback stopped the transfer */
    int disk_error;
    struct timespec t0, last_report;
} transfer;

static double seconds_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) * 1e-9;
}

static void sleep_seconds(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
}

static void note(const rf_download_options *opt, const char *fmt, ...) RF_PRINTF(2, 3);
static void note(const rf_download_options *opt, const char *fmt, ...)
{
    if (!opt->note)
        return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    opt->note(opt->user, msg);
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
    transfer *t = user;
    const size_t len = size * n;
    /* every response of a redirect chain starts with its status line: forget the last one's */
    if (len >= 5 && !strncmp(data, "HTTP/", 5)) {
        t->content_type[0] = t->content_range[0] = '\0';
        return len;
    }
    const struct { const char *name; char *dst; size_t cap; } fields[2] = {
        {"content-type:", t->content_type, sizeof t->content_type},
        {"content-range:", t->content_range, sizeof t->content_range}};
    for (int i = 0; i < 2; i++) {
        const size_t k = strlen(fields[i].name);
        if (len <= k || strncasecmp(data, fields[i].name, k))
            continue;
        size_t a = k, b = len;
        while (a < b && isspace((unsigned char)data[a]))
            a++;
        while (b > a && isspace((unsigned char)data[b - 1]))
            b--;
        const size_t m = b - a < fields[i].cap - 1 ? b - a : fields[i].cap - 1;
        memcpy(fields[i].dst, data + a, m);
        fields[i].dst[m] = '\0';
    }
    return len;
}

/* Decides at the first byte where the body goes: the part file, appended (206 at our offset)
 * or rewritten (200), or memory (an HTML page). */
static int start_body(transfer *t)
{
    long code = 0;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &code);
    t->started = 1;
    if (!strncasecmp(t->content_type, "text/html", 9)) {
        t->html = 1;
        return 0;
    }
    if (code == 206) {
        long long start = -1;
        if (sscanf(t->content_range, "bytes %lld-", &start) != 1 || start != t->offset) {
            t->abort_reason = "the server resumed at another offset than asked";
            return -1;
        }
    } else if (t->offset > 0) {
        note(t->opt, "the server ignored the resume request; starting over");
        t->offset = 0;
    }
    if (ftruncate(t->fd, (off_t)t->offset) != 0 || lseek(t->fd, (off_t)t->offset, SEEK_SET) < 0) {
        t->disk_error = errno;
        return -1;
    }
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    transfer *t = user;
    const size_t len = size * n;
    if (!t->started && start_body(t) != 0)
        return 0;
    if (t->html) {
        if (t->page_len + len > HTML_MAX) {
            t->abort_reason = "an HTML page larger than any confirmation page";
            return 0;
        }
        char *grown = realloc(t->page, t->page_len + len + 1);
        if (!grown) {
            t->abort_reason = "out of memory";
            return 0;
        }
        t->page = grown;
        memcpy(t->page + t->page_len, data, len);
        t->page[t->page_len += len] = '\0';
        return len;
    }
    for (size_t done = 0; done < len;) {
        const ssize_t w = write(t->fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            t->disk_error = w < 0 ? errno : ENOSPC;
            return 0;
        }
        done += (size_t)w;
    }
    t->written += (int64_t)len;
    return len;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)ultotal, (void)ulnow, (void)dlnow;
    transfer *t = user;
    if (!t->opt->progress || t->html || seconds_since(&t->last_report) < 0.1)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &t->last_report);
    const int64_t total = t->expected >= 0 ? t->expected : dltotal > 0 ? t->offset + dltotal : -1;
    const double dt = seconds_since(&t->t0);
    t->opt->progress(t->opt->user, t->offset + t->written, total,
                     dt > 0 ? (double)t->written / dt : 0.0);
    return 0;
}

/* The value of attribute `name` inside the tag [tag, end), &amp; decoded, or 0 if absent. */
static int html_attr(const char *tag, const char *end, const char *name, char *out, size_t cap)
{
    const size_t k = strlen(name);
    for (const char *p = tag; p + k + 2 < end; p++) {
        if (strncmp(p, name, k) || p[k] != '=' || (p[k + 1] != '"' && p[k + 1] != '\'') ||
            !isspace((unsigned char)p[-1]))
            continue;
        const char quote = p[k + 1];
        const char *v = p + k + 2;
        size_t n = 0;
        for (; v < end && *v != quote && n + 1 < cap; v++) {
            out[n++] = *v;
            if (!strncmp(v, "&amp;", 5))
                v += 4;
        }
        out[n] = '\0';
        return 1;
    }
    return 0;
}

/* Google Drive answers a large file with a page "can't scan this file for viruses" whose form
 * (or, on older pages, a confirm=TOKEN link) leads to the file. Writes the next URL; 0 if the
 * page is not such a page. */
static int confirmation_url(const char *url, const char *page, char *next, size_t cap)
{
    const char *form = strstr(page, "id=\"download-form\"");
    if (form) {
        while (form > page && *form != '<')
            form--;
        const char *form_end = strstr(form, "</form>");
        const char *tag_end = strchr(form, '>');
        char action[1024];
        if (!form_end || !tag_end || !html_attr(form, tag_end, "action", action, sizeof action))
            return 0;
        CURLU *u = curl_url();
        char *resolved = NULL;
        int ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
                 curl_url_set(u, CURLUPART_URL, action, 0) == CURLUE_OK &&
                 curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK;
        for (const char *in = strstr(form, "<input"); ok && in && in < form_end;
             in = strstr(in + 6, "<input")) {
            const char *in_end = strchr(in, '>');
            char type[32], name[128], value[512];
            if (!in_end || !html_attr(in, in_end, "type", type, sizeof type) ||
                strcmp(type, "hidden") || !html_attr(in, in_end, "name", name, sizeof name) ||
                !html_attr(in, in_end, "value", value, sizeof value))
                continue;
            char pair[700];
            snprintf(pair, sizeof pair, "%s=%s", name, value);
            ok = curl_url_set(u, CURLUPART_QUERY, pair, CURLU_APPENDQUERY | CURLU_URLENCODE) ==
                 CURLUE_OK;
        }
        ok = ok && curl_url_get(u, CURLUPART_URL, &resolved, 0) == CURLUE_OK &&
             (size_t)snprintf(next, cap, "%s", resolved) < cap;
        curl_free(resolved);
        curl_url_cleanup(u);
        return ok;
    }
    const char *c = strstr(page, "confirm=");
    if (!c)
        return 0;
    c += 8;
    size_t n = 0;
    while (isalnum((unsigned char)c[n]) || c[n] == '-' || c[n] == '_')
        n++;
    return n > 0 && (size_t)snprintf(next, cap, "%s&confirm=%.*s", url, (int)n, c) < cap;
}

static int transient_http(long code) { return code == 408 || code == 429 || code >= 500; }

static int transient_curl(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

/* One GET of url into part, resuming from what part holds. On ATTEMPT_PAGE, next holds the
 * URL a confirmation page leads to. */
static outcome attempt(CURL *curl, const char *url, const char *part, int64_t expected,
                       const rf_download_options *opt, char *next, size_t next_cap,
                       rf_error *err)
{
    transfer t = {.opt = opt, .curl = curl, .expected = expected};
    t.fd = open(part, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (t.fd < 0) {
        rf_fail(err, RF_E_IO, "%s: cannot write: %s", part, strerror(errno));
        return ATTEMPT_FATAL;
    }
    struct stat st;
    t.offset = fstat(t.fd, &st) == 0 ? (int64_t)st.st_size : 0;
    if (expected >= 0 && t.offset > expected)
        t.offset = 0; /* not a prefix of this file: start over */
    if (expected >= 0 && t.offset == expected) {
        close(t.fd);
        return ATTEMPT_DONE; /* complete already; the check decides */
    }
    if (t.offset > 0)
        note(opt, "resuming %s at byte %lld", part, (long long)t.offset);
    char range[32], errbuf[CURL_ERROR_SIZE] = "";
    snprintf(range, sizeof range, "%lld-", (long long)t.offset);
    clock_gettime(CLOCK_MONOTONIC, &t.t0);
    t.last_report = t.t0;
    t.last_report.tv_sec -= 1;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_RANGE, t.offset > 0 ? range : NULL);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    const CURLcode rc = curl_easy_perform(curl);
    long code = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    const int closed = close(t.fd);
    outcome out;
    if (t.disk_error || (rc == CURLE_OK && closed != 0)) {
        rf_fail(err, RF_E_IO, "%s: write failed: %s", part,
                strerror(t.disk_error ? t.disk_error : errno));
        out = ATTEMPT_FATAL;
    } else if (rc == CURLE_OK && t.html) {
        out = confirmation_url(url, t.page ? t.page : "", next, next_cap) ? ATTEMPT_PAGE
                                                                                : ATTEMPT_NEXT_URL;
        if (out == ATTEMPT_NEXT_URL)
            rf_fail(err, RF_E_NETWORK, "%s: an HTML page instead of the model file", url);
    } else if (rc == CURLE_OK) {
        out = ATTEMPT_DONE;
    } else if (rc == CURLE_HTTP_RETURNED_ERROR && code == 416 && t.offset > 0) {
        out = ATTEMPT_DONE; /* nothing after our offset: the part may be whole; the check says */
    } else if (rc == CURLE_HTTP_RETURNED_ERROR) {
        rf_fail(err, RF_E_NETWORK, "%s: HTTP %ld", url, code);
        out = transient_http(code) ? ATTEMPT_RETRY : ATTEMPT_NEXT_URL;
    } else if (t.abort_reason) {
        rf_fail(err, RF_E_NETWORK, "%s: %s", url, t.abort_reason);
        if (t.started && !t.html && t.written == 0 && t.offset > 0)
            unlink(part); /* a bad resume: the next try starts from scratch */
        out = ATTEMPT_RETRY;
    } else {
        rf_fail(err, RF_E_NETWORK, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
        out = transient_curl(rc) ? ATTEMPT_RETRY : ATTEMPT_NEXT_URL;
    }
    if (opt->progress && out == ATTEMPT_DONE && !t.html && t.started) {
        const double dt = seconds_since(&t.t0);
        opt->progress(opt->user, t.offset + t.written, t.offset + t.written,
                      dt > 0 ? (double)t.written / dt : 0.0);
    }
    free(t.page);
    return out;
}

static CURL *new_handle(const rf_download_options *opt)
{
    CURL *curl = curl_easy_init();
    if (!curl)
        return NULL;
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, opt->stall_timeout_s > 0 ? opt->stall_timeout_s : 60L);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "retinaface/" RF_VERSION);
    curl_easy_setopt(curl, CURLOPT_COOKIEFILE, ""); /* Drive ties the confirmation to a cookie */
    return curl;
}

/* Tries one URL (and the confirmation pages it leads to) opt->tries times. */
static outcome from_url(const char *url, const char *part, const char *final, int64_t size,
                        const char *sha256, const rf_download_options *opt, rf_error *err)
{
    CURL *curl = new_handle(opt);
    if (!curl) {
        rf_fail(err, RF_E_NOMEM, "%s: cannot start libcurl", url);
        return ATTEMPT_FATAL;
    }
    char current[4096], next[4096];
    snprintf(current, sizeof current, "%s", url);
    double delay = opt->retry_delay_s;
    int pages = 0;
    outcome out = ATTEMPT_RETRY;
    for (int try = 1; try <= opt->tries;) {
        out = attempt(curl, current, part, size, opt, next, sizeof next, err);
        if (out == ATTEMPT_PAGE) {
            if (++pages > CONFIRM_STEPS) {
                rf_fail(err, RF_E_NETWORK, "%s: confirmation pages without end", url);
                out = ATTEMPT_NEXT_URL;
                break;
            }
            note(opt, "answering the confirmation page of %s", url);
            snprintf(current, sizeof current, "%s", next);
            continue;
        }
        if (out == ATTEMPT_DONE) {
            rf_status s = verify(part, size, sha256, err);
            if (s == RF_OK && rename(part, final) != 0) {
                rf_fail(err, RF_E_IO, "%s: cannot rename %s to it: %s", final, part,
                        strerror(errno));
                out = ATTEMPT_FATAL;
            } else if (s == RF_E_FORMAT) {
                unlink(part); /* verified wrong: resuming from it could never succeed */
                out = ATTEMPT_NEXT_URL;
            } else if (s != RF_OK) {
                out = ATTEMPT_FATAL;
            }
            break;
        }
        if (out != ATTEMPT_RETRY || try == opt->tries)
            break;
        note(opt, "try %d of %d failed (%s); again in %.1f s", try, opt->tries, err->message,
             delay);
        sleep_seconds(delay);
        delay *= 2;
        try++;
    }
    curl_easy_cleanup(curl);
    return out;
}

static int valid_sha256(const char *s)
{
    size_t n = 0;
    while (isxdigit((unsigned char)s[n]))
        n++;
    return n == 64 && s[n] == '\0';
}

rf_status rf_download(const char *name, const char *dir, const rf_download_options *options,
                      char *path, size_t path_size, rf_error *err)
{
    rf_error local;
    if (!err)
        err = &local; /* the retry notes quote the last error */
    const rf_download_options opt = options ? *options : rf_download_options_default();
    if (!name || !path)
        return rf_fail(err, RF_E_ARG, "rf_download: null argument");
    const rf_known_model *k = rf_known_model_find(name);
    if (!k && !(opt.url && opt.sha256))
        return rf_fail(err, RF_E_ARG, "unknown model '%s' (known: resnet50, mobilenet0.25; for "
                       "another file give a URL and a sha256)", name);
    if (!k && (!*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")))
        return rf_fail(err, RF_E_ARG, "'%s' is not a plain file name", name);
    if (opt.tries < 1)
        return rf_fail(err, RF_E_ARG, "%s: tries must be at least 1", name);
    char sha256[65];
    snprintf(sha256, sizeof sha256, "%s", opt.sha256 ? opt.sha256 : k->sha256);
    if (!valid_sha256(opt.sha256 ? opt.sha256 : k->sha256))
        return rf_fail(err, RF_E_ARG, "'%s' is not a sha256 (64 hex digits)", opt.sha256);
    for (char *c = sha256; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    const int64_t size = opt.sha256 ? -1 : k->size;
    const char *file = k ? k->file : name;

    char cache[4096], part[4200];
    rf_status s = RF_OK;
    if (!dir && (s = rf_cache_dir(cache, sizeof cache, err)) != RF_OK)
        return s;
    if (!dir)
        dir = cache;
    if ((s = make_dirs(dir, err)) != RF_OK)
        return s;
    if ((size_t)snprintf(path, path_size, "%s/%s", dir, file) >= path_size)
        return rf_fail(err, RF_E_LIMIT, "%s/%s: path too long", dir, file);
    /* a link under the final name stays a link: its target receives the file */
    char *target;
    if ((s = rf_output_target(path, &target, err)) != RF_OK)
        return s;
    if ((size_t)snprintf(part, sizeof part, "%s.part", target) >= sizeof part) {
        free(target);
        return rf_fail(err, RF_E_LIMIT, "%s/%s: path too long", dir, file);
    }
    struct stat st;
    if (stat(path, &st) == 0) {
        if (verify(path, size, sha256, err) == RF_OK) {
            note(&opt, "%s is already there and verified", path);
            free(target);
            return rf_ok(err);
        }
        note(&opt, "%s fails its check (%s); downloading it again", path, err->message);
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(target);
        return rf_fail(err, RF_E_NETWORK, "%s: cannot initialise libcurl", name);
    }
    const char *const *urls = opt.url ? (const char *const[]){opt.url, NULL} : k->urls;
    outcome out = ATTEMPT_NEXT_URL;
    for (int i = 0; urls[i] && out != ATTEMPT_DONE && out != ATTEMPT_FATAL; i++) {
        if (i > 0)
            note(&opt, "%s; trying %s", err->message, urls[i]);
        out = from_url(urls[i], part, target, size, sha256, &opt, err);
    }
    curl_global_cleanup();
    free(target);
    if (out == ATTEMPT_DONE)
        return rf_ok(err);
    if (stat(part, &st) == 0 && st.st_size == 0)
        unlink(part); /* nothing worth resuming */
    if (err->status == RF_E_NETWORK && out == ATTEMPT_RETRY) {
        char last[sizeof err->message];
        snprintf(last, sizeof last, "%s", err->message);
        return rf_fail(err, RF_E_NETWORK, "%s (gave up after %d tries)", last, opt.tries);
    }
    return err->status;
}
#endif
