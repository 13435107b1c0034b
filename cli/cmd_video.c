/* cmd_video.c - `retinaface video`: faces in video files, streams and cameras, frame by frame:
 * JSON Lines, a drawn or anonymized video, aligned face crops, and a metrics report. Decoding
 * and encoding run on their own threads beside the network, which runs as one or more streams
 * (frames in the network at once, each on its own context and threads). */
#define _GNU_SOURCE /* sched_getaffinity, gettid: the helper threads' priority (Linux) */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void help(FILE *f)
{
    fputs("usage: retinaface video -m MODEL [options] INPUT\n\n"
          "Finds faces in every frame (or every K-th) of a video file, stream or camera: INPUT\n"
          "is anything FFmpeg's libavformat opens (.mp4, .mkv, .avi, .mov, .webm, an image\n"
          "sequence such as frames/%04d.png, rtsp:// or http:// URLs) or a V4L2 camera\n"
          "(/dev/video0).\n\n",
          f);
    cli_model_options_help(f, "threads for the network, shared out among the --streams\n"
                              "                          (default 1)");
    fputs("      (default input: --original-size, the frame's own size)\n\n"
          "Detection:\n"
          "      --threshold T       report faces with score > T (default 0.5)\n"
          "      --nms T             NMS IoU threshold (default 0.4)\n"
          "      --top-k N           best candidates kept before NMS (default 5000, 0 = all)\n"
          "      --keep-top-k N      faces kept after NMS (default 750, 0 = all)\n"
          "      --every K           detect on every K-th frame only (default 1); the frames\n"
          "                          between keep the last faces in -o's video\n"
          "      --limit N           stop after N frames\n"
          "      --streams N         frames in the network at once, each on its own share of\n"
          "                          --threads (default: one per thread, at most 4): more\n"
          "                          frames per second where one frame's layers keep the\n"
          "                          threads waiting on each other; 1: the lowest latency\n\n"
          "Output:\n"
          "  -o, --output FILE       a video of the same size and frame rate with the faces\n"
          "                          drawn (boxes, scores, landmarks) or, with --anonymize,\n"
          "                          hidden; container from the extension (.mp4 and .mkv:\n"
          "                          H.264, .avi: MPEG-4), audio copied where it fits\n"
          "      --anonymize HOW     blur, pixelate or fill each face (an ellipse around its\n"
          "                          box, 1.5 times its size); nothing else changes\n"
          "      --json FILE|-       JSON Lines, one object per frame detected on: frame,\n"
          "                          time, width, height, faces (docs/json.md)\n"
          "      --crops DIR         aligned 112x112 face chips (ArcFace template),\n"
          "                          DIR/frameNNNNNN_faceNN.png\n"
          "      --codec NAME        FFmpeg video encoder for -o (libx264, mpeg4, ffv1, ...)\n"
          "      --encoder-option K=V  passed to the encoder (preset=medium, crf=18, ...);\n"
          "                          repeatable. Default for x264: preset=ultrafast\n\n"
          "Input:\n"
          "      --input-format NAME FFmpeg demuxer (rawvideo, v4l2, image2, ...); default:\n"
          "                          probed, v4l2 for character devices\n"
          "      --input-option K=V  demuxer option (video_size=640x480, framerate=30,\n"
          "                          pixel_format=bgr24, ...); repeatable\n\n"
          "  -q, --quiet             no progress line and no metrics report\n"
          "  -v, --verbose           FFmpeg's own warnings too\n"
          "  -h, --help              this help\n\n"
          "Decoding (with the BGR conversion and the network input) and encoding (with\n"
          "drawing, crops and JSON) run on one thread each beside the detector's --threads,\n"
          "at the lowest priority where --threads takes every core and a stream has more\n"
          "than one.\n"
          "The metrics report on stderr gives frames, frames per second, mean latency (read\n"
          "to written), milliseconds per frame of each stage and the CPU time per frame of\n"
          "the detector's, reading and writing threads. Ctrl-C (SIGINT or SIGTERM)\n"
          "ends the run as if the input had ended: outputs are completed. A file that is not a\n"
          "video, or cannot be opened, fails before any output is written; a truncated or\n"
          "corrupt one keeps the frames it decoded, complete, and says so.\n\n"
          "Exit status: 0 done, 1 input or output failed (also a damaged input), 2 bad command\n"
          "line.\n",
          f);
}

#ifndef RF_HAVE_FFMPEG

int cmd_video(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            help(stdout);
            return CLI_EXIT_OK;
        }
    fprintf(stderr, "retinaface video: this build has no FFmpeg (install libavformat-dev "
                    "libavcodec-dev libswscale-dev libavutil-dev, e.g. with "
                    "scripts/install-deps.sh, and build again)\n");
    return CLI_EXIT_FAILURE;
}

#else

#include "video.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Frames in flight: one per stream in the network, and besides them one being decoded, one
 * being written and one spare, so that a slow frame at one stage does not stall the others at
 * once. */
#define SLOTS_BESIDE_STREAMS 3
/* --streams by default: one per detector thread, up to this many (each stream holds a
 * context: the network's activations for one frame). */
#define AUTO_STREAMS_MAX 4
#define STREAMS_MAX 256 /* as many as --threads takes */

typedef struct {
    cli_model_options mo;
    rf_detect_params params;
    float threshold;
    const char *input, *output, *json, *crops, *codec, *input_format;
    AVDictionary *input_options, *encoder_options;
    video_cover cover;
    int64_t limit; /* 0: all */
    int every, quiet, verbose;
    int streams; /* 0: auto */
} video_args;

typedef struct {
    rf_image_buf image; /* the frame, BGR */
    float *input;       /* its network input, when detected on */
    rf_faces faces;
    video_packets audio; /* audio read before this frame */
    int64_t index, pts;
    int detect;
    int done; /* the network is through with it; the frames before it may not be yet */
    double t_start, ms_decode, ms_pre, ms_net, ms_post;
} frame_slot;

typedef struct {
    video_args *a;
    video_input *in;
    video_info info;
    rf_context **ctx; /* one per stream */
    int streams;
    rf_anchors anchors;
    int nw, nh;
    float sx, sy;
    frame_slot *slots;
    int nslots;

    pthread_mutex_t lock;
    pthread_cond_t changed;
    int64_t decoded, detected, written; /* frames past each stage, in order */
    int64_t claimed;                     /* frames a stream has taken */
    int streams_running;
    int input_done, detect_done, halt;
    int helpers_yield; /* the reading and writing threads run at the lowest priority */
    int limited, interrupted, input_failed, video_failed, crops_failed;
    char error[1024]; /* the first failure */

    video_packets trailing; /* audio after the last frame */
    int64_t first_pts;
    cli_output json_out, video_out;
    video_output *vo;
    rf_image_buf chip;
    uint8_t *scratch;
    size_t scratch_size;
    rf_faces last;

    /* metrics, kept by the writer */
    double t0, t_end, last_progress;
    double cpu0, cpu_end, cpu_reader, cpu_writer; /* CPU time: process, and of the threads */
    double sum_decode, sum_pre, sum_net, sum_post, sum_render, sum_encode, sum_latency;
    int64_t n_detect, n_decode_timed;
    int64_t expected; /* frames, when known; for the progress line */
    int progress;
} pipeline;

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Where the detector's threads take every core the process may use and a stream runs on
 * several of them, the reading and writing threads would take turns with them: a detector
 * thread descheduled in the middle of a layer leaves the others of its stream spinning at the
 * layer's end. At the lowest priority they run in the detector's gaps instead (2 vCPUs, one
 * stream of 2 threads: about 15 % more frames per second, measured). Streams of one thread
 * wait on no other, and with a core to spare nothing waits: the helpers then keep the normal
 * priority (at the lowest, one-thread streams ran slower, measured). Linux: nice is per
 * thread there. */
static int helpers_should_yield(int threads, int streams)
{
#ifdef __linux__
    cpu_set_t set;
    return threads > streams && sched_getaffinity(0, sizeof set, &set) == 0 &&
           CPU_COUNT(&set) <= threads;
#else
    (void)threads;
    (void)streams;
    return 0;
#endif
}

static void helper_start(const pipeline *p)
{
#ifdef __linux__
    if (p->helpers_yield)
        setpriority(PRIO_PROCESS, (id_t)gettid(), 19);
#else
    (void)p;
#endif
}

/* SIGINT and SIGTERM go to the thread that reads the input (the main thread while it opens
 * it, then the decoding thread), so that a read blocked on a camera, pipe or network returns
 * EINTR and FFmpeg's interrupt callback ends it; the detector's and writer's threads never
 * see them. */
static void stop_signals(int how)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(how, &set, NULL);
}

static double clock_ms(clockid_t clock)
{
    struct timespec t;
    clock_gettime(clock, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static double now_ms(void)
{
    return clock_ms(CLOCK_MONOTONIC);
}

/* Records the first failure and stops the stages before the one that failed. */
#if defined(__GNUC__)
static void fail(pipeline *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
static void fail(pipeline *p, const char *fmt, ...)
{
    pthread_mutex_lock(&p->lock);
    if (!p->error[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->error, sizeof p->error, fmt, ap);
        va_end(ap);
    }
    p->halt = 1;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

static int preprocess(pipeline *p, frame_slot *s)
{
    rf_error err;
    const double t = now_ms();
    if (rf_image_to_input(&s->image.image, p->nw, p->nh, s->input, &err) != RF_OK) {
        fail(p, "frame %lld: %s", (long long)s->index, err.message);
        return -1;
    }
    s->ms_pre = now_ms() - t;
    return 0;
}

/* Decoding thread: frames into free slots, converted to BGR and to the network's input. */
static void *decode_thread(void *arg)
{
    pipeline *p = arg;
    stop_signals(SIG_UNBLOCK);
    helper_start(p);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->halt && p->decoded - p->written >= p->nslots)
            pthread_cond_wait(&p->changed, &p->lock);
        const int64_t index = p->decoded;
        const int halt = p->halt;
        pthread_mutex_unlock(&p->lock);
        if (halt)
            break;
        if (p->a->limit && index >= p->a->limit) {
            p->limited = 1;
            break;
        }
        if (stop_requested) {
            p->interrupted = 1;
            break;
        }
        frame_slot *s = &p->slots[index % p->nslots];
        char msg[512];
        const double t = now_ms();
        const int r = video_input_read(p->in, &s->image, &s->pts, p->vo ? &s->audio : NULL, msg,
                                       sizeof msg);
        if (r <= 0) {
            if (r < 0) {
                p->input_failed = 1;
                pthread_mutex_lock(&p->lock);
                if (!p->error[0])
                    snprintf(p->error, sizeof p->error, "%s: %s", p->a->input, msg);
                pthread_mutex_unlock(&p->lock);
            }
            if (stop_requested)
                p->interrupted = 1;
            /* audio after the last frame */
            video_packets tmp = p->trailing;
            p->trailing = s->audio;
            s->audio = tmp;
            break;
        }
        s->t_start = t;
        s->ms_decode = now_ms() - t;
        s->index = index;
        s->detect = index % p->a->every == 0;
        if (s->detect && preprocess(p, s))
            break;
        pthread_mutex_lock(&p->lock);
        p->decoded++;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
    }
    p->cpu_reader = clock_ms(CLOCK_THREAD_CPUTIME_ID);
    pthread_mutex_lock(&p->lock);
    p->input_done = 1;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* The network on one slot, with a stream's context (the calling thread: the context's pool
 * belongs to it). */
static int detect(pipeline *p, rf_context *ctx, frame_slot *s)
{
    rf_error err;
    rf_outputs o;
    const double t = now_ms();
    if (rf_forward(ctx, s->input, 1, p->nh, p->nw, &err) != RF_OK ||
        rf_context_outputs(ctx, &o, &err) != RF_OK) {
        fail(p, "frame %lld: %s", (long long)s->index, err.message);
        return -1;
    }
    const double t1 = now_ms();
    if (rf_postprocess(o.cls_prob, o.bbox_pred, o.landmark_pred, p->nw, p->nh, p->sx, p->sy,
                       p->anchors, &p->a->params, &s->faces, &err) != RF_OK) {
        fail(p, "frame %lld: %s", (long long)s->index, err.message);
        return -1;
    }
    s->ms_net = t1 - t;
    s->ms_post = now_ms() - t1;
    return 0;
}

/* One stream: takes the next decoded frame, runs the network on it, and marks it done;
 * frames count as detected in their order, however the streams finish them. */
static void detect_loop(pipeline *p, rf_context *ctx)
{
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (!p->halt && p->claimed == p->decoded && !p->input_done)
            pthread_cond_wait(&p->changed, &p->lock);
        const int go = !p->halt && p->claimed < p->decoded;
        const int64_t index = p->claimed;
        p->claimed += go;
        pthread_mutex_unlock(&p->lock);
        if (!go)
            break;
        frame_slot *s = &p->slots[index % p->nslots];
        if (s->detect && detect(p, ctx, s))
            break;
        pthread_mutex_lock(&p->lock);
        s->done = 1;
        for (frame_slot *d; p->detected < p->claimed &&
                            (d = &p->slots[p->detected % p->nslots])->done;
             p->detected++)
            d->done = 0;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_lock(&p->lock);
    p->detect_done = --p->streams_running == 0;
    pthread_cond_broadcast(&p->changed);
    pthread_mutex_unlock(&p->lock);
}

typedef struct {
    pipeline *p;
    int stream;
} stream_arg;

static void *stream_thread(void *arg)
{
    const stream_arg *s = arg;
    detect_loop(s->p, s->p->ctx[s->stream]);
    return NULL;
}

static int copy_faces(rf_faces *dst, const rf_faces *src)
{
    if (src->count > dst->capacity) {
        rf_face *grown = realloc(dst->faces, sizeof *grown * (size_t)src->count);
        if (!grown)
            return -1;
        dst->faces = grown;
        dst->capacity = src->count;
    }
    if (src->count)
        memcpy(dst->faces, src->faces, sizeof *src->faces * (size_t)src->count);
    dst->count = src->count;
    return 0;
}

/* Seconds since the first frame, from the timestamps (or the frame rate); < 0 when unknown. */
static double frame_time(const pipeline *p, const frame_slot *s)
{
    if (s->pts != AV_NOPTS_VALUE && p->first_pts != AV_NOPTS_VALUE)
        return (double)(s->pts - p->first_pts) * av_q2d(p->info.time_base);
    if (p->info.frame_rate.num > 0)
        return (double)s->index / av_q2d(p->info.frame_rate);
    return -1;
}

static void write_json_line(pipeline *p, const frame_slot *s)
{
    FILE *f = p->json_out.f;
    fprintf(f, "{\"frame\": %lld, \"time\": ", (long long)s->index);
    const double t = frame_time(p, s);
    if (t >= 0)
        fprintf(f, "%.6f", t);
    else
        fputs("null", f);
    fprintf(f, ", \"width\": %d, \"height\": %d, \"faces\": [", p->info.width, p->info.height);
    int n = 0;
    for (int i = 0; i < s->faces.count; i++)
        if (s->faces.faces[i].score > p->a->threshold) {
            if (n++)
                fputs(", ", f);
            cli_json_face(f, &s->faces.faces[i]);
        }
    fputs("]}\n", f);
    if (f == stdout) /* a live consumer sees each frame as it is done */
        fflush(f);
}

static void show_progress(pipeline *p, int final)
{
    const double t = now_ms();
    if (!final && t - p->last_progress < 250)
        return;
    p->last_progress = t;
    const double fps = p->written * 1e3 / (t - p->t0 > 1 ? t - p->t0 : 1);
    fprintf(stderr, "\rframe %lld/%lld (%.0f%%), %.1f FPS ", (long long)p->written,
            (long long)p->expected, 100.0 * p->written / p->expected, fps);
    if (final)
        fputc('\n', stderr);
}

/* What one frame leaves behind: JSON, crops, then the drawn or covered frame to the encoder. */
static int write_frame(pipeline *p, frame_slot *s)
{
    const video_args *a = p->a;
    char msg[512];
    const double t = now_ms();
    if (s->detect && copy_faces(&p->last, &s->faces)) {
        fail(p, "out of memory");
        return -1;
    }
    if (s->detect && p->json_out.f)
        write_json_line(p, s);
    if (s->detect && a->crops && !p->crops_failed) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "frame%06lld", (long long)s->index);
        if (cli_write_crops("video", a->crops, prefix, &s->image.image, &s->faces, a->threshold,
                            &p->chip))
            p->crops_failed = 1; /* said once; the other outputs go on */
    }
    double t1 = now_ms();
    if (p->vo) {
        if (a->cover != VIDEO_COVER_NONE)
            video_cover_faces(&s->image, &p->last, a->threshold, a->cover, &p->scratch,
                              &p->scratch_size);
        else
            rf_draw_faces(&s->image, &p->last, a->threshold);
        t1 = now_ms();
        if (video_output_write(p->vo, &s->image.image, s->pts, &s->audio, msg, sizeof msg)) {
            p->video_failed = 1;
            fail(p, "%s: %s", a->output, msg);
            return -1;
        }
    }
    video_packets_clear(&s->audio);
    const double t2 = now_ms();
    p->sum_render += t1 - t;
    p->sum_encode += t2 - t1;
    p->sum_latency += t2 - s->t_start;
    if (s->index > 0) { /* the first frame was decoded while the input was opened */
        p->sum_decode += s->ms_decode;
        p->n_decode_timed++;
    }
    if (s->detect) {
        p->sum_pre += s->ms_pre;
        p->sum_net += s->ms_net;
        p->sum_post += s->ms_post;
        p->n_detect++;
    }
    return 0;
}

static void *write_thread(void *arg)
{
    pipeline *p = arg;
    helper_start(p);
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->written == p->detected && !p->detect_done)
            pthread_cond_wait(&p->changed, &p->lock);
        const int go = p->written < p->detected;
        const int64_t index = p->written;
        pthread_mutex_unlock(&p->lock);
        if (!go)
            break;
        if (write_frame(p, &p->slots[index % p->nslots]))
            break;
        pthread_mutex_lock(&p->lock);
        p->written++;
        pthread_cond_broadcast(&p->changed);
        pthread_mutex_unlock(&p->lock);
        if (p->progress)
            show_progress(p, 0);
    }
    p->t_end = now_ms();
    p->cpu_writer = clock_ms(CLOCK_THREAD_CPUTIME_ID);
    return NULL;
}

/* "KEY=VALUE" into a dictionary; -1 (usage) when there is no '='. */
static int add_option(const char *opt, const char *kv, AVDictionary **d)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        fprintf(stderr, "retinaface video: %s: '%s' is not KEY=VALUE\n", opt, kv);
        return -1;
    }
    char key[256];
    snprintf(key, sizeof key, "%.*s", (int)(eq - kv), kv);
    return av_dict_set(d, key, eq + 1, 0) < 0 ? -1 : 0;
}

/* 0 ok, 1 help shown, -1 bad command line (said). */
static int parse(int argc, char **argv, video_args *a)
{
    cli_model_options_init(&a->mo, rf_input_policy_original());
    a->params = rf_detect_params_default();
    a->threshold = 0.5f;
    a->every = 1;
    const char *v, *cover = NULL;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int r = cli_model_option(argc, argv, &i, "video", &a->mo);
        if (r < 0)
            return -1;
        if (r > 0)
            continue;
        int n;
        if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            help(stdout);
            return 1;
        } else if (!strcmp(s, "-q") || !strcmp(s, "--quiet")) {
            a->quiet = 1;
        } else if (!strcmp(s, "-v") || !strcmp(s, "--verbose")) {
            a->verbose = 1;
        } else if (cli_is_option(s, "--threshold")) {
            if (!(v = cli_option_value(argc, argv, &i, "video")) ||
                cli_parse_float("video", "--threshold", v, 0.0f, 1.0f, &a->threshold))
                return -1;
        } else if (cli_is_option(s, "--nms")) {
            if (!(v = cli_option_value(argc, argv, &i, "video")) ||
                cli_parse_float("video", "--nms", v, 0.0f, 1.0f, &a->params.nms_threshold))
                return -1;
        } else if (cli_is_option(s, "--top-k")) {
            if (!(v = cli_option_value(argc, argv, &i, "video")) ||
                cli_parse_int("video", "--top-k", v, 0, 1 << 30, &a->params.pre_nms_top_k))
                return -1;
        } else if (cli_is_option(s, "--keep-top-k")) {
            if (!(v = cli_option_value(argc, argv, &i, "video")) ||
                cli_parse_int("video", "--keep-top-k", v, 0, 1 << 30, &a->params.keep_top_k))
                return -1;
        } else if (cli_is_option(s, "--every")) {
            if (!(v = cli_option_value(argc, argv, &i, "video")) ||
                cli_parse_int("video", "--every", v, 1, 1 << 30, &a->every))
                return -1;
        } else if (cli_is_option(s, "--streams")) {
            if (!(v = cli_option_value(argc, argv, &i, "video")) ||
                cli_parse_int("video", "--streams", v, 1, STREAMS_MAX, &a->streams))
                return -1;
        } else if (cli_is_option(s, "--limit")) {
            if (!(v = cli_option_value(argc, argv, &i, "video")) ||
                cli_parse_int("video", "--limit", v, 1, 2147483647, &n))
                return -1;
            a->limit = n;
        } else if (cli_is_option(s, "-o") || cli_is_option(s, "--output")) {
            if (!(a->output = cli_option_value(argc, argv, &i, "video")))
                return -1;
        } else if (cli_is_option(s, "--json")) {
            if (!(a->json = cli_option_value(argc, argv, &i, "video")))
                return -1;
        } else if (cli_is_option(s, "--crops")) {
            if (!(a->crops = cli_option_value(argc, argv, &i, "video")))
                return -1;
        } else if (cli_is_option(s, "--anonymize")) {
            if (!(cover = cli_option_value(argc, argv, &i, "video")))
                return -1;
            a->cover = !strcmp(cover, "blur")       ? VIDEO_COVER_BLUR
                       : !strcmp(cover, "pixelate") ? VIDEO_COVER_PIXELATE
                       : !strcmp(cover, "fill")     ? VIDEO_COVER_FILL
                                                    : VIDEO_COVER_NONE;
            if (a->cover == VIDEO_COVER_NONE) {
                fprintf(stderr, "retinaface video: --anonymize: '%s' is not blur, pixelate or "
                                "fill\n", cover);
                return -1;
            }
        } else if (cli_is_option(s, "--codec")) {
            if (!(a->codec = cli_option_value(argc, argv, &i, "video")))
                return -1;
        } else if (cli_is_option(s, "--encoder-option")) {
            if (!(v = cli_option_value(argc, argv, &i, "video")) ||
                add_option("--encoder-option", v, &a->encoder_options))
                return -1;
        } else if (cli_is_option(s, "--input-format")) {
            if (!(a->input_format = cli_option_value(argc, argv, &i, "video")))
                return -1;
        } else if (cli_is_option(s, "--input-option")) {
            if (!(v = cli_option_value(argc, argv, &i, "video")) ||
                add_option("--input-option", v, &a->input_options))
                return -1;
        } else if (s[0] == '-' && s[1] != '\0') {
            fprintf(stderr, "retinaface video: unknown option '%s' (see --help)\n", s);
            return -1;
        } else if (a->input) {
            fprintf(stderr, "retinaface video: one INPUT only ('%s' and '%s')\n", a->input, s);
            return -1;
        } else {
            a->input = s;
        }
    }
    if (!a->mo.model) {
        fprintf(stderr, "retinaface video: no model given (use -m FILE; see --help)\n");
        return -1;
    }
    if (!a->input) {
        fprintf(stderr, "retinaface video: no INPUT given (see --help)\n");
        return -1;
    }
    if (a->output && !video_output_format_known(a->output)) {
        fprintf(stderr, "retinaface video: -o %s: the extension names no video container "
                        "FFmpeg writes (use .mp4, .mkv, .avi, .mov, ...)\n", a->output);
        return -1;
    }
    if (a->streams > a->mo.threads) {
        fprintf(stderr, "retinaface video: --streams %d needs at least as many --threads (each "
                        "stream runs on threads of its own; --threads is %d)\n", a->streams,
                a->mo.threads);
        return -1;
    }
    if (!a->streams)
        a->streams = a->mo.threads < AUTO_STREAMS_MAX ? a->mo.threads : AUTO_STREAMS_MAX;
    if (cover && !a->output) {
        fprintf(stderr, "retinaface video: --anonymize needs -o FILE\n");
        return -1;
    }
    if (a->codec && !avcodec_find_encoder_by_name(a->codec)) {
        fprintf(stderr, "retinaface video: --codec: FFmpeg here has no encoder '%s' (ffmpeg "
                        "-encoders lists them)\n", a->codec);
        return -1;
    }
    if ((a->codec || a->encoder_options) && !a->output) {
        fprintf(stderr, "retinaface video: --codec and --encoder-option need -o FILE\n");
        return -1;
    }
    /* Candidates at the report threshold give the same faces above it as the lower threshold
     * of `detect`: greedy NMS only lets a better-scoring box suppress another. */
    a->params.score_threshold = a->threshold;
    return 0;
}

/* Opens the outputs (nothing is created before the input has proved to be a video). */
static int open_outputs(pipeline *p)
{
    video_args *a = p->a;
    char msg[512];
    if (a->crops && cli_make_dir("video", a->crops))
        return -1;
    if (a->json && cli_output_open("video", a->json, &p->json_out))
        return -1;
    if (a->output) {
        if (cli_output_open("video", a->output, &p->video_out))
            goto fail;
        /* a FIFO or device is written in place (the output rules): no seeking back there */
        const int seekable = lseek(fileno(p->video_out.f), 0, SEEK_CUR) >= 0;
        if (video_output_open(a->output, p->video_out.f, seekable, a->codec, &a->encoder_options,
                              &p->info, &p->vo, msg, sizeof msg)) {
            fprintf(stderr, "retinaface video: %s: %s\n", a->output, msg);
            cli_output_close("video", &p->video_out, 0);
            goto fail;
        }
    }
    return 0;
fail:
    if (p->json_out.f)
        cli_output_close("video", &p->json_out, 0);
    return -1;
}

/* Completes (or, for a video that failed, removes) the outputs; -1 if one could not be. */
static int close_outputs(pipeline *p)
{
    int status = 0;
    char msg[512];
    if (p->vo) {
        const int ok = !p->video_failed && video_output_finish(p->vo, msg, sizeof msg) == 0;
        if (!ok && !p->video_failed)
            fprintf(stderr, "retinaface video: %s: %s\n", p->a->output, msg);
        video_output_free(p->vo);
        p->vo = NULL;
        status |= cli_output_close("video", &p->video_out, ok) || !ok;
    }
    if (p->json_out.f)
        status |= cli_output_close("video", &p->json_out, 1) != 0;
    return status ? -1 : 0;
}

static void report(const pipeline *p)
{
    const int64_t n = p->written;
    const double secs = (p->t_end - p->t0) / 1e3;
    const int threads = p->a->mo.threads;
    fprintf(stderr, "retinaface video: %s: %lld frame%s, %lld detected, %.2f s; %d stream%s on %d "
                    "thread%s\n", p->a->input, (long long)n, n == 1 ? "" : "s",
            (long long)p->n_detect, secs, p->streams, p->streams == 1 ? "" : "s", threads,
            threads == 1 ? "" : "s");
    if (!n)
        return;
    const double nd = p->n_detect ? (double)p->n_detect : 1;
    const double ndec = p->n_decode_timed ? (double)p->n_decode_timed : 1;
    fprintf(stderr, "  throughput %.2f FPS, latency %.2f ms (mean, read to written)\n",
            secs > 0 ? n / secs : 0, p->sum_latency / n);
    fprintf(stderr, "  ms per frame: decode %.2f, preprocess %.2f, inference %.2f, postprocess "
                    "%.2f, render %.2f, encode %.2f\n",
            p->sum_decode / ndec, p->sum_pre / nd, p->sum_net / nd, p->sum_post / nd,
            p->sum_render / n, p->sum_encode / n);
    /* CPU time tells what the reading and writing threads take from the detector's cores,
     * however loaded the machine */
    const double detector = p->cpu_end - p->cpu0 - p->cpu_reader - p->cpu_writer;
    fprintf(stderr,
            "  CPU ms per frame: detector %.2f (its threads), reader %.2f, writer %.2f%s\n",
            detector / n, p->cpu_reader / n, p->cpu_writer / n,
            p->helpers_yield ? " (lowest priority: no core to spare)" : "");
}

/* The model and one context per stream, the --threads shared out among them. */
static int open_streams(pipeline *p, rf_model **model)
{
    const video_args *a = p->a;
    const int streams = a->streams, threads = a->mo.threads;
    rf_error err;
    if (cli_load_model(&a->mo, model, &err) != RF_OK) {
        fprintf(stderr, "retinaface video: %s\n", err.message);
        return -1;
    }
    if (!(p->ctx = calloc((size_t)streams, sizeof *p->ctx))) {
        fprintf(stderr, "retinaface video: out of memory\n");
        return -1;
    }
    p->streams = streams;
    for (int i = 0; i < streams; i++) {
        rf_context_options co = rf_context_options_default();
        co.threads = threads / streams + (i < threads % streams);
        co.kernels = a->mo.kernels;
        co.precision = a->mo.precision;
        if (rf_context_create(*model, &co, &p->ctx[i], &err) != RF_OK) {
            fprintf(stderr, "retinaface video: %s\n", err.message);
            return -1;
        }
    }
    return 0;
}

static void free_pipeline(pipeline *p)
{
    for (int i = 0; p->slots && i < p->nslots; i++) {
        rf_image_buf_free(&p->slots[i].image);
        free(p->slots[i].input);
        rf_faces_free(&p->slots[i].faces);
        video_packets_free(&p->slots[i].audio);
    }
    free(p->slots);
    for (int i = 0; p->ctx && i < p->streams; i++)
        rf_context_free(p->ctx[i]);
    free(p->ctx);
    video_packets_free(&p->trailing);
    rf_faces_free(&p->last);
    rf_image_buf_free(&p->chip);
    free(p->scratch);
    video_input_close(p->in);
}

int cmd_video(int argc, char **argv)
{
    video_args a;
    memset(&a, 0, sizeof a);
    int r = parse(argc, argv, &a);
    if (r) {
        av_dict_free(&a.input_options);
        av_dict_free(&a.encoder_options);
        return r > 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    video_log_init(a.verbose);
    pipeline p;
    memset(&p, 0, sizeof p);
    p.a = &a;
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.changed, NULL);
    int status = CLI_EXIT_FAILURE;
    rf_model *model = NULL;
    video_packets first_audio = {0}; /* read before the first frame */
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second signal acts at once */
    sigemptyset(&sa.sa_mask);
    stop_requested = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    stop_signals(SIG_BLOCK); /* for the detector's threads, started with the contexts */
    const int opened = open_streams(&p, &model);
    stop_signals(SIG_UNBLOCK);
    if (opened)
        goto out;
    p.anchors = rf_model_anchors(model);
    char msg[1024];
    rf_image_buf first;
    int64_t first_pts;
    if (video_input_open(a.input, a.input_format, &a.input_options, &stop_requested, &p.in,
                         &p.info, &first, &first_pts, a.output ? &first_audio : NULL, msg,
                         sizeof msg)) {
        fprintf(stderr, "retinaface video: %s: %s\n", a.input, msg);
        goto out;
    }
    rf_error err;
    if (rf_input_geometry(&a.mo.policy, p.info.width, p.info.height, &p.nw, &p.nh, &p.sx, &p.sy,
                          &err) != RF_OK) {
        fprintf(stderr, "retinaface video: %s: %s\n", a.input, err.message);
        rf_image_buf_free(&first);
        goto out;
    }
    if ((int64_t)p.nw * p.nh > RF_NETWORK_MAX_PIXELS) { /* refused before any output exists */
        fprintf(stderr, "retinaface video: %s: %dx%d frames are more than the network takes "
                        "(%lld pixels); use --long-side or --input-size\n", a.input, p.nw, p.nh,
                (long long)RF_NETWORK_MAX_PIXELS);
        rf_image_buf_free(&first);
        goto out;
    }
    const size_t input_floats = (size_t)3 * p.nw * p.nh;
    p.nslots = p.streams + SLOTS_BESIDE_STREAMS;
    int ok = (p.slots = calloc((size_t)p.nslots, sizeof *p.slots)) != NULL;
    if (!ok)
        rf_image_buf_free(&first);
    for (int i = 0; ok && i < p.nslots; i++) {
        frame_slot *s = &p.slots[i];
        ok &= (s->input = malloc(input_floats * sizeof(float))) != NULL;
        if (i == 0) {
            s->image = first;
            s->audio = first_audio;
            first_audio = (video_packets){0};
        }
        else
            ok &= rf_image_alloc(p.info.width, p.info.height, &s->image, &err) == RF_OK;
    }
    if (!ok) {
        fprintf(stderr, "retinaface video: out of memory for %d frames of %dx%d\n", p.nslots,
                p.info.width, p.info.height);
        goto out;
    }
    if (open_outputs(&p))
        goto out;
    p.first_pts = first_pts;
    p.expected = p.info.frames > 0 ? p.info.frames
                 : p.info.duration > 0 && p.info.frame_rate.num > 0
                     ? (int64_t)llround(p.info.duration * av_q2d(p.info.frame_rate))
                     : 0;
    if (a.limit && (!p.expected || a.limit < p.expected))
        p.expected = p.expected ? a.limit : 0;
    p.progress = !a.quiet && p.expected > 0 && isatty(2);
    p.helpers_yield = helpers_should_yield(a.mo.threads, p.streams);

    /* frame 0 came with the opening; the threads take it from there */
    p.t0 = now_ms();
    p.cpu0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    frame_slot *s0 = &p.slots[0];
    s0->index = 0;
    s0->pts = first_pts;
    s0->t_start = p.t0;
    s0->detect = 1;
    if (preprocess(&p, s0) == 0)
        p.decoded = 1;
    else
        p.input_done = 1;
    pthread_t decoder, writer;
    stop_signals(SIG_BLOCK);
    const int have_decoder = !p.input_done &&
                             pthread_create(&decoder, NULL, decode_thread, &p) == 0;
    if (!have_decoder && !p.input_done) {
        p.input_done = 1;
        fail(&p, "cannot start a thread");
    }
    const int have_writer = pthread_create(&writer, NULL, write_thread, &p) == 0;
    if (!have_writer) {
        p.t_end = now_ms();
        fail(&p, "cannot start a thread");
    }
    /* stream 0 runs on this thread, the others on threads of their own */
    stream_arg sargs[STREAMS_MAX];
    pthread_t streams[STREAMS_MAX];
    int started = 1;
    p.streams_running = p.streams;
    for (; started < p.streams; started++) {
        sargs[started] = (stream_arg){&p, started};
        if (pthread_create(&streams[started], NULL, stream_thread, &sargs[started]))
            break;
    }
    if (started < p.streams) {
        pthread_mutex_lock(&p.lock);
        p.streams_running -= p.streams - started;
        pthread_mutex_unlock(&p.lock);
        fail(&p, "cannot start a thread");
    }
    detect_loop(&p, p.ctx[0]);
    for (int i = 1; i < started; i++)
        pthread_join(streams[i], NULL);
    if (have_writer)
        pthread_join(writer, NULL);
    if (have_decoder)
        pthread_join(decoder, NULL);
    p.cpu_end = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
    stop_signals(SIG_UNBLOCK);
    if (p.progress)
        show_progress(&p, 1);

    const int read_to_end = !p.limited && !p.interrupted && !p.halt && !p.input_failed;
    if (read_to_end && p.vo &&
        video_output_write_audio(p.vo, &p.trailing, msg, sizeof msg)) {
        p.video_failed = 1;
        fprintf(stderr, "retinaface video: %s: %s\n", a.output, msg);
    }
    status = CLI_EXIT_OK;
    if (close_outputs(&p) || p.video_failed)
        status = CLI_EXIT_FAILURE;
    if (!a.quiet)
        report(&p);
    if (p.error[0]) {
        fprintf(stderr, "retinaface video: %s\n", p.error);
        status = CLI_EXIT_FAILURE;
    }
    if (p.interrupted) {
        fprintf(stderr, "retinaface video: %s: interrupted after %lld frames; outputs completed\n",
                a.input, (long long)p.written);
    } else if (!p.halt && video_input_damage(p.in, p.decoded, read_to_end, msg, sizeof msg)) {
        fprintf(stderr, "retinaface video: %s: truncated or damaged (%s); the outputs hold the "
                        "%lld frames decoded\n", a.input, msg, (long long)p.written);
        status = CLI_EXIT_FAILURE;
    }
    if (p.crops_failed)
        status = CLI_EXIT_FAILURE;
out:
    video_packets_free(&first_audio);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free_pipeline(&p);
    pthread_mutex_destroy(&p.lock);
    pthread_cond_destroy(&p.changed);
    rf_model_free(model);
    av_dict_free(&a.input_options);
    av_dict_free(&a.encoder_options);
    return status;
}

#endif
