#!/bin/sh
# Regenerates the gesture test clips (H.264 baseline, 15 fps, 16 frames, <= 320 px) from the
# openpeople P001 stills in tests/data (MIT, see tests/data/SOURCES.md).
#
#   gesture_turn.mp4   8 frames of op_p001_front.jpg then 8 of op_p001_turned.jpg (head turn)
#   gesture_smile.mp4  8 frames of op_p001_neutral.jpg then 8 of op_p001_happy.jpg (smile)
#   gesture_still.mp4  16 frames of op_p001_front.jpg (no gesture)
#
# Every frame is a crop that moves by a few pixels (x = 8 + 3 sin n, y = 8 + 3 cos n) so the
# encoder sees motion and the landmarks jitter as with a hand-held phone.
# Needs ffmpeg with libx264.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
d="$here/.."
ff="ffmpeg -hide_banner -loglevel error -y"
x264="-c:v libx264 -profile:v baseline -g 8 -pix_fmt yuv420p"
jit="crop=iw-16:ih-16:x='8+3*sin(n)':y='8+3*cos(n)'"

two() { # $1 first still, $2 second still, $3 output
  $ff -loop 1 -framerate 15 -i "$1" -loop 1 -framerate 15 -i "$2" -filter_complex \
    "[0]scale=320:-2,$jit,trim=end_frame=8,setpts=PTS-STARTPTS[a];[1]scale=320:-2,$jit,trim=end_frame=8,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1,format=yuv420p[v]" \
    -map '[v]' -frames:v 16 $x264 "$3"
}

two "$d/op_p001_front.jpg" "$d/op_p001_turned.jpg" "$here/gesture_turn.mp4"
two "$d/op_p001_neutral.jpg" "$d/op_p001_happy.jpg" "$here/gesture_smile.mp4"
$ff -loop 1 -framerate 15 -i "$d/op_p001_front.jpg" -vf "scale=320:-2,$jit,format=yuv420p" \
  -frames:v 16 $x264 "$here/gesture_still.mp4"
