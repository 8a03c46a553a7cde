#!/bin/sh
# Regenerates the photo-attack clips: a printed photo held in front of the camera and moved,
# which the video liveness check must decline (tests/liveness_attacks.rs), from the openpeople
# stills in tests/data (MIT, see tests/data/SOURCES.md). H.264 High, 15 fps, 480x480.
#
#   attack_pan_p00N.mp4    the photo slides and rolls in the image plane (2 s)
#   attack_tilt_p00N.mp4   the photo swings about its vertical axis, in perspective (2 s)
#   attack_zoom_p00N.mp4   the photo is brought towards the camera (2 s)
#   attack_swap_p001.mp4   one photo, then another photo of the same person (1 s + 1 s)
# Needs ffmpeg with libx264.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
d="$here/.."
ff="ffmpeg -hide_banner -loglevel error -y"
x264="-c:v libx264 -profile:v high -pix_fmt yuv420p -crf 30"
sq="scale=480:480:force_original_aspect_ratio=increase,crop=480:480,setsar=1"
s="sin(in*2/15)"
for p in p001 p003 p007; do
  src="$d/op_${p}_studio.jpg"
  $ff -loop 1 -framerate 15 -i "$src" -vf "scale=600:600:force_original_aspect_ratio=increase,rotate='0.05*sin(t*2)':c=gray,crop=480:480:x='60+40*sin(t*1.5)':y='40+20*cos(t)',format=yuv420p" -t 2 $x264 "$here/attack_pan_$p.mp4"
  $ff -loop 1 -framerate 15 -i "$src" -vf "$sq,perspective=x0='60*$s':y0='40*$s':x1='W-60*$s':y1='-40*$s':x2='60*$s':y2='H-40*$s':x3='W-60*$s':y3='H+40*$s':eval=frame,format=yuv420p" -t 2 $x264 "$here/attack_tilt_$p.mp4"
  $ff -loop 1 -framerate 15 -i "$src" -vf "$sq,zoompan=z='1+0.012*on':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:s=480x480:fps=15,format=yuv420p" -frames:v 30 $x264 "$here/attack_zoom_$p.mp4"
done
$ff -loop 1 -framerate 15 -i "$d/op_p001_studio.jpg" -loop 1 -framerate 15 -i "$d/op_p001_selfie.jpg" -filter_complex \
  "[0]$sq,trim=end_frame=15,setpts=PTS-STARTPTS[a];[1]$sq,trim=end_frame=15,setpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=1,format=yuv420p[v]" \
  -map '[v]' -frames:v 30 $x264 "$here/attack_swap_p001.mp4"
