/* video_output.c - BGR frames encoded and muxed by FFmpeg into a file the caller opened (a
 * temporary one, renamed into place when complete), with the input's audio copied. */
#include "video.h"

#include <libavcodec/avcodec.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define IO_BUFFER_BYTES (1 << 16)

struct video_output {
    AVFormatContext *oc;
    AVIOContext *pb;
    AVCodecContext *enc;
    AVStream *vst, *ast;
    const AVStream *in_audio;
    struct SwsContext *sws;
    AVFrame *frame;
    AVPacket *pkt;
    AVRational in_tb; /* of the input's video timestamps */
    int64_t next_pts; /* the least the next frame may have, in the encoder's time base */
    int rgb_input;    /* the images given are RGB rather than BGR */
    FILE *f;
};

/* FFmpeg 5 passes a non-const buffer to write callbacks, FFmpeg 6.1 a const one. */
#if LIBAVFORMAT_VERSION_MAJOR >= 61
#define WRITE_BUF const uint8_t *
#else
#define WRITE_BUF uint8_t *
#endif

static int write_cb(void *opaque, WRITE_BUF buf, int n)
{
    FILE *f = opaque;
    return fwrite(buf, 1, (size_t)n, f) == (size_t)n ? n : AVERROR(errno ? errno : EIO);
}

static int64_t seek_cb(void *opaque, int64_t offset, int whence)
{
    FILE *f = opaque;
    if (whence & AVSEEK_SIZE) {
        struct stat st;
        return fflush(f) == 0 && fstat(fileno(f), &st) == 0 ? (int64_t)st.st_size : -1;
    }
    whence &= ~AVSEEK_FORCE;
    if (fseeko(f, (off_t)offset, whence) != 0)
        return AVERROR(errno);
    return (int64_t)ftello(f);
}

int video_output_format_known(const char *name)
{
    const AVOutputFormat *f = av_guess_format(NULL, name, NULL);
    /* muxers that open files themselves (image sequences) cannot write to the temporary file */
    return f && f->video_codec != AV_CODEC_ID_NONE && !(f->flags & AVFMT_NOFILE);
}

/* 4:2:0 YUV where the codec offers it, as players expect; for codecs that only ever compress
 * losslessly (FFV1, ...), the format nearest to BGR so that nothing is lost. */
static enum AVPixelFormat pick_format(const AVCodec *c)
{
    const enum AVPixelFormat *list = c->pix_fmts;
    if (!list)
        return AV_PIX_FMT_YUV420P;
    const AVCodecDescriptor *d = avcodec_descriptor_get(c->id);
    const int lossless_only = d && (d->props & AV_CODEC_PROP_LOSSLESS) &&
                              !(d->props & AV_CODEC_PROP_LOSSY);
    for (int i = 0; !lossless_only && list[i] != AV_PIX_FMT_NONE; i++)
        if (list[i] == AV_PIX_FMT_YUV420P || list[i] == AV_PIX_FMT_YUVJ420P)
            return list[i];
    return avcodec_find_best_pix_fmt_of_list(list, AV_PIX_FMT_BGR24, 0, NULL);
}

/* Opens the encoder with time base tb; -1 with msg on failure (the context is freed). */
static int open_encoder(video_output *o, const AVCodec *c, AVRational tb, const video_info *info,
                        AVDictionary **enc_options, char *msg, size_t size)
{
    char e[128];
    AVCodecContext *enc = avcodec_alloc_context3(c);
    if (!enc) {
        snprintf(msg, size, "out of memory");
        return -1;
    }
    enc->width = info->width;
    enc->height = info->height;
    enc->pix_fmt = pick_format(c);
    enc->time_base = tb;
    if (info->frame_rate.num > 0)
        enc->framerate = info->frame_rate;
    enc->sample_aspect_ratio = (AVRational){1, 1};
    const AVPixFmtDescriptor *pd = av_pix_fmt_desc_get(enc->pix_fmt);
    if (pd && !(pd->flags & AV_PIX_FMT_FLAG_RGB)) { /* what the conversion below writes */
        enc->colorspace = AVCOL_SPC_SMPTE170M;
        enc->color_range = enc->pix_fmt == AV_PIX_FMT_YUVJ420P ? AVCOL_RANGE_JPEG
                                                               : AVCOL_RANGE_MPEG;
    }
    if (o->oc->oformat->flags & AVFMT_GLOBALHEADER)
        enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    /* one encoding thread beside the network's (as for decoding) */
    enc->thread_count = 1;
    AVDictionary *opts = NULL;
    av_dict_copy(&opts, *enc_options, 0);
    /* Defaults that keep encoding far cheaper than the network: x264's fastest preset, and a
     * fixed quantiser instead of the 200 kb/s that the older codecs otherwise aim at. */
    if (!strcmp(c->name, "libx264") || !strcmp(c->name, "libx265"))
        av_dict_set(&opts, "preset", "ultrafast", AV_DICT_DONT_OVERWRITE);
    else if ((c->id == AV_CODEC_ID_MPEG4 || c->id == AV_CODEC_ID_MJPEG ||
              c->id == AV_CODEC_ID_MPEG2VIDEO || c->id == AV_CODEC_ID_MPEG1VIDEO) &&
             !av_dict_get(opts, "b", NULL, 0) && !av_dict_get(opts, "q", NULL, 0)) {
        enc->flags |= AV_CODEC_FLAG_QSCALE;
        enc->global_quality = FF_QP2LAMBDA * 3;
    }
    int r = avcodec_open2(enc, c, &opts);
    if (r >= 0 && opts) {
        const AVDictionaryEntry *unused = av_dict_get(opts, "", NULL, AV_DICT_IGNORE_SUFFIX);
        snprintf(msg, size, "encoder option '%s' is not an option of %s", unused->key, c->name);
        r = AVERROR(EINVAL);
    } else if (r < 0) {
        snprintf(msg, size, "cannot open the %s encoder for %dx%d: %s", c->name, info->width,
                 info->height, video_error_text(r, e, sizeof e));
    }
    av_dict_free(&opts);
    if (r < 0) {
        avcodec_free_context(&enc);
        return -1;
    }
    o->enc = enc;
    return 0;
}

int video_output_open(const char *name, FILE *f, int seekable, const char *codec,
                      AVDictionary **enc_options, const video_info *info, video_output **out,
                      char *msg, size_t size)
{
    char e[128];
    *out = NULL;
    video_output *o = calloc(1, sizeof *o);
    if (!o) {
        snprintf(msg, size, "out of memory");
        return -1;
    }
    o->f = f;
    o->in_tb = info->time_base;
    o->in_audio = info->audio;
    int r = avformat_alloc_output_context2(&o->oc, NULL, NULL, name);
    if (r < 0 || !o->oc) {
        snprintf(msg, size, "cannot tell the container from the name (use .mp4, .mkv, .avi, ...)");
        goto fail;
    }
    const AVOutputFormat *ofmt = o->oc->oformat;
    const AVCodec *c = codec ? avcodec_find_encoder_by_name(codec)
                             : avcodec_find_encoder(ofmt->video_codec);
    if (!c || c->type != AVMEDIA_TYPE_VIDEO) {
        snprintf(msg, size, "FFmpeg here has no video encoder '%s'",
                 codec ? codec : avcodec_get_name(ofmt->video_codec));
        goto fail;
    }
    if (avformat_query_codec(ofmt, c->id, FF_COMPLIANCE_NORMAL) == 0) {
        snprintf(msg, size, "the %s container cannot hold %s video", ofmt->name, c->name);
        goto fail;
    }
    /* The input's time base keeps variable frame timing; codecs that refuse it (MPEG-4 part 2
     * takes at most 65535 ticks a second) get one tick per frame at the input's rate. */
    const AVRational per_frame =
        info->frame_rate.num > 0 ? av_inv_q(info->frame_rate) : (AVRational){1, 25};
    AVRational tb = info->time_base;
    /* containers of constant frame rate (AVI) count time in frames */
    if (tb.num <= 0 || tb.den <= 0 || !(ofmt->flags & AVFMT_VARIABLE_FPS))
        tb = per_frame;
    if (open_encoder(o, c, tb, info, enc_options, msg, size)) {
        if (av_cmp_q(per_frame, tb) == 0 || strstr(msg, "encoder option"))
            goto fail;
        if (open_encoder(o, c, per_frame, info, enc_options, msg, size))
            goto fail;
    }
    if (!(o->vst = avformat_new_stream(o->oc, NULL)) ||
        avcodec_parameters_from_context(o->vst->codecpar, o->enc) < 0) {
        snprintf(msg, size, "out of memory");
        goto fail;
    }
    o->vst->time_base = o->enc->time_base;
    if (info->frame_rate.num > 0)
        o->vst->avg_frame_rate = info->frame_rate;
    if (info->audio) {
        const enum AVCodecID id = info->audio->codecpar->codec_id;
        if (avformat_query_codec(ofmt, id, FF_COMPLIANCE_NORMAL) == 1) {
            if (!(o->ast = avformat_new_stream(o->oc, NULL)) ||
                avcodec_parameters_copy(o->ast->codecpar, info->audio->codecpar) < 0) {
                snprintf(msg, size, "out of memory");
                goto fail;
            }
            o->ast->codecpar->codec_tag = 0;
            o->ast->time_base = info->audio->time_base;
        } else {
            fprintf(stderr, "retinaface video: note: %s audio not copied, the %s container "
                            "does not take it\n", avcodec_get_name(id), ofmt->name);
        }
    }
    unsigned char *buffer = av_malloc(IO_BUFFER_BYTES);
    if (!buffer || !(o->pb = avio_alloc_context(buffer, IO_BUFFER_BYTES, 1, f, NULL, write_cb,
                                                seekable ? seek_cb : NULL))) {
        av_free(buffer);
        snprintf(msg, size, "out of memory");
        goto fail;
    }
    o->pb->seekable = seekable ? AVIO_SEEKABLE_NORMAL : 0;
    o->oc->pb = o->pb;
    o->oc->flags |= AVFMT_FLAG_CUSTOM_IO;
    AVDictionary *mux = NULL;
    /* MP4 and MOV put their index at the end and seek back to it; a pipe gets fragments */
    if (!seekable && (!strcmp(ofmt->name, "mp4") || !strcmp(ofmt->name, "mov")))
        av_dict_set(&mux, "movflags", "frag_keyframe+empty_moov", 0);
    r = avformat_write_header(o->oc, &mux);
    av_dict_free(&mux);
    if (r < 0) {
        snprintf(msg, size, "cannot start the %s container: %s", ofmt->name,
                 video_error_text(r, e, sizeof e));
        goto fail;
    }
    if (!(o->frame = av_frame_alloc()) || !(o->pkt = av_packet_alloc())) {
        snprintf(msg, size, "out of memory");
        goto fail;
    }
    o->frame->format = o->enc->pix_fmt;
    o->frame->width = info->width;
    o->frame->height = info->height;
    if ((r = av_frame_get_buffer(o->frame, 0)) < 0) {
        snprintf(msg, size, "out of memory for a frame: %s", video_error_text(r, e, sizeof e));
        goto fail;
    }
    o->next_pts = INT64_MIN;
    *out = o;
    return 0;
fail:
    video_output_free(o);
    return -1;
}

/* Sends what the encoder has ready to the muxer. */
static int drain(video_output *o, char *msg, size_t size)
{
    char e[128];
    for (;;) {
        int r = avcodec_receive_packet(o->enc, o->pkt);
        if (r == AVERROR(EAGAIN) || r == AVERROR_EOF)
            return 0;
        if (r < 0) {
            snprintf(msg, size, "encoding failed: %s", video_error_text(r, e, sizeof e));
            return -1;
        }
        av_packet_rescale_ts(o->pkt, o->enc->time_base, o->vst->time_base);
        o->pkt->stream_index = o->vst->index;
        if ((r = av_interleaved_write_frame(o->oc, o->pkt)) < 0) {
            snprintf(msg, size, "cannot write: %s", video_error_text(r, e, sizeof e));
            return -1;
        }
    }
}

int video_output_write_audio(video_output *o, video_packets *audio, char *msg, size_t size)
{
    char e[128];
    for (int i = 0; audio && i < audio->count; i++) {
        AVPacket *p = audio->items[i];
        if (!o->ast) {
            av_packet_unref(p);
            continue;
        }
        av_packet_rescale_ts(p, o->in_audio->time_base, o->ast->time_base);
        p->stream_index = o->ast->index;
        p->pos = -1;
        int r = av_interleaved_write_frame(o->oc, p); /* takes the reference */
        if (r < 0) {
            snprintf(msg, size, "cannot write audio: %s", video_error_text(r, e, sizeof e));
            return -1;
        }
    }
    if (audio)
        video_packets_clear(audio);
    return 0;
}

int video_output_write(video_output *o, const rf_image *img, int64_t pts, video_packets *audio,
                       char *msg, size_t size)
{
    char e[128];
    if (video_output_write_audio(o, audio, msg, size))
        return -1;
    const int rgb = img->order == RF_PIXELS_RGB;
    if (!o->sws || rgb != o->rgb_input) {
        sws_freeContext(o->sws);
        o->sws = sws_getContext(img->width, img->height, rgb ? AV_PIX_FMT_RGB24 : AV_PIX_FMT_BGR24,
                                o->frame->width, o->frame->height, o->enc->pix_fmt, SWS_BILINEAR,
                                NULL, NULL, NULL);
        o->rgb_input = rgb;
        if (!o->sws) {
            snprintf(msg, size, "cannot convert BGR to %s", av_get_pix_fmt_name(o->enc->pix_fmt));
            return -1;
        }
    }
    int r = av_frame_make_writable(o->frame); /* the encoder may still hold the last one */
    if (r < 0) {
        snprintf(msg, size, "out of memory for a frame: %s", video_error_text(r, e, sizeof e));
        return -1;
    }
    const uint8_t *src[4] = {img->pixels, NULL, NULL, NULL};
    const int stride[4] = {(int)img->stride, 0, 0, 0};
    sws_scale(o->sws, src, stride, 0, img->height, o->frame->data, o->frame->linesize);
    /* timestamps strictly increasing in the encoder's ticks, whatever the input had */
    int64_t t = pts == AV_NOPTS_VALUE ? o->next_pts
                                      : av_rescale_q(pts, o->in_tb, o->enc->time_base);
    if (o->next_pts != INT64_MIN && t < o->next_pts)
        t = o->next_pts;
    if (t == INT64_MIN)
        t = 0;
    o->frame->pts = t;
    o->next_pts = t + 1;
    if ((r = avcodec_send_frame(o->enc, o->frame)) < 0) {
        snprintf(msg, size, "encoding failed: %s", video_error_text(r, e, sizeof e));
        return -1;
    }
    return drain(o, msg, size);
}

int video_output_finish(video_output *o, char *msg, size_t size)
{
    char e[128];
    int r = avcodec_send_frame(o->enc, NULL);
    if (r < 0 && r != AVERROR_EOF) {
        snprintf(msg, size, "encoding failed: %s", video_error_text(r, e, sizeof e));
        return -1;
    }
    if (drain(o, msg, size))
        return -1;
    if ((r = av_write_trailer(o->oc)) < 0) {
        snprintf(msg, size, "cannot finish the container: %s", video_error_text(r, e, sizeof e));
        return -1;
    }
    avio_flush(o->pb);
    if (o->pb->error < 0) {
        snprintf(msg, size, "cannot write: %s", video_error_text(o->pb->error, e, sizeof e));
        return -1;
    }
    return 0;
}

void video_output_free(video_output *o)
{
    if (!o)
        return;
    avcodec_free_context(&o->enc);
    if (o->oc)
        avformat_free_context(o->oc);
    if (o->pb) {
        av_freep(&o->pb->buffer);
        avio_context_free(&o->pb);
    }
    sws_freeContext(o->sws);
    av_frame_free(&o->frame);
    av_packet_free(&o->pkt);
    free(o);
}
