#!/bin/sh
# Regenerates the media test clips and their reference frames from tests/data/obama.jpg.
#
#   tests/data/media/make_clips.sh            -> the committed clips + refs in tests/data/media/
#   tests/data/media/make_clips.sh bench DIR  -> 640x480 and 1280x720 bench clips in DIR, and
#                                                quality_720p_5s.mp4 for benches/flow.rs
#
# Needs ffmpeg (built with libx264, libx265, libvpx) and python3 (standard library only).
# Clips: 320x240, 20 frames (MJPEG: 160x120, 10; shot sets: 8 and 3) at 15 fps, keyframe every 10 frames, the face panning a little so
# that P/B frames carry motion. Reference frames: ffmpeg's own decode (rgb24; ffmpeg applies
# the MP4 rotation matrix itself), frames 0, 6, 13 and 19 of 20 (what `frames()` samples with
# sample_count = 4), each box-averaged 8x8 and stored side by side in one PNG per clip.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../obama.jpg"
ff="ffmpeg -hide_banner -loglevel error -y"

# $1 = width, $2 = height, $3 = frames: raw frames piped into the encoders.
source_args() {
  echo "-loop 1 -framerate 15 -i $src -vf scale=$(($1 * 9 / 8)):-2,crop=$1:$2:x='$1/16+$1/16*sin(n/3)':y='$2/6+$2/16*cos(n/4)',format=yuv420p -frames:v $3"
}

patch_rot() { # rewrite every tkhd matrix of $1 to a $2 (90, 180 or 270) degree rotation
  python3 - "$1" "$2" <<'EOF'
import struct, sys
p = sys.argv[1]
one = 0x10000
a, b, c, dd = {'90': (0, one, -one, 0), '180': (-one, 0, 0, -one), '270': (0, -one, one, 0)}[sys.argv[2]]
d = bytearray(open(p, 'rb').read())
def walk(s, e):
    while s + 8 <= e:
        size, typ = struct.unpack('>I4s', d[s:s + 8])
        if size < 8: return
        if typ in (b'moov', b'trak'): walk(s + 8, s + size)
        if typ == b'tkhd':
            v = d[s + 8]
            m = s + 8 + 4 + (32 if v == 1 else 20) + 8 + 8  # after times/ids/duration, reserved, layer.., volume..
            # matrix a b u c d v x y w (16.16 / 2.30); 90 deg: a=0 b=1 c=-1 d=0
            struct.pack_into('>9i', d, m, a, b, 0, c, dd, 0, 0, 0, 0x40000000)
        s += size
walk(0, len(d))
open(p, 'wb').write(d)
EOF
}

strip_dht() { # turn every DHT segment (FF C4) into a comment (FF FE) of the same length
  python3 - "$1" "$2" <<'EOF'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
i = d.find(b'\xff\xd8')
n = 0
while i >= 0:
    j = i + 2
    while j + 4 <= len(d) and d[j] == 0xff and d[j + 1] != 0xda:
        ln = (d[j + 2] << 8) | d[j + 3]
        if d[j + 1] == 0xc4:
            d[j + 1] = 0xfe; n += 1
        j += 2 + ln
    i = d.find(b'\xff\xd8', j)
assert n > 0
open(sys.argv[2], 'wb').write(d)
EOF
}

# $1 = clip, $2 = reference PNG; extra ffmpeg input options may follow.
make_ref() {
  clip=$1; out=$2; shift 2
  $ff "$@" -i "$clip" -pix_fmt rgb24 -f rawvideo "$out.rgb"
  dims=$(ffprobe -v error -select_streams v:0 -show_entries stream=width,height:stream_side_data=rotation -of csv=p=0 "$clip" | head -1)
  python3 - "$out.rgb" "$out" "$dims" <<'EOF'
import struct, sys, zlib
raw, out, dims = sys.argv[1], sys.argv[2], sys.argv[3].split(',')
w, h = int(dims[0]), int(dims[1])
if len(dims) > 2 and dims[2].strip() and int(float(dims[2])) % 180 != 0:
    w, h = h, w
d = open(raw, 'rb').read()
fs = w * h * 3
n = len(d) // fs
picks = [0, 6, 13, 19] if n == 20 else [round(i * (n - 1) / 3) for i in range(4)]
sw, sh = w // 8, h // 8
rows = [bytearray() for _ in range(sh)]
for f in picks:
    base = f * fs
    for y in range(sh):
        for x in range(sw):
            for c in range(3):
                s = 0
                for dy in range(8):
                    o = base + ((y * 8 + dy) * w + x * 8) * 3 + c
                    s += sum(d[o + 3 * k] for k in range(8))
                rows[y].append((s + 32) // 64)
png = b''.join(b'\x00' + bytes(r) for r in rows)
def chunk(t, b): return struct.pack('>I', len(b)) + t + b + struct.pack('>I', zlib.crc32(t + b))
open(out, 'wb').write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', sw * len(picks), sh, 8, 2, 0, 0, 0))
                      + chunk(b'IDAT', zlib.compress(png, 9)) + chunk(b'IEND', b''))
EOF
  rm -f "$out.rgb"
}

# $1 = out dir, $2 = width, $3 = height, $4 = frames, $5 = x264/x265 crf
make_set() {
  d=$1; w=$2; h=$3; n=$4; q=$5
  s=$(source_args "$w" "$h" "$n")
  $ff $s -c:v libx264 -profile:v high -bf 3 -g 10 -crf "$q" -movflags +faststart "$d/h264_high.mp4"
  $ff $s -c:v libx264 -profile:v baseline -g 10 -crf "$q" -movflags +faststart "$d/h264_baseline.mp4"
  $ff $s -c:v libx264 -profile:v high -bf 3 -g 10 -crf "$q" -movflags frag_keyframe+empty_moov+default_base_moof "$d/h264_frag.mp4"
  $ff $s -c:v libx265 -tag:v hvc1 -x265-params log-level=error:keyint=10:min-keyint=10:bframes=3 -crf "$q" -movflags +faststart "$d/hevc.mp4"
  $ff $s -c:v libvpx -b:v $((w * h * 3))  -g 10 "$d/vp8.webm"
  $ff $s -c:v mjpeg -q:v 6 "$d/mjpeg.avi"
}

if [ "${1:-}" = bench ]; then
  out=${2:?usage: make_clips.sh bench DIR}
  mkdir -p "$out/640x480" "$out/1280x720"
  make_set "$out/640x480" 640 480 30 23
  make_set "$out/1280x720" 1280 720 30 23
  # 5 s of 720p H.264 High for the QUALITY wall time (benches/flow.rs).
  $ff -loop 1 -framerate 30 -i "$here/../op_p001_front.jpg" \
    -vf "scale=1400:-2,crop=1280:720:x='60+40*sin(n/10)':y='200+40*cos(n/12)',format=yuv420p" \
    -frames:v 150 -c:v libx264 -profile:v high "$out/quality_720p_5s.mp4"
  exit 0
fi

d=$here
make_set "$d" 320 240 20 30
s=$(source_args 320 240 20)
for deg in 90 180 270; do
  $ff $s -c:v libx264 -profile:v high -bf 3 -g 10 -crf 30 -movflags +faststart "$d/h264_rot$deg.mp4"
  patch_rot "$d/h264_rot$deg.mp4" $deg
done
$ff -i "$d/h264_high.mp4" -c copy "$d/h264_high.mkv"   # same frames as h264_high.mp4
# H.264 monochrome (4:0:0) at an odd size (161x121, 4 frames), and 4:4:4 (refused as unsupported).
$ff -loop 1 -framerate 15 -i "$src" -vf "scale=180:-2,crop=161:121:10:10,format=gray" -frames:v 4 \
  -c:v libx264 -g 10 -crf 30 "$d/h264_gray.mp4"
$ff -loop 1 -framerate 15 -i "$src" -vf "scale=180:-2,crop=160:120:10:10,format=yuv444p" -frames:v 4 \
  -c:v libx264 -profile:v high444 -g 10 -crf 30 "$d/h264_444.mp4"
$ff $s -c:v libvpx -b:v 230k -g 10 -f webm pipe:1 > "$d/vp8_live.webm"
m=$(source_args 160 120 10)
$ff $m -c:v mjpeg -q:v 12 "$d/mjpeg.avi"
$ff $m -c:v mjpeg -q:v 12 -huffman default "$d/mjpeg_stdhuff.avi"
strip_dht "$d/mjpeg_stdhuff.avi" "$d/mjpeg_nodht.avi"
$ff $m -c:v mjpeg -q:v 12 "$d/mjpeg.mov"
# AVI whose first stream is audio: the video chunks are 01dc, not 00dc (4 frames, 64x48).
$ff -loop 1 -framerate 15 -t 0.27 -i "$src" -f lavfi -t 0.27 -i "sine=frequency=440:sample_rate=8000" \
  -vf "scale=72:-2,crop=64:48:0:8" -map 1:a -map 0:v -c:v mjpeg -pix_fmt yuvj420p -q:v 31 \
  -c:a pcm_u8 -reserve_index_space 16 "$d/mjpeg_audio_first.avi"

# Shot sets: 8 JPEG shots (deflated), and 3 small PNG shots; names sort into capture order.
tmp=$(mktemp -d)
$ff $(source_args 320 240 8) -q:v 10 "$tmp/shot_%02d.jpg"
(cd "$tmp" && zip -q -9 "$d/shots.zip" shot_01.jpg shot_05.jpg shot_03.jpg shot_02.jpg shot_04.jpg shot_06.jpg shot_07.jpg shot_08.jpg)
$ff -loop 1 -i "$src" -vf scale=80:-2,crop=80:60:0:10 -frames:v 1 "$tmp/a.png"
$ff -loop 1 -i "$src" -vf scale=80:-2,crop=80:60:0:15 -frames:v 1 "$tmp/b.png"
$ff -loop 1 -i "$src" -vf scale=80:-2,crop=80:60:0:20 -frames:v 1 "$tmp/c.png"
(cd "$tmp" && zip -q -9 "$d/shots_png.zip" c.png a.png b.png)
make_ref "$tmp/shot_%02d.jpg" "$d/ref_shots.png"
# A zip bomb: one 16 MiB "shot" of zeros, deflated to ~16 KB.
head -c 16777216 /dev/zero > "$tmp/shot_01.jpg"
(cd "$tmp" && rm -f "$d/bomb.zip" && zip -q -9 "$d/bomb.zip" shot_01.jpg)
rm -rf "$tmp"

for c in h264_high h264_baseline h264_frag h264_gray hevc h264_rot90 h264_rot180 h264_rot270 vp8 vp8_live mjpeg mjpeg_stdhuff mjpeg_nodht mjpeg_mov; do
  case $c in
    vp8|vp8_live) f=$c.webm ;;
    mjpeg|mjpeg_stdhuff|mjpeg_nodht) f=$c.avi ;;
    mjpeg_mov) f=mjpeg.mov ;;
    *) f=$c.mp4 ;;
  esac
  make_ref "$d/$f" "$d/ref_$c.png"
done
ls -l "$d"
