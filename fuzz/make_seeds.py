#!/usr/bin/env python3
"""make_seeds.py - writes the small generated seed corpora of fuzz/corpus/ (JPEG seeds excepted, see README.md).

Usage: python3 fuzz/make_seeds.py [OUT_DIR]     (default: fuzz/corpus next to this script)
"""
import collections
import io
import os
import struct
import sys
import zipfile
import zlib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import torchsave  # noqa: E402


def write(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ------------------------------------------------------------------------------ checkpoints
def tiny_state():
    """Tensors that reach every layout path: contiguous, strided, offset into a shared storage,
    a scalar, an int64 and an empty tensor."""
    shared = torchsave.Storage("FloatStorage", "1", struct.pack("<8f", *range(8)))
    return collections.OrderedDict([
        ("module.conv.weight", torchsave.float_tensor("0", [0.5, -1.0, 2.0, 3.5], (2, 2))),
        ("module.conv.bias", torchsave.Tensor(shared, 2, (3,), (1,))),
        ("transposed", torchsave.Tensor(shared, 0, (2, 4), (1, 2))),
        ("scalar", torchsave.Tensor(shared, 7, (), ())),
        ("bn.num_batches_tracked",
         torchsave.Tensor(torchsave.Storage("LongStorage", "2", struct.pack("<q", 7)), 0, (), ())),
        ("empty", torchsave.Tensor(torchsave.Storage("HalfStorage", "3", b""), 0, (0, 3), (3, 1))),
    ])


def checkpoints(out):
    state = tiny_state()
    legacy = torchsave.legacy_bytes(state)
    write(out, "checkpoint", "legacy.pth", legacy)
    write(out, "checkpoint", "zip_stored.pth", torchsave.zip_bytes(state, "tiny"))
    write(out, "checkpoint", "zip_deflated.pth",
          torchsave.zip_bytes(state, "tiny", compress=zipfile.ZIP_DEFLATED))
    training = collections.OrderedDict([("epoch", 3), ("state_dict", state)])
    write(out, "checkpoint", "training.pth", torchsave.legacy_bytes(training))
    # The pickle target gets the legacy file (five streams in a row) and a zip's data.pkl.
    write(out, "pickle", "legacy_streams.pkl", legacy)
    z = zipfile.ZipFile(io.BytesIO(torchsave.zip_bytes(state, "tiny")))
    write(out, "pickle", "data.pkl", z.read("tiny/data.pkl"))


# ------------------------------------------------------------------------------ zip
def zips(out):
    def make(compress, zip64=False, comment=b""):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compress) as z:
            z.comment = comment
            for name, data in (("a/data.pkl", b"\x80\x02}q\x00."), ("a/data/0", bytes(range(64))),
                               ("a/empty", b"")):
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = compress
                with z.open(info, "w", force_zip64=zip64) as f:
                    f.write(data)
        return buf.getvalue()

    write(out, "zip", "stored.zip", make(zipfile.ZIP_STORED))
    write(out, "zip", "deflated.zip", make(zipfile.ZIP_DEFLATED))
    write(out, "zip", "zip64.zip", make(zipfile.ZIP_STORED, zip64=True))
    write(out, "zip", "comment.zip", make(zipfile.ZIP_DEFLATED, comment=b"a comment"))


# ------------------------------------------------------------------------------ .mat (v5)
MI = {"int8": 1, "uint8": 2, "int16": 3, "uint16": 4, "int32": 5, "uint32": 6, "single": 7,
      "double": 9, "matrix": 14, "compressed": 15, "utf8": 16}
MX = {"cell": 1, "struct": 2, "char": 4, "double": 6, "single": 7, "uint8": 9, "int32": 12}


def element(e, mi, data, small_ok=True):
    if small_ok and len(data) <= 4 and mi != MI["matrix"]:
        return struct.pack(e + "I", len(data) << 16 | mi) + data.ljust(4, b"\0")
    return struct.pack(e + "II", mi, len(data)) + data + b"\0" * (-len(data) % 8)


def matrix(e, mx, dims, name, body):
    flags = element(e, MI["uint32"], struct.pack(e + "II", mx, 0))
    d = element(e, MI["int32"], struct.pack(e + "%di" % len(dims), *dims))
    return element(e, MI["matrix"], flags + d + element(e, MI["int8"], name) + body)


def mat_file(e, elements):
    header = b"MATLAB 5.0 MAT-file, written by fuzz/make_seeds.py".ljust(116, b" ")
    header += b"\0" * 8 + struct.pack(e + "H", 0x0100) + (b"IM" if e == "<" else b"MI")
    return header + b"".join(elements)


def mats(out):
    for e, tag in (("<", "le"), (">", "be")):
        dbl = matrix(e, MX["double"], (2, 3), b"x",
                     element(e, MI["double"], struct.pack(e + "6d", 1, 2, 3, 4, 5, 6.5)))
        text = "0--Parade".encode("utf-16-le" if e == "<" else "utf-16-be")
        chars = matrix(e, MX["char"], (1, 9), b"event", element(e, MI["uint16"], text))
        cell_items = (matrix(e, MX["int32"], (1, 2), b"", element(e, MI["int32"],
                                                                  struct.pack(e + "2i", -1, 7)))
                      + matrix(e, MX["char"], (1, 2), b"", element(e, MI["uint8"], b"ab")))
        cell = matrix(e, MX["cell"], (2, 1), b"list", cell_items)
        single = matrix(e, MX["single"], (1, 1), b"", element(e, MI["single"],
                                                              struct.pack(e + "f", 2.5)))
        nested = matrix(e, MX["cell"], (1, 1), b"nested", matrix(e, MX["cell"], (1, 1), b"", single))
        empty = matrix(e, MX["cell"], (1, 1), b"holds_empty", element(e, MI["matrix"], b""))
        other = matrix(e, MX["struct"], (1, 1), b"s", b"")
        write(out, "matfile", "plain_%s.mat" % tag, mat_file(e, [dbl, chars, cell, nested, empty,
                                                                 other]))
        packed = zlib.compress(cell)
        packed = struct.pack(e + "II", MI["compressed"], len(packed)) + packed  # never padded
        write(out, "matfile", "compressed_%s.mat" % tag, mat_file(e, [packed, dbl]))


def wider_mats(out):
    """The official ground truth's layout: a val file (events, files, boxes) and a setting file
    (per image, the 1-based indices of the faces it keeps), joined as fuzz_wider_mat reads them."""
    for e, tag in (("<", "le"), (">", "be")):
        def text(s):
            raw = s.encode("utf-16-le" if e == "<" else "utf-16-be")
            return matrix(e, MX["char"], (1, len(s)), b"", element(e, MI["uint16"], raw))

        def cell(name, dims, items):
            return matrix(e, MX["cell"], dims, name, b"".join(items))

        def doubles(rows, cols, values):
            return matrix(e, MX["double"], (rows, cols), b"",
                          element(e, MI["double"], struct.pack(e + "%dd" % len(values), *values)))

        boxes = [doubles(2, 4, [10, 50, 20, 60, 5, 5, 30, 30]), doubles(0, 0, [])]
        val = mat_file(e, [
            cell(b"event_list", (2, 1), [text("0--Parade"), text("1--Handshaking")]),
            cell(b"file_list", (2, 1), [cell(b"", (1, 1), [text("0_Parade_1")]),
                                        cell(b"", (1, 1), [text("1_Handshaking_2")])]),
            cell(b"face_bbx_list", (2, 1), [cell(b"", (1, 1), [boxes[0]]),
                                            cell(b"", (1, 1), [boxes[1]])]),
        ])
        setting = mat_file(e, [cell(b"gt_list", (2, 1), [cell(b"", (1, 1), [doubles(2, 1, [1, 2])]),
                                                         cell(b"", (1, 1), [doubles(0, 0, [])])])])
        write(out, "wider_mat", "official_%s.bin" % tag, struct.pack("<I", len(val)) + val + setting)


# ------------------------------------------------------------------------------ WIDER text
def wider(out):
    write(out, "wider_gt", "gt.txt", b"0--Parade/0_Parade_marchingband_1_465.jpg\n2\n"
          b"345 211 4 4 2 0 0 0 2 0 \n331 126 3 3 0 0 0 1 0 0 \n"
          b"1--Handshaking/1_Handshaking_1.jpg\n0\n0 0 0 0 0 0 0 0 0 0 \n")
    write(out, "wider_gt", "result.txt", b"0_Parade_marchingband_1_465\n3\n"
          b"345 211 4 4 0.99\n331.5 126 3 3 0.5 extra\n\n1e2 -3 0 0 0.01\n")
    write(out, "wider_gt", "crlf.txt", b"a/b.jpg\r\n1\r\n1 2 3 4 0 0 0 0 0 0\r\n")


# ------------------------------------------------------------------------------ PNG
def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width, height, depth, color, rows, extra=b"", interlace=0):
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, interlace)
    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra +
            png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def adam7_rows(width, height, pixel):
    """Rows of the seven Adam7 passes of an 8-bit image, pixel(x, y) giving each pixel's bytes."""
    rows = []
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4),
                           (1, 0, 2, 2), (0, 1, 1, 2)):
        xs = range(x0, width, dx)
        if not xs:
            continue
        rows += [b"".join(pixel(x, y) for x in xs) for y in range(y0, height, dy)]
    return rows


def pngs(out):
    w, h = 5, 3
    px = lambda x, y, n: bytes((x * 40 + y * 7 + c * 50) % 256 for c in range(n))
    write(out, "image", "rgb.png", png(w, h, 8, 2, [b"".join(px(x, y, 3) for x in range(w))
                                                    for y in range(h)]))
    write(out, "image", "grey.png", png(w, h, 8, 0, [b"".join(px(x, y, 1) for x in range(w))
                                                     for y in range(h)]))
    write(out, "image", "grey1.png", png(9, 2, 1, 0, [b"\xa5\x80", b"\x5a\x00"]))
    write(out, "image", "grey_alpha.png", png(w, h, 8, 4, [b"".join(px(x, y, 2) for x in range(w))
                                                           for y in range(h)]))
    write(out, "image", "rgba.png", png(w, h, 8, 6, [b"".join(px(x, y, 4) for x in range(w))
                                                     for y in range(h)]))
    write(out, "image", "rgb16.png", png(w, h, 16, 2, [b"".join(px(x, y, 6) for x in range(w))
                                                       for y in range(h)]))
    plte = png_chunk(b"PLTE", bytes(range(12))) + png_chunk(b"tRNS", b"\x80")
    write(out, "image", "palette.png", png(w, h, 8, 3, [bytes((x + y) % 4 for x in range(w))
                                                        for y in range(h)], extra=plte))
    write(out, "image", "grey_trns.png", png(w, h, 8, 0, [b"".join(px(x, y, 1) for x in range(w))
                                                          for y in range(h)],
                                             extra=png_chunk(b"tRNS", b"\0\x07")))
    write(out, "image", "interlaced.png",
          png(10, 9, 8, 2, adam7_rows(10, 9, lambda x, y: px(x, y, 3)), interlace=1))
    write(out, "image", "one_pixel.png", png(1, 1, 8, 2, [b"\x10\x20\x30"]))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    checkpoints(out)
    zips(out)
    mats(out)
    wider_mats(out)
    wider(out)
    pngs(out)


if __name__ == "__main__":
    main()
