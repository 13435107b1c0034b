/* test_wider.c - WIDER ground truth (text and .mat), detection rounding, result files written and read back. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include "retinaface_eval.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <unistd.h>

static void txt_parsing(void)
{
    rf_wider_gt gt;
    rf_error err;
    /* CRLF, attribute columns, a count of 0 followed by the dummy line, a missing final
     * newline: all as in the official file */
    const char *text = "0--Parade/0_Parade_a_1.jpg\r\n"
                       "2\r\n"
                       "10 20 30 40 0 0 0 0 0 0 \r\n"
                       "1 2 3 4 1 0 0 0 0 0 \r\n"
                       "12--Group/12_Group_b_2.jpg\n"
                       "0\n"
                       "0 0 0 0 0 0 0 0 0 0 \n"
                       "12--Group/12_Group_c_3.jpg\n"
                       "1\n"
                       "5.5 6 7 8";
    CHECK(rf_wider_gt_parse_txt(text, strlen(text), "gt.txt", &gt, &err) == RF_OK, "%s",
          err.message);
    CHECK(gt.count == 3, "%d images", gt.count);
    if (gt.count == 3) {
        CHECK(!strcmp(gt.images[0].event, "0--Parade") && !strcmp(gt.images[0].name,
                                                                   "0_Parade_a_1"), "names");
        CHECK(gt.images[0].count == 2 && gt.images[0].boxes[0] == 10 &&
                  gt.images[0].boxes[7] == 4 && gt.images[0].keep == NULL,
              "boxes of image 1");
        CHECK(gt.images[1].count == 0, "count 0 with its dummy line");
        CHECK(gt.images[2].count == 1 && gt.images[2].boxes[0] == 5.5, "last line unterminated");
        CHECK(rf_wider_gt_find(&gt, "12--Group", "12_Group_c_3") == 2, "find");
        CHECK(rf_wider_gt_find(&gt, "0--Parade", "12_Group_c_3") == -1, "find: wrong event");
    }
    rf_wider_gt_free(&gt);

    static const struct {
        const char *text, *what, *needle;
    } bad[] = {
        {"", "empty", "no image lines"},
        {"a/b.jpg\n", "no count", "gt.txt:1"},
        {"a/b.jpg\nx\n", "count not a number", "gt.txt:2"},
        {"a/b.jpg\n-1\n", "negative count", "gt.txt:2"},
        {"a/b.jpg\n2\n1 2 3 4\n", "fewer faces than the count", "face 2"},
        {"a/b.jpg\n1\n1 2 x 4\n", "bad number", "gt.txt:3"},
        {"a/b.jpg\n1\n1 2 3\n", "three numbers", "gt.txt:3"},
        {"a/b.jpg\n1\n1 nan 3 4\n", "nan", "gt.txt:3"},
        {"b.jpg\n0\n", "no event folder", "<event>/<name>.jpg"},
        {"a/b.jpg\n99999999\n1 2 3 4\n", "count beyond the file", "ends first"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rf_status st = rf_wider_gt_parse_txt(bad[i].text, strlen(bad[i].text), "gt.txt", &gt,
                                             &err);
        CHECK(st == RF_E_FORMAT, "%s: status %d", bad[i].what, (int)st);
        CHECK(strstr(err.message, bad[i].needle) != NULL, "%s: message '%s'", bad[i].what,
              err.message);
    }
    CHECK(rf_wider_gt_load_txt("/nonexistent/gt.txt", &gt, &err) == RF_E_IO &&
              strstr(err.message, "/nonexistent/gt.txt"),
          "missing file: %s", err.message);
}

static void conversions(void)
{
    rf_face f;
    memset(&f, 0, sizeof f);
    f.box[0] = -0.7f;
    f.box[1] = 3.9f;
    f.box[2] = 10.2f;
    f.box[3] = 20.99f;
    f.score = 0.99967515f;
    rf_wider_box b = rf_wider_box_official(&f);
    /* int() truncates toward zero: x1 -0.7 -> 0, y1 3.9 -> 3, x2 10.2 -> 10, y2 20.99 -> 20 */
    CHECK(b.x == 0 && b.y == 3 && b.w == 10 && b.h == 17, "official: %g %g %g %g", b.x, b.y, b.w,
          b.h);
    /* the score as Python prints a float32, read back as a double */
    CHECK(b.score == strtod("0.99967515", NULL), "score %.17g", b.score);
    f.score = 0.1f;
    CHECK(rf_wider_box_official(&f).score == 0.1, "0.1f -> 0.1");

    /* numpy.rint: 2.5 -> 2, 3.5 -> 4, -0.5 -> -0, 10.5 -> 10 */
    f.box[0] = 2.5f;
    f.box[1] = 3.5f;
    f.box[2] = 10.5f;
    f.box[3] = 4.6f;
    b = rf_wider_box_omz(&f);
    CHECK(b.x == 2 && b.y == 4 && b.w == 8 && b.h == 1, "omz: %g %g %g %g", b.x, b.y, b.w, b.h);
    f.box[0] = -0.5f;
    CHECK(rf_wider_box_omz(&f).x == 0, "-0.5 rounds to 0");

    rf_error err;
    rf_wider_box s[6] = {{0, 0, 0, 0, 0.5}, {1, 0, 0, 0, 0.9}, {2, 0, 0, 0, 0.5},
                         {3, 0, 0, 0, 0.1}, {4, 0, 0, 0, 0.9}, {5, 0, 0, 0, 0.5}};
    CHECK(rf_wider_boxes_sort(s, 6, &err) == RF_OK, "sort");
    /* descending; equal scores keep their order */
    CHECK(s[0].x == 1 && s[1].x == 4 && s[2].x == 0 && s[3].x == 2 && s[4].x == 5 && s[5].x == 3,
          "stable: %g %g %g %g %g %g", s[0].x, s[1].x, s[2].x, s[3].x, s[4].x, s[5].x);
}

static void result_files(void)
{
    rf_error err;
    char dir[] = "/tmp/rf_test_wider_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    rf_wider_box boxes[4] = {{-5, 0, 10, 20, 0.99967515},
                             {1000000, 2, 3, 4, 0.1},
                             {1.25, 2.5, 3.75, 4.125, 1.0 / 3},
                             {7, 8, 9, 10, 0.020000001}};
    CHECK(rf_wider_result_write(dir, "0--Parade", "0_Parade_x_1", boxes, 4, &err) == RF_OK, "%s",
          err.message);
    char path[512];
    snprintf(path, sizeof path, "%s/0--Parade/0_Parade_x_1.txt", dir);
    FILE *f = fopen(path, "r");
    char line[256] = "";
    if (f) {
        CHECK(fgets(line, sizeof line, f) && strcmp(line, "0_Parade_x_1\n") == 0, "name line");
        CHECK(fgets(line, sizeof line, f) && strcmp(line, "4\n") == 0, "count line");
        CHECK(fgets(line, sizeof line, f) && strcmp(line, "-5 0 10 20 0.99967515\n") == 0,
              "box line '%s'", line);
        CHECK(fgets(line, sizeof line, f) && strcmp(line, "1000000 2 3 4 0.1\n") == 0,
              "integers stay plain: '%s'", line);
        fclose(f);
    } else {
        CHECK(0, "result file not written");
    }
    rf_wider_box *back = NULL;
    int n = 0;
    CHECK(rf_wider_result_read(path, &back, &n, &err) == RF_OK, "%s", err.message);
    CHECK(n == 4 && back && memcmp(back, boxes, sizeof boxes) == 0, "round trip is exact");
    free(back);
    snprintf(path, sizeof path, "%s/0--Parade/0_Parade_x_1.txt.tmp", dir);
    CHECK(access(path, F_OK) != 0, "no temporary file left");
    CHECK(rf_wider_result_write(dir, "1--Handshaking", "empty", NULL, 0, &err) == RF_OK,
          "empty result");

    /* the directory as ground truth of 3 images, 2 with result files */
    const char *gt_text = "0--Parade/0_Parade_x_1.jpg\n1\n1 2 3 4\n"
                          "1--Handshaking/empty.jpg\n0\n0 0 0 0\n"
                          "2--Demonstration/absent.jpg\n1\n1 2 3 4\n";
    rf_wider_gt gt;
    rf_wider_preds preds;
    CHECK(rf_wider_gt_parse_txt(gt_text, strlen(gt_text), "gt", &gt, &err) == RF_OK, "gt");
    CHECK(rf_wider_preds_load(dir, &gt, &preds, &err) == RF_OK, "%s", err.message);
    CHECK(preds.count == 3 && preds.present == 2, "present %d", preds.present);
    if (preds.count == 3)
        CHECK(preds.images[0].count == 4 && preds.images[1].present &&
                  preds.images[1].count == 0 && !preds.images[2].present,
              "per image");
    rf_wider_preds_free(&preds);
    CHECK(rf_wider_preds_load("/nonexistent", &gt, &preds, &err) == RF_E_IO, "missing dir");
    /* a corrupt result file is an error naming it */
    snprintf(path, sizeof path, "%s/1--Handshaking/empty.txt", dir);
    f = fopen(path, "w");
    if (f) {
        fputs("empty\n2\n1 2 3 4 0.5\n", f);
        fclose(f);
    }
    CHECK(rf_wider_preds_load(dir, &gt, &preds, &err) == RF_E_FORMAT &&
              strstr(err.message, "empty.txt"),
          "corrupt file: %s", err.message);
    rf_wider_gt_free(&gt);
    /* writing over a file where a folder should be */
    snprintf(path, sizeof path, "%s/blocker", dir);
    f = fopen(path, "w");
    if (f)
        fclose(f);
    CHECK(rf_wider_result_write(dir, "blocker", "x", boxes, 1, &err) == RF_E_IO, "%s",
          err.message);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cleanup");
}

static void result_parsing(void)
{
    rf_error err;
    rf_wider_box *b;
    int n;
    /* another detector's style: path in the name line, trailing spaces, CRLF, blank lines,
     * extra columns, floats */
    const char *ok = "0--Parade/x.jpg\r\n3\r\n1 2 3 4 0.5 \r\n\r\n1.5 2.5 3 4 0.25 extra\r\n"
                     "-1 -2 3 4 1e-3\r\n";
    CHECK(rf_wider_result_parse(ok, strlen(ok), "r.txt", &b, &n, &err) == RF_OK, "%s",
          err.message);
    CHECK(n == 3 && b[1].x == 1.5 && b[1].score == 0.25 && b[2].score == 1e-3, "values");
    free(b);
    CHECK(rf_wider_result_parse("x\n0\n", 4, "r.txt", &b, &n, &err) == RF_OK && n == 0 && !b,
          "no boxes");
    static const struct {
        const char *text, *needle;
    } bad[] = {
        {"", "empty"},
        {"name only\n", "r.txt:2"},
        {"x\nabc\n", "r.txt:2"},
        {"x\n2\n1 2 3 4 0.5\n", "declares 2 boxes but holds 1"},
        {"x\n1\n1 2 3 4 0.5\n1 2 3 4 0.5\n", "more boxes"},
        {"x\n1\n1 2 3 4\n", "r.txt:3"},
        {"x\n1\n1 2 3 4 inf\n", "r.txt:3"},
        {"x\n1\n1 2 3 4 0.5x\n", "r.txt:3"},
        {"x\n100000\n1 2 3 4 0.5\n", "ends first"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rf_status st = rf_wider_result_parse(bad[i].text, strlen(bad[i].text), "r.txt", &b, &n,
                                             &err);
        CHECK(st == RF_E_FORMAT && strstr(err.message, bad[i].needle),
              "case %zu: status %d '%s'", i, (int)st, err.message);
    }
}

static void real_ground_truth(void)
{
    rf_wider_gt mat, txt;
    rf_error err;
    char path[4096];
    const char *dir = test_data_path("data/widerface");
    CHECK(rf_wider_gt_load_official(dir, &mat, &err) == RF_OK, "%s", err.message);
    CHECK(rf_wider_find_file(test_data_path("data/widerface"), "wider_face_val_bbx_gt.txt", path,
                             sizeof path, &err) == RF_OK, "%s", err.message);
    CHECK(rf_wider_gt_load_txt(path, &txt, &err) == RF_OK, "%s", err.message);
    CHECK(mat.count == RF_WIDER_VAL_IMAGES && txt.count == RF_WIDER_VAL_IMAGES,
          "%d and %d images", mat.count, txt.count);
    /* totals of the full set (data/SOURCES.md): faces and the easy/medium/hard keep lists */
    long faces = 0, keep[3] = {0, 0, 0}, sub[3] = {0, 0, 0}, txt_faces = 0;
    int same = 1;
    char subset[200000] = "";
    FILE *f = fopen(test_data_path("data/widerface/val_subset.txt"), "r");
    if (f) {
        size_t n = fread(subset, 1, sizeof subset - 1, f);
        subset[n] = '\0';
        fclose(f);
    }
    for (int i = 0; i < mat.count; i++) {
        const rf_wider_image *m = &mat.images[i];
        char key[600];
        snprintf(key, sizeof key, "%s/%s.jpg\n", m->event, m->name);
        int in_subset = strstr(subset, key) != NULL;
        faces += m->count;
        for (int k = 0; k < m->count; k++)
            for (int s = 0; s < 3; s++) {
                keep[s] += (m->keep[k] >> s) & 1;
                sub[s] += in_subset && ((m->keep[k] >> s) & 1);
            }
        int j = rf_wider_gt_find(&txt, m->event, m->name);
        if (j < 0 || txt.images[j].count != m->count ||
            (m->count && memcmp(txt.images[j].boxes, m->boxes, sizeof(double) * 4 * m->count)))
            same = 0;
    }
    for (int i = 0; i < txt.count; i++)
        txt_faces += txt.images[i].count;
    CHECK(faces == 39708 && txt_faces == 39708, "faces %ld / %ld", faces, txt_faces);
    CHECK(keep[0] == 7211 && keep[1] == 13319 && keep[2] == 31958, "keep %ld %ld %ld", keep[0],
          keep[1], keep[2]);
    CHECK(sub[0] == 1577 && sub[1] == 3296 && sub[2] == 8981, "627-image subset %ld %ld %ld",
          sub[0], sub[1], sub[2]);
    CHECK(same, "the .mat and the text ground truth hold the same boxes");
    rf_wider_gt_free(&mat);
    rf_wider_gt_free(&txt);
    CHECK(rf_wider_gt_load_official("/nonexistent", &mat, &err) == RF_E_IO &&
              strstr(err.message, "wider_face_val.mat"),
          "missing: %s", err.message);
}

int main(void)
{
    txt_parsing();
    conversions();
    result_files();
    result_parsing();
    if (tu_failed)
        return test_summary();
    require_test_data("test_wider (real ground truth)");
    real_ground_truth();
    return test_summary();
}
