/* video_input.c - frames of a file, stream or camera through FFmpeg: demuxed, decoded and
 * converted by libswscale straight into BGR images, with damage accounted for. */
#include "video.h"

#include <libavcodec/avcodec.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#ifdef RF_HAVE_AVDEVICE
#include <libavdevice/avdevice.h>
#endif

#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------------------ FFmpeg messages */
/* FFmpeg logs through one process-wide callback; these are the CLI's, not the library's. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_verbose, log_errors;
static char log_last[256];

static void log_callback(void *avcl, int level, const char *fmt, va_list vl)
{
    if (log_verbose) {
        va_list copy;
        va_copy(copy, vl);
        av_log_default_callback(avcl, level, fmt, copy);
        va_end(copy);
    }
    if (level > AV_LOG_ERROR)
        return;
    char line[256];
    int prefix = 0; /* no "[component @ address]" */
    av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &prefix);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
        line[--n] = '\0';
    pthread_mutex_lock(&log_lock);
    log_errors++;
    snprintf(log_last, sizeof log_last, "%s", line);
    pthread_mutex_unlock(&log_lock);
}

void video_log_init(int verbose)
{
    log_verbose = verbose;
    av_log_set_level(verbose ? AV_LOG_WARNING : AV_LOG_ERROR);
    av_log_set_callback(log_callback);
}

int video_log_take_errors(char *last, size_t size)
{
    pthread_mutex_lock(&log_lock);
    const int n = log_errors;
    if (last && size)
        snprintf(last, size, "%s", log_last);
    log_errors = 0;
    log_last[0] = '\0';
    pthread_mutex_unlock(&log_lock);
    return n;
}

const char *video_error_text(int code, char *buf, size_t size)
{
    if (av_strerror(code, buf, size) < 0)
        snprintf(buf, size, "error %d", code);
    return buf;
}

/* ------------------------------------------------------------------------------ audio packets */
int video_packets_add(video_packets *l, const AVPacket *pkt)
{
    if (l->count == l->capacity) {
        const int cap = l->capacity ? 2 * l->capacity : 16;
        AVPacket **grown = av_realloc_array(l->items, (size_t)cap, sizeof *grown);
        if (!grown)
            return -1;
        for (int i = l->capacity; i < cap; i++)
            grown[i] = NULL;
        l->items = grown;
        l->capacity = cap;
    }
    if (!l->items[l->count] && !(l->items[l->count] = av_packet_alloc()))
        return -1;
    if (av_packet_ref(l->items[l->count], pkt) < 0)
        return -1;
    l->count++;
    return 0;
}

void video_packets_clear(video_packets *l)
{
    for (int i = 0; i < l->count; i++)
        av_packet_unref(l->items[i]);
    l->count = 0;
}

void video_packets_free(video_packets *l)
{
    for (int i = 0; i < l->capacity; i++)
        av_packet_free(&l->items[i]);
    av_free(l->items);
    memset(l, 0, sizeof *l);
}

/* ------------------------------------------------------------------------------ input */
/* About ten minutes of AAC or MP3 */
#define MAX_HELD_AUDIO_PACKETS 25000

struct video_input {
    AVFormatContext *fmt;
    AVCodecContext *dec;
    struct SwsContext *sws;
    AVPacket *pkt;
    AVFrame *frame;
    int video, audio;                  /* stream indexes; audio -1 when none */
    int width, height;                 /* what frames are converted to */
    int sws_space, sws_full;           /* colour details set on sws */
    volatile sig_atomic_t *stop;
    int draining;                      /* the demuxer is done, the decoder being flushed */
    int read_error;                    /* a failed read other than the end of input */
    int64_t bad_packets;               /* packets the decoder refused */
    int64_t frames_declared;
    int64_t first_pts, last_pts;       /* of the frames decoded; AV_NOPTS_VALUE before any */
};

static int interrupted(void *opaque)
{
    const video_input *in = opaque;
    return in->stop && *in->stop;
}

/* YUVJ formats are YUV with full-range samples; libswscale wants them said that way. */
static enum AVPixelFormat plain_format(enum AVPixelFormat f, int *full)
{
    switch (f) {
    case AV_PIX_FMT_YUVJ420P: *full = 1; return AV_PIX_FMT_YUV420P;
    case AV_PIX_FMT_YUVJ422P: *full = 1; return AV_PIX_FMT_YUV422P;
    case AV_PIX_FMT_YUVJ444P: *full = 1; return AV_PIX_FMT_YUV444P;
    case AV_PIX_FMT_YUVJ440P: *full = 1; return AV_PIX_FMT_YUV440P;
    case AV_PIX_FMT_YUVJ411P: *full = 1; return AV_PIX_FMT_YUV411P;
    default: return f;
    }
}

/* Converts the decoded frame into img (in->width x in->height, BGR) in one libswscale pass:
 * the pixels go straight into the image the network's input is built from. */
static int convert(video_input *in, const AVFrame *f, rf_image_buf *img, char *msg, size_t size)
{
    int full = f->color_range == AVCOL_RANGE_JPEG;
    const enum AVPixelFormat src = plain_format((enum AVPixelFormat)f->format, &full);
    struct SwsContext *sws = sws_getCachedContext(in->sws, f->width, f->height, src, in->width,
                                                  in->height, AV_PIX_FMT_BGR24, SWS_BILINEAR,
                                                  NULL, NULL, NULL);
    if (!sws) {
        const char *name = av_get_pix_fmt_name(src);
        snprintf(msg, size, "cannot convert %dx%d %s frames to BGR", f->width, f->height,
                 name ? name : "?");
        return -1;
    }
    /* the colour matrix the stream declares (BT.601 when it does not), set once per change */
    const int space = f->colorspace == AVCOL_SPC_UNSPECIFIED ? SWS_CS_DEFAULT : (int)f->colorspace;
    if (sws != in->sws || space != in->sws_space || full != in->sws_full) {
        const int *coef = sws_getCoefficients(space);
        sws_setColorspaceDetails(sws, coef, full, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0,
                                 1 << 16, 1 << 16);
        in->sws_space = space;
        in->sws_full = full;
    }
    in->sws = sws;
    uint8_t *dst[4] = {img->data, NULL, NULL, NULL};
    const int dst_stride[4] = {(int)img->image.stride, 0, 0, 0};
    if (sws_scale(sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst,
                  dst_stride) <= 0) {
        snprintf(msg, size, "libswscale could not convert a frame");
        return -1;
    }
    return 0;
}

/* The next decoded frame into in->frame: 1, 0 at the end (or stop), -1 on a decoder failure. */
static int decode_next(video_input *in, video_packets *audio, char *msg, size_t size)
{
    char e[128];
    for (;;) {
        int r = avcodec_receive_frame(in->dec, in->frame);
        if (r == 0) {
            const int64_t t = in->frame->best_effort_timestamp;
            if (t != AV_NOPTS_VALUE) {
                if (in->first_pts == AV_NOPTS_VALUE)
                    in->first_pts = t;
                if (in->last_pts == AV_NOPTS_VALUE || t > in->last_pts)
                    in->last_pts = t;
            }
            return 1;
        }
        if (r == AVERROR_EOF)
            return 0;
        if (r != AVERROR(EAGAIN)) {
            snprintf(msg, size, "decoder failed: %s", video_error_text(r, e, sizeof e));
            return -1;
        }
        if (in->draining) /* flushed and still asking for input: nothing more will come */
            return 0;
        r = av_read_frame(in->fmt, in->pkt);
        if (r < 0) {
            /* The end, a stop, or a failed read: the decoder still holds frames either way. */
            if (r != AVERROR_EOF && r != AVERROR_EXIT && !interrupted(in))
                in->read_error = r;
            in->draining = 1;
            avcodec_send_packet(in->dec, NULL);
            continue;
        }
        if (in->pkt->stream_index == in->video) {
            r = avcodec_send_packet(in->dec, in->pkt);
            if (r < 0 && r != AVERROR(EAGAIN)) /* a corrupt packet: counted, skipped */
                in->bad_packets++;
        } else if (in->pkt->stream_index == in->audio && audio) {
            /* Audio is held until the frame after it is written: a stream whose video stops
             * long before its audio (a cover picture, say) would hold all of it. */
            if (audio->count >= MAX_HELD_AUDIO_PACKETS) {
                fprintf(stderr, "retinaface video: note: audio after %d packets with no video "
                                "frame is not copied\n", MAX_HELD_AUDIO_PACKETS);
                in->audio = -1;
            } else if (video_packets_add(audio, in->pkt)) {
                av_packet_unref(in->pkt);
                snprintf(msg, size, "out of memory for audio packets");
                return -1;
            }
        }
        av_packet_unref(in->pkt);
    }
}

int video_input_open(const char *url, const char *format, AVDictionary **options,
                     volatile sig_atomic_t *stop, video_input **out, video_info *info,
                     rf_image_buf *first, int64_t *pts, video_packets *audio, char *msg,
                     size_t size)
{
    char e[128];
    *out = NULL;
    memset(info, 0, sizeof *info);
    memset(first, 0, sizeof *first);
    video_input *in = calloc(1, sizeof *in);
    if (!in) {
        snprintf(msg, size, "out of memory");
        return -1;
    }
    in->stop = stop;
    in->audio = -1;
    in->first_pts = in->last_pts = AV_NOPTS_VALUE;
    struct stat st;
    /* a V4L2 camera is a character device: its demuxer is not found by probing */
    if (!format && stat(url, &st) == 0 && S_ISCHR(st.st_mode))
        format = "video4linux2";
    const AVInputFormat *ifmt = NULL;
    if (format) {
#ifdef RF_HAVE_AVDEVICE
        avdevice_register_all();
#endif
        if (!(ifmt = av_find_input_format(format))) {
            snprintf(msg, size, "FFmpeg here has no input format '%s'%s", format,
#ifdef RF_HAVE_AVDEVICE
                     ""
#else
                     " (built without libavdevice: no cameras)"
#endif
            );
            goto fail;
        }
    }
    avformat_network_init();
    if (!(in->fmt = avformat_alloc_context()) || !(in->pkt = av_packet_alloc()) ||
        !(in->frame = av_frame_alloc())) {
        snprintf(msg, size, "out of memory");
        goto fail;
    }
    in->fmt->interrupt_callback = (AVIOInterruptCB){interrupted, in};
    int r = avformat_open_input(&in->fmt, url, ifmt, options);
    if (r < 0) {
        char last[256] = "";
        video_log_take_errors(last, sizeof last);
        if (r == AVERROR_INVALIDDATA)
            snprintf(msg, size, "not a video, or a damaged one (FFmpeg: %s)",
                     *last ? last : video_error_text(r, e, sizeof e));
        else
            snprintf(msg, size, "cannot open: %s%s%s%s", video_error_text(r, e, sizeof e),
                     *last ? " (FFmpeg: " : "", last, *last ? ")" : "");
        goto fail;
    }
    if (options && *options) {
        const AVDictionaryEntry *unused = av_dict_get(*options, "", NULL, AV_DICT_IGNORE_SUFFIX);
        if (unused) {
            snprintf(msg, size, "input option '%s' is not an option of the %s demuxer",
                     unused->key, in->fmt->iformat->name);
            goto fail;
        }
    }
    /* FFmpeg's tty demuxer shows any text file as ANSI art: not what anyone means by a video */
    if (!format && !strcmp(in->fmt->iformat->name, "tty")) {
        snprintf(msg, size, "not a video (text)");
        goto fail;
    }
    if ((r = avformat_find_stream_info(in->fmt, NULL)) < 0) {
        snprintf(msg, size, "not a video: %s", video_error_text(r, e, sizeof e));
        goto fail;
    }
    video_log_take_errors(NULL, 0); /* what probing complained of is not damage */
    const AVCodec *codec = NULL;
    in->video = av_find_best_stream(in->fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (in->video < 0) {
        snprintf(msg, size, "not a video: %s",
                 in->video == AVERROR_DECODER_NOT_FOUND ? "no decoder for its video stream"
                                                        : "no video stream");
        goto fail;
    }
    in->audio = av_find_best_stream(in->fmt, AVMEDIA_TYPE_AUDIO, -1, in->video, NULL, 0);
    if (in->audio < 0)
        in->audio = -1;
    const AVStream *vs = in->fmt->streams[in->video];
    if (!(in->dec = avcodec_alloc_context3(codec)) ||
        avcodec_parameters_to_context(in->dec, vs->codecpar) < 0) {
        snprintf(msg, size, "out of memory");
        goto fail;
    }
    in->dec->pkt_timebase = vs->time_base;
    /* one decoding thread beside the network's: frame threads would add frames of delay and
     * compete with the forward pass for the same cores */
    in->dec->thread_count = 1;
    if ((r = avcodec_open2(in->dec, codec, NULL)) < 0) {
        snprintf(msg, size, "cannot open the %s decoder: %s", codec->name,
                 video_error_text(r, e, sizeof e));
        goto fail;
    }
    in->frames_declared = vs->nb_frames > 0 ? vs->nb_frames : -1;
    r = decode_next(in, audio, msg, size);
    if (r <= 0) {
        if (r == 0) {
            char last[256] = "";
            video_log_take_errors(last, sizeof last);
            snprintf(msg, size, "no video frame could be decoded%s%s", *last ? ": " : "", last);
        }
        goto fail;
    }
    in->width = in->frame->width;
    in->height = in->frame->height;
    rf_error err;
    if (rf_image_alloc(in->width, in->height, first, &err) != RF_OK) {
        snprintf(msg, size, "%s", err.message);
        goto fail;
    }
    if (convert(in, in->frame, first, msg, size))
        goto fail;
    *pts = in->frame->best_effort_timestamp;
    av_frame_unref(in->frame);

    info->width = in->width;
    info->height = in->height;
    info->frame_rate = av_guess_frame_rate(in->fmt, (AVStream *)vs, NULL);
    if (info->frame_rate.num <= 0 || info->frame_rate.den <= 0)
        info->frame_rate = (AVRational){0, 1};
    info->time_base = vs->time_base;
    info->frames = in->frames_declared;
    if (vs->duration != AV_NOPTS_VALUE)
        info->duration = vs->duration * av_q2d(vs->time_base);
    else if (in->fmt->duration != AV_NOPTS_VALUE)
        info->duration = in->fmt->duration / (double)AV_TIME_BASE;
    else
        info->duration = -1;
    info->audio = in->audio >= 0 ? in->fmt->streams[in->audio] : NULL;
    info->format = in->fmt->iformat->name;
    *out = in;
    return 0;
fail:
    rf_image_buf_free(first);
    video_input_close(in);
    return -1;
}

int video_input_read(video_input *in, rf_image_buf *img, int64_t *pts, video_packets *audio,
                     char *msg, size_t size)
{
    const int r = decode_next(in, audio, msg, size);
    if (r <= 0)
        return r;
    const int c = convert(in, in->frame, img, msg, size);
    *pts = in->frame->best_effort_timestamp;
    av_frame_unref(in->frame);
    return c ? -1 : 1;
}

int video_input_damage(video_input *in, int64_t frames_read, int read_to_end, char *msg,
                       size_t size)
{
    char e[128], last[256] = "";
    const int logged = video_log_take_errors(last, sizeof last);
    int n = 0;
    msg[0] = '\0';
    if (in->read_error)
        n += snprintf(msg + n, size - n, "read error after frame %lld: %s; ",
                      (long long)frames_read, video_error_text(in->read_error, e, sizeof e));
    if (in->bad_packets && (size_t)n < size)
        n += snprintf(msg + n, size - n, "%lld packet%s could not be decoded; ",
                      (long long)in->bad_packets, in->bad_packets == 1 ? "" : "s");
    if (logged && (size_t)n < size)
        n += snprintf(msg + n, size - n, "FFmpeg: %s; ", last);
    /* Where the container declares how long the stream is (some demuxers read a cut file to
     * its end without complaint), the frames must reach that far, give or take one and a half
     * frames: frame counts are not compared, as AVI counts dropped frames among its frames. */
    const AVStream *vs = in->fmt->streams[in->video];
    const AVRational rate = av_guess_frame_rate(in->fmt, (AVStream *)vs, NULL);
    if (read_to_end && !in->read_error && (size_t)n < size && vs->duration > 0 &&
        rate.num > 0 && rate.den > 0 && in->last_pts != AV_NOPTS_VALUE) {
        const double tick = av_q2d(vs->time_base), frame = av_q2d(av_inv_q(rate));
        const int64_t start = vs->start_time != AV_NOPTS_VALUE ? vs->start_time : in->first_pts;
        const double reached = (in->last_pts - start) * tick + frame;
        const double declared = vs->duration * tick;
        if (reached < declared - 1.5 * frame)
            n += snprintf(msg + n, size - n, "the frames end at %.2f s of the %.2f s its "
                          "container declares; ", reached, declared);
    } else if (read_to_end && !in->read_error && (size_t)n < size && in->frames_declared > 0 &&
               frames_read < in->frames_declared) {
        n += snprintf(msg + n, size - n, "the stream ends after %lld of the %lld frames its "
                      "container declares; ", (long long)frames_read,
                      (long long)in->frames_declared);
    }
    if (n >= 2 && (size_t)n <= size)
        msg[n - 2] = '\0'; /* the last "; " */
    return n > 0;
}

void video_input_close(video_input *in)
{
    if (!in)
        return;
    sws_freeContext(in->sws);
    avcodec_free_context(&in->dec);
    avformat_close_input(&in->fmt);
    av_packet_free(&in->pkt);
    av_frame_free(&in->frame);
    free(in);
}
