/* video.h - what `retinaface video` is made of: FFmpeg input (demux, decode, convert to BGR),
 * FFmpeg output (convert, encode, mux, audio copied), and face anonymization. Only the CLI
 * links FFmpeg; the library knows nothing of it. */
#ifndef RF_CLI_VIDEO_H
#define RF_CLI_VIDEO_H

#include "retinaface.h"

#include <libavformat/avformat.h>
#include <signal.h>
#include <stdio.h>

/* ------------------------------------------------------------------------------ FFmpeg messages */
/* Routes FFmpeg's log through a callback that counts errors and keeps the last one; with
 * verbose, warnings and errors are also printed as FFmpeg prints them. */
void video_log_init(int verbose);
/* Errors FFmpeg logged since the last call; the text of the last one goes to last. */
int video_log_take_errors(char *last, size_t size);
/* FFmpeg's text for an AVERROR code. */
const char *video_error_text(int code, char *buf, size_t size);

/* ------------------------------------------------------------------------------ audio packets */
/* Packets of the input's audio stream, carried along with the video frame read after them. */
typedef struct {
    AVPacket **items;
    int count, capacity;
} video_packets;

int video_packets_add(video_packets *l, const AVPacket *pkt); /* a new reference; -1 no memory */
void video_packets_clear(video_packets *l);                   /* unreferences, keeps capacity */
void video_packets_free(video_packets *l);

/* ------------------------------------------------------------------------------ input */
typedef struct video_input video_input;

typedef struct {
    int width, height;      /* of the first frame; later frames are scaled to it */
    AVRational frame_rate;  /* 0/1 when the stream does not say */
    AVRational time_base;   /* of the video stream's timestamps */
    int64_t frames;         /* frames the container declares, or -1 */
    double duration;        /* seconds, or -1 */
    const AVStream *audio;  /* the first audio stream, or NULL */
    const char *format;     /* demuxer name */
} video_info;

/* Opens url (a file, URL, device or pattern such as frames/%04d.png), with demuxer `format`
 * (NULL: probed; a character device: video4linux2) and its options, and decodes the first
 * frame into first (allocated here, BGR), adding the audio packets before it to audio.
 * stop: reading gives up when it becomes nonzero. 0, or -1 with a one-line reason in msg. */
int video_input_open(const char *url, const char *format, AVDictionary **options,
                     volatile sig_atomic_t *stop, video_input **in, video_info *info,
                     rf_image_buf *first, int64_t *pts, video_packets *audio, char *msg,
                     size_t size);
/* The next frame into img (info's size, BGR) and its timestamp (time base of info; AV_NOPTS_VALUE
 * when unknown); audio packets read on the way are added to audio (also by the call that
 * finds the end: those follow the last frame). 1 frame, 0 end of input (or stop), -1 error
 * (msg). Corrupt packets are skipped and counted, not errors. */
int video_input_read(video_input *in, rf_image_buf *img, int64_t *pts, video_packets *audio,
                     char *msg, size_t size);
/* After the last read: whether the input was cut short or damaged (a read error, undecodable
 * packets, an error FFmpeg reported, fewer frames than the container declares when the whole
 * input was read), with a one-line account in msg. 0 when it was sound. */
int video_input_damage(video_input *in, int64_t frames_read, int read_to_end, char *msg,
                       size_t size);
void video_input_close(video_input *in);

/* ------------------------------------------------------------------------------ output */
typedef struct video_output video_output;

/* An encoder and muxer writing to f (a temporary file the caller renames into place; seekable
 * unless a pipe or device). The container comes from name's extension; codec NULL means the
 * container's default (H.264 for .mp4/.mkv/.mov, MPEG-4 part 2 for .avi); enc_options go to the
 * encoder (preset=..., crf=...). The input's audio stream is copied when the container takes
 * its codec (a note on stderr when not). 0, or -1 with a reason in msg. */
int video_output_open(const char *name, FILE *f, int seekable, const char *codec,
                      AVDictionary **enc_options, const video_info *info, video_output **out,
                      char *msg, size_t size);
/* One frame (BGR or RGB, info's size) at pts (input time base), after the input's audio
 * packets that came before it. */
int video_output_write(video_output *o, const rf_image *img, int64_t pts, video_packets *audio,
                       char *msg, size_t size);
/* Audio packets after the last frame. */
int video_output_write_audio(video_output *o, video_packets *audio, char *msg, size_t size);
/* Drains the encoder and writes the container's trailer; the file is then complete. */
int video_output_finish(video_output *o, char *msg, size_t size);
void video_output_free(video_output *o);
/* Checks that name's extension names a container FFmpeg can write (for the command line). */
int video_output_format_known(const char *name);

/* ------------------------------------------------------------------------------ anonymization */
typedef enum { VIDEO_COVER_NONE = 0, VIDEO_COVER_BLUR, VIDEO_COVER_PIXELATE, VIDEO_COVER_FILL }
video_cover;

/* The region hidden for a face: the ellipse inscribed in its box scaled by this factor about
 * the box's centre (at 1.5 the whole box lies inside the ellipse, with a margin for hair and
 * chin). */
#define VIDEO_COVER_SCALE 1.5f

/* Covers every face with score > threshold: blurred (three box blurs of radius a fifth of the
 * box's longer side, about a Gaussian of that sigma), pixelated (blocks of a fifth of it,
 * each its mean) or filled black. Pixels outside the ellipses are not touched. scratch is
 * grown as needed and kept by the caller ({NULL, 0} at first; free() it). */
void video_cover_faces(rf_image_buf *img, const rf_faces *faces, float threshold,
                       video_cover how, uint8_t **scratch, size_t *scratch_size);

#endif
