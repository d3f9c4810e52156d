#!/usr/bin/env bash
# Draws ashtray's icons with ImageMagick (`apt-get install imagemagick`): the app icon in
# the sizes Tauri's bundler wants, and one tray icon per overall host state. The PNGs are
# committed; run this again only to change the drawing.
set -euo pipefail
cd "$(dirname "$0")"
# The real ImageMagick, not a stand-in that may come first on PATH.
CONVERT=/usr/bin/convert

# App icon: a dark rounded tile, a shallow tray, three service dots above it.
app_icon() {
  local size=$1 out=$2
  $CONVERT -size 512x512 xc:none \
    -fill '#1e293b' -draw 'roundrectangle 16,16 495,495 104,104' \
    -fill '#14b8a6' -draw 'path "M 96,292 L 416,292 Q 404,392 330,404 L 182,404 Q 108,392 96,292 Z"' \
    -fill '#0f766e' -draw 'rectangle 96,284 416,300' \
    -fill '#5eead4' -draw 'circle 176,206 176,246' -draw 'circle 256,186 256,226' -draw 'circle 336,206 336,246' \
    -resize "${size}x${size}" "PNG32:$out"
}
app_icon 512 icon.png
app_icon 32 32x32.png
app_icon 128 128x128.png
app_icon 256 128x128@2x.png
$CONVERT icon.png -define icon:auto-resize=256,64,48,32,16 icon.ico

# Tray icons (64 px; the panel scales them): one colour and one glyph per state, so they
# differ for colour-blind eyes too.
tray_icon() {
  local out=$1 colour=$2 glyph=$3
  $CONVERT -size 256x256 xc:none \
    -fill "$colour" -draw 'circle 128,128 128,12' \
    -stroke white -strokewidth 26 -fill none -draw "$glyph" \
    -resize 64x64 "PNG32:$out"
}
tray_icon tray-ok.png '#16a34a' 'polyline 76,132 112,168 182,94'
tray_icon tray-degraded.png '#d97706' 'line 128,64 128,146 line 128,184 128,190'
tray_icon tray-unreachable.png '#dc2626' 'line 86,86 170,170 line 170,86 86,170'
tray_icon tray-paused.png '#64748b' 'line 104,80 104,176 line 152,80 152,176'
tray_icon tray-starting.png '#2563eb' 'line 72,128 84,128 line 122,128 134,128 line 172,128 184,128'
echo "icons drawn in $(pwd)"
