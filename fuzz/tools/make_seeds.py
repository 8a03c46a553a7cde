#!/usr/bin/env python3
"""Regenerates the committed seed corpora in fuzz/seeds/<target>/ from tests/data and small
synthetic files.

    python3 -m venv /tmp/seedenv && /tmp/seedenv/bin/pip install pillow
    apt-get install libjpeg-turbo-progs     # jpegtran: JPEGs with restart markers (optional)
    /tmp/seedenv/bin/python fuzz/tools/make_seeds.py

Only the seeds are committed; the fuzzers never need this script. Input formats of the targets
with option bytes are described at the top of each fuzz_targets/*.rs.
"""

import base64
import hashlib
import io
import os
import shutil
import struct
import subprocess
import zipfile

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ = os.path.dirname(HERE)
ROOT = os.path.dirname(FUZZ)
DATA = os.path.join(ROOT, "tests", "data")
MEDIA = os.path.join(DATA, "media")
SEEDS = os.path.join(FUZZ, "seeds")
BOUNDARY = b"facelite-fuzz-boundary"
FOLDER_MEDIA = ["11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-aaaaaaaaaaaa"]


def out(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def read(*p):
    with open(os.path.join(*p), "rb") as f:
        return f.read()


# ---------------------------------------------------------------- small images

def face(w, h, mode="RGB"):
    """A small crop of a test photo (real image statistics, not flat colour)."""
    img = Image.open(os.path.join(DATA, "op_p001_happy.jpg")).convert("RGB")
    img = img.resize((w, h))
    return img.convert(mode)


def encode(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def jpeg_with_restarts(jpeg):
    """The same JPEG with a restart marker every MCU row (camera style), via jpegtran."""
    try:
        r = subprocess.run(["jpegtran", "-restart", "1"], input=jpeg, capture_output=True, check=True)
        return r.stdout
    except (OSError, subprocess.CalledProcessError):
        return None


def exif_orientation(o):
    exif = Image.Exif()
    exif[0x0112] = o
    return exif.tobytes()


def images():
    """name -> bytes of small still images in every accepted format and some variants."""
    ims = {}
    ims["baseline.jpg"] = encode(face(48, 40), "JPEG", quality=80)
    ims["progressive.jpg"] = encode(face(40, 48), "JPEG", quality=70, progressive=True)
    ims["gray.jpg"] = encode(face(33, 17, "L"), "JPEG", quality=75)
    ims["444.jpg"] = encode(face(24, 24), "JPEG", quality=90, subsampling=0)
    ims["422.jpg"] = encode(face(30, 20), "JPEG", quality=90, subsampling=1)
    ims["cmyk.jpg"] = encode(face(16, 16, "CMYK"), "JPEG", quality=80)
    ims["exif_rot6.jpg"] = encode(face(40, 24), "JPEG", quality=80, exif=exif_orientation(6))
    restarts = jpeg_with_restarts(encode(face(64, 96), "JPEG", quality=75))
    if restarts:
        ims["restarts.jpg"] = restarts
    ims["rgb.png"] = encode(face(20, 14), "PNG")
    ims["rgba.png"] = encode(face(12, 12, "RGBA"), "PNG")
    ims["palette.png"] = encode(face(16, 10).convert("P"), "PNG")
    ims["gray16.png"] = encode(face(8, 8, "L").convert("I;16"), "PNG")
    ims["lossy.webp"] = encode(face(24, 16), "WEBP", quality=60)
    ims["lossless.webp"] = encode(face(10, 10), "WEBP", lossless=True)
    ims["rgb.bmp"] = encode(face(9, 7), "BMP")
    ims["gray.bmp"] = encode(face(6, 5, "L"), "BMP")
    return ims


# ---------------------------------------------------------------- MP4 -> Annex B

def boxes(d, s, e):
    while s + 8 <= e:
        size, kind = struct.unpack(">I4s", d[s:s + 8])
        hdr = 8
        if size == 1:
            size = struct.unpack(">Q", d[s + 8:s + 16])[0]
            hdr = 16
        elif size == 0:
            size = e - s
        if size < hdr:
            return
        yield kind, s + hdr, s + size
        s += size


def find(d, s, e, path):
    for kind, bs, be in boxes(d, s, e):
        if kind == path[0]:
            if len(path) == 1:
                return bs, be
            r = find(d, bs, be, path[1:])
            if r:
                return r
    return None


def mp4_video(path):
    """(codec fourcc, config record, [sample bytes]) of the first video track of an MP4."""
    d = read(path)
    moov = find(d, 0, len(d), [b"moov"])
    for kind, ts, te in boxes(d, moov[0], moov[1]):
        if kind != b"trak":
            continue
        stbl = find(d, ts, te, [b"mdia", b"minf", b"stbl"])
        if not stbl:
            continue
        stsd = find(d, stbl[0], stbl[1], [b"stsd"])
        entry = list(boxes(d, stsd[0] + 8, stsd[1]))[0]
        fourcc = entry[0]
        if fourcc not in (b"avc1", b"avc3", b"hvc1", b"hev1"):
            continue
        cfg_kind = b"avcC" if fourcc.startswith(b"avc") else b"hvcC"
        cfg = find(d, entry[1] + 78, entry[2], [cfg_kind])
        config = d[cfg[0]:cfg[1]]
        stsz = find(d, stbl[0], stbl[1], [b"stsz"])
        fixed, count = struct.unpack(">II", d[stsz[0] + 4:stsz[0] + 12])
        sizes = [fixed] * count if fixed else list(struct.unpack(">%dI" % count, d[stsz[0] + 12:stsz[0] + 12 + 4 * count]))
        stco = find(d, stbl[0], stbl[1], [b"stco"])
        if stco:
            n = struct.unpack(">I", d[stco[0] + 4:stco[0] + 8])[0]
            offsets = list(struct.unpack(">%dI" % n, d[stco[0] + 8:stco[0] + 8 + 4 * n]))
        else:
            co64 = find(d, stbl[0], stbl[1], [b"co64"])
            n = struct.unpack(">I", d[co64[0] + 4:co64[0] + 8])[0]
            offsets = list(struct.unpack(">%dQ" % n, d[co64[0] + 8:co64[0] + 8 + 8 * n]))
        stsc = find(d, stbl[0], stbl[1], [b"stsc"])
        n = struct.unpack(">I", d[stsc[0] + 4:stsc[0] + 8])[0]
        runs = [struct.unpack(">III", d[stsc[0] + 8 + 12 * i:stsc[0] + 20 + 12 * i]) for i in range(n)]
        samples, k = [], 0
        for c, off in enumerate(offsets):
            per = [r[1] for r in runs if r[0] <= c + 1][-1]
            for _ in range(per):
                if k >= len(sizes):
                    break
                samples.append(d[off:off + sizes[k]])
                off += sizes[k]
                k += 1
        return fourcc, config, samples
    raise ValueError("no H.264/HEVC track in " + path)


def annexb(fourcc, config, samples):
    sc = b"\x00\x00\x00\x01"
    out = b""
    if fourcc.startswith(b"avc"):
        ls = (config[4] & 3) + 1
        p = 6
        for _ in range(config[5] & 0x1F):
            n = struct.unpack(">H", config[p:p + 2])[0]
            out += sc + config[p + 2:p + 2 + n]
            p += 2 + n
        for _ in range(config[p]):
            n = struct.unpack(">H", config[p + 1:p + 3])[0]
            out += sc + config[p + 3:p + 3 + n]
            p += 2 + n
    else:
        ls = (config[21] & 3) + 1
        p = 23
        for _ in range(config[22]):
            cnt = struct.unpack(">H", config[p + 1:p + 3])[0]
            p += 3
            for _ in range(cnt):
                n = struct.unpack(">H", config[p:p + 2])[0]
                out += sc + config[p + 2:p + 2 + n]
                p += 2 + n
    for s in samples:
        p = 0
        while p + ls <= len(s):
            n = int.from_bytes(s[p:p + ls], "big")
            out += sc + s[p + ls:p + ls + n]
            p += ls + n
    return out


# ---------------------------------------------------------------- AVI frames

def avi_frames(path):
    d = read(path)
    frames = []

    def walk(s, e):
        while s + 8 <= e:
            cid = d[s:s + 4]
            size = struct.unpack("<I", d[s + 4:s + 8])[0]
            body = (s + 8, min(s + 8 + size, e))
            if cid in (b"LIST", b"RIFF"):
                walk(body[0] + 4, body[1])
            elif cid[2:] in (b"dc", b"db") and size:
                frames.append(d[body[0]:body[1]])
            s = body[1] + (size & 1)

    walk(0, len(d))
    return frames


# ---------------------------------------------------------------- ZIPs

def zip_bytes(entries, **kw):
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", compression=kw.get("compression", zipfile.ZIP_DEFLATED)) as z:
        for name, data in entries:
            if data is None:
                z.writestr(zipfile.ZipInfo(name), b"")  # a directory entry when name ends in /
            elif kw.get("zip64"):
                with z.open(name, "w", force_zip64=True) as f:
                    f.write(data)
            else:
                z.writestr(name, data)
    return b.getvalue()


# ---------------------------------------------------------------- multipart

def part(name, data, filename=None, ctype=None, extra=b""):
    h = b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="' + name.encode() + b'"'
    if filename:
        h += b'; filename="' + filename.encode() + b'"'
    h += b"\r\n"
    if ctype:
        h += b"Content-Type: " + ctype.encode() + b"\r\n"
    h += extra + b"\r\n"
    return h + data + b"\r\n"


def multipart(*parts):
    return b"".join(parts) + b"--" + BOUNDARY + b"--\r\n"


# ---------------------------------------------------------------- templates

def template(model_id=b"faceapi-recognition", version=b"dlib-resnet-v1.face-api-1.7.15", dim=128, seed=1):
    body = b"FLTM" + struct.pack("<H", 1)
    body += bytes([len(model_id)]) + model_id + bytes([len(version)]) + version
    body += struct.pack("<H", dim)
    body += b"".join(struct.pack("<f", ((i * 37 + seed) % 101 - 50) / 400.0) for i in range(dim))
    return body + hashlib.sha256(body).digest()[:8]


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    ims = images()

    # media containers, straight from tests/data/media
    for f in ["h264_baseline.mp4", "h264_high.mp4", "h264_frag.mp4", "h264_gray.mp4", "h264_444.mp4",
              "h264_rot90.mp4", "hevc.mp4", "mjpeg.mov"]:
        out("media_mp4", f, read(MEDIA, f))
    for f in ["vp8.webm", "h264_high.mkv"]:
        out("media_mkv", f, read(MEDIA, f))
    for f in ["mjpeg.avi", "mjpeg_audio_first.avi", "mjpeg_nodht.avi"]:
        out("media_avi", f, read(MEDIA, f))
    for f in ["shots.zip", "shots_png.zip", "bomb.zip"]:
        out("media_shots", f, read(MEDIA, f))
    tiny = [("shot_10.jpg", ims["baseline.jpg"]), ("shot_2.jpg", ims["gray.jpg"])]
    out("media_shots", "tiny_two_jpegs.zip", zip_bytes(tiny))
    out("media_shots", "tiny_stored.zip", zip_bytes(tiny, compression=zipfile.ZIP_STORED))
    out("media_shots", "tiny_zip64.zip", zip_bytes(tiny, zip64=True))
    out("media_shots", "tiny_junk.zip", zip_bytes([("frames/", None), ("__MACOSX/._a.jpg", b"x"),
                                                   (".DS_Store", b"x"), ("frames/a1.png", ims["rgb.png"]),
                                                   ("frames/a02.png", ims["palette.png"])]))

    # codec streams: Annex B from the MP4 clips, JPEG frames from the AVIs
    # (whole clips, and their first 4 pictures: short streams run many times faster)
    for f in ["h264_baseline.mp4", "h264_high.mp4", "h264_gray.mp4", "h264_444.mp4", "attack_swap_p001.mp4"]:
        fourcc, config, samples = mp4_video(os.path.join(MEDIA, f))
        out("media_h264", f.replace(".mp4", ".h264"), annexb(fourcc, config, samples))
        if len(samples) > 4:
            out("media_h264", f.replace(".mp4", "_4.h264"), annexb(fourcc, config, samples[:4]))
    fourcc, config, samples = mp4_video(os.path.join(MEDIA, "hevc.mp4"))
    out("media_h265", "hevc.h265", annexb(fourcc, config, samples))
    out("media_h265", "hevc_4.h265", annexb(fourcc, config, samples[:4]))
    out("media_mjpeg", "avi_frame.jpg", avi_frames(os.path.join(MEDIA, "mjpeg.avi"))[0])
    out("media_mjpeg", "avi_frame_nodht.jpg", avi_frames(os.path.join(MEDIA, "mjpeg_nodht.avi"))[0])
    for k, v in ims.items():
        if k.endswith(".jpg"):
            out("media_mjpeg", k, v)

    # still images
    for k, v in ims.items():
        out("image_decode", k, v)
    out("image_decode", "photo.jpg", read(DATA, "op_p001_happy.jpg"))

    # sniffing: the first 64 bytes of one file of each kind
    for k in ["baseline.jpg", "rgb.png", "lossy.webp", "rgb.bmp"]:
        out("media_sniff", k, ims[k][:64])
    for f in ["h264_high.mp4", "mjpeg.mov", "vp8.webm", "mjpeg.avi", "shots.zip"]:
        out("media_sniff", f, read(MEDIA, f)[:64])

    # Oz uploads: option byte + body (see fuzz_targets/upload_multipart.rs)
    payload = ('{"media:tags": {"video1": ["video_selfie", "orientation_portrait"], "photo1": ["photo_selfie"]},'
               ' "media:meta_data": {"photo1": {"k": "v"}}, "folder:meta_data": {"client": "kiosk-7"},'
               ' "resolution_endpoint": "https://hooks.example/oz", "company_id": null,'
               ' "analyses": [{"type": "quality", "params": {"extract_best_shot": true}},'
               ' {"type": "biometry", "source_media": []}]}').encode()
    gray = read(MEDIA, "h264_gray.mp4")
    shots = zip_bytes(tiny)
    body = multipart(part("payload", payload, ctype="application/json"),
                     part("photo1", ims["baseline.jpg"], "selfie.jpg", "image/jpeg"),
                     part("video1", gray, "clip.mp4", "video/mp4"))
    out("upload_multipart", "folder.bin", b"\x00" + body)
    out("upload_multipart", "folder_chunked_disk.bin", b"\x43" + body)
    out("upload_multipart", "shots_small_limits.bin", b"\x25" + multipart(
        part("shots", shots, "shots.zip", "application/zip"),
        part("payload", b'{"media:tags": {"shots": ["shots_set"]}}')))
    out("upload_multipart", "images.bin", b"\x02" + multipart(
        part("a", ims["rgb.png"], "a.png"), part("b", ims["lossy.webp"], "b.webp"),
        part("c", ims["rgb.bmp"], "c.bmp")))
    out("upload_multipart", "content_type_line.bin", b"\x10multipart/form-data; boundary=\"x y\"\n"
        b"--x y\r\nContent-Disposition: form-data; name=\"f\"; filename*=UTF-8''sel%C3%A9.jpg\r\n\r\n"
        + ims["gray.jpg"] + b"\r\n--x y--\r\n")

    # person uploads
    out("person_upload", "person.bin", b"\x00" + multipart(
        part("photo1", ims["baseline.jpg"], "p.jpg", "image/jpeg"),
        part("photo2", ims["rgb.png"], "p.png"),
        part("payload", b'{"person:meta_data": {"name": "x"}, "media:tags": {"photo1": ["photo_id_front"]}}')))
    out("person_upload", "small_chunked.bin", b"\x23" + multipart(
        part("p", ims["gray.bmp"], "p.bmp"), part("payload", b'{"person:meta_data": null}')))

    # Lite: option byte (method in bits 0-2, base64 bit 3, raw bit 5) + body
    t1, t2 = template(seed=1), template(seed=2)
    jpg = ims["baseline.jpg"]
    out("lite_input", "extract_raw.bin", b"\x20" + jpg)
    out("lite_input", "extract_raw_b64.bin", b"\x28" + base64.b64encode(jpg))
    out("lite_input", "liveness_multipart.bin", b"\x01" + multipart(part("image", jpg, "i.jpg", "image/jpeg")))
    out("lite_input", "compare.bin", b"\x02" + multipart(
        part("bio_feature", t1, "a", "application/octet-stream"), part("bio_template", t2, "b")))
    out("lite_input", "verify_b64_part.bin", b"\x03" + multipart(
        part("sample", base64.b64encode(jpg), ctype="text/plain", extra=b"Content-Transfer-Encoding: base64\r\n"),
        part("bio_template", t1, ctype="application/octet-stream")))
    out("lite_input", "extract_and_compare.bin", b"\x04" + multipart(
        part("sample_1", jpg, "1.jpg", "image/jpeg"), part("sample_2", ims["rgb.png"], "2.png", "image/png")))
    out("lite_input", "compare_n_chunked.bin", b"\x85" + multipart(
        part("template_1", t1), part("templates_n", t2), part("templates_n", t1), part("other", b"skipped")))
    out("lite_input", "verify_n_b64.bin", b"\x0e" + multipart(
        part("sample_1", base64.b64encode(jpg)),
        part("templates_n", b"data:application/octet-stream;base64," + base64.b64encode(t2))))
    out("lite_input", "extract_and_compare_n.bin", b"\x07" + multipart(
        part("sample_1", jpg), part("samples_n", jpg), part("samples_n", ims["gray.jpg"])))

    # JSON bodies
    m0, m1 = FOLDER_MEDIA
    for i, js in enumerate([
        '{"analyses": [{"type": "quality"}]}',
        '{"analyses": [{"type": "biometry", "source_media": ["%s", {"media_id": "%s"}]}],'
        ' "resolution_endpoint": "http://127.0.0.1:9/hook"}' % (m0, m1),
        '{"analyses": [{"type": "collection", "params": {"collection_id": "c"}, "meta_data": {"a": 1}},'
        ' {"type": "liveness", "params": {"source_media": ["%s"], "extract_best_shot": false}}]}' % m0,
        '{"analyses": [{"type": "quality", "params": {"threshold_spoofing": 0.1}}]}',
        '{"analyses": [{"type": "documents"}]}',
        '{"media:tags": {"photo1": ["photo_selfie"], "video1": ["video_selfie"]},'
        ' "media:meta_data": {"video1": {"x": [1, 2]}}, "folder:meta_data": {"k": "v"},'
        ' "company_id": "%s", "analyses": [{"type": "quality"}]}' % m0,
        '{"person:meta_data": {"name": "n"}, "media:tags": {"photo1": ["photo_id_front"]}}',
    ]):
        out("json_bodies", "body%d.json" % i, js.encode())

    # request targets
    for i, q in enumerate([
        "limit=10&offset=2&sorting=time_created{asc}&total_omit=true",
        "/api/folders/?meta_data=client==kiosk-7&meta_data=x.y!=z&time_created.min=1.5e9&time_updated.max=2e9",
        "/api/folders/%s/analyses?sorting=-time_updated&limit=0" % m0,
        "/api/analyses?folder_id=%s,%s&type=quality,biometry&state.exclude=finished&analyse_id=a" % (m0, m1),
        "/api/folders/abc%2D1%20x/media/?limit=%31%30&offset=+3",
        "/v1/face/pattern/extract?x=%ZZ&=&&a=b=c",
    ]):
        out("query", "q%d.txt" % i, q.encode())

    # templates
    out("lite_template", "valid128.bin", t1)
    out("lite_template", "other_model.bin", template(b"arcface", b"1", 512))
    out("lite_template", "dim1.bin", template(b"m", b"v", 1))
    out("lite_template", "truncated.bin", t1[:40])
    out("lite_template", "version2.bin", b"FLTM\x02\x00" + t1[6:])

    # model manifests
    manifests = {
        "passive.toml": '[[model]]\nkind = "passive_liveness"\nfile = "model.onnx"\nname = "minifasnet-v2"\n'
                        'version = "1.0"\ninput = [80, 80]\nlayout = "NCHW"\nchannels = "BGR"\n'
                        'mean = [0.0, 0.0, 0.0]\nscale = [1.0, 1.0, 1.0]\ncrop_scale = 2.7\noutput = "logits"\nlive_class = 1\n',
        "all_kinds.toml": '[[model]]\nkind = "detector"\nfile = "model.onnx"\nname = "d"\nversion = "1"\n'
                          'input = [640, 480]\nfallback_input = [320, 256]\nlayout = "NCHW"\nchannels = "RGB"\n\n'
                          '[[model]]\nkind = "embedder"\nfile = "model.onnx"\nname = "e"\nversion = "2"\n'
                          'input = [112, 112]\nlayout = "NHWC"\nchannels = "RGB"\ntemplate = "arcface112"\n\n'
                          '[[model]]\nkind = "mesh"\nfile = "model.onnx"\nname = "m"\nversion = "3"\n'
                          'input = [192, 192]\nlayout = "NHWC"\nchannels = "RGB"\nscale = [0.0039, 0.0039, 0.0039]\n',
        "bad_values.toml": '[[model]]\nkind = "mesh"\nfile = "model.onnx"\nname = "m"\nversion = "1"\n'
                           'input = [100, 120]\nlayout = "NHWC"\nchannels = "RGB"\ncrop_scale = nan\n',
        "empty.toml": "",
    }
    for k, v in manifests.items():
        out("model_manifest", k, v.encode())

    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(SEEDS) for f in fs)
    print("seeds: %d bytes in %s" % (total, SEEDS))


if __name__ == "__main__":
    main()
