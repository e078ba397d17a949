#!/bin/sh
# transcode_segment.sh -- THE segment worker (DESIGN §3, §6).
#
# The same file runs as a local process, on ssh hosts and in pods: it needs
# only a POSIX shell, ffmpeg and ffprobe (no Python), so a plain FFmpeg image
# will do.
#
# Input: a copy-extracted chunk of the source's video stream that starts at
# the segment's keyframe and may also hold a few frames that belong to the
# neighbouring segments (the open-GOP leading B-frames). The worker decodes
# the chunk, keeps exactly the frames whose time lies in
# [first packet's time + lead, first packet's time + lead + duration), encodes them to a
# temporary file, counts the frames written (they must equal --frames, the
# count the controller computed from the source's timestamps), and only then
# renames the file into place. It prints exactly one line
#   RESULT {"schema":1,"workload":"transcode",...}
# on stdout and exits 0; on any failure it prints nothing on stdout, leaves
# no file under the output name, explains on stderr and exits non-zero.
#
# Usage (every value is passed as its own argument; no value is ever eval'd):
#   transcode_segment.sh --input CHUNK --output SEG.mp4 --frames N
#       --duration SECONDS|0 --tolerance SECONDS --index I --count C
#       --run-id ID --codec ENCODER --preset PRESET --crf CRF --threads T
#       --ffmpeg FFMPEG --ffprobe FFPROBE [--lead SECONDS] [--slot S]
# --duration 0 means "to the end of the chunk" (the last segment).
# --lead (default 0): how far after the chunk's first packet the segment's
# first frame is -- a clip trimmed without re-encoding hides, by its edit list,
# the start of the GOP its first shown frame belongs to.
# Every option but --lead and --slot is required: the encoder settings and
# programs have their defaults in one place, the transcode role's
# defaults/main.yml. --slot (the worker slot, where the caller knows it) is
# only echoed in the RESULT line.
#
# Exit statuses (the caller retries only those that another attempt can change):
#   0  done: the segment is in place and the RESULT line printed
#   1  the environment: input chunk unreadable, ffmpeg/ffprobe missing, no clock
#      (another attempt, or another host, may do better)
#   2  bad usage: an unknown option or a value the worker refuses (final: the
#      same arguments are refused every time)
#   3  ffmpeg failed, and its errors do not show a damaged input (transient)
#   4  the written segment's frames could not be counted (transient)
#   5  the segment has the wrong number of frames and ffmpeg reported no
#      decoding error (final: the same chunk gives the same count)
#   6  the finished segment could not be renamed into place (transient)
#   7  the input is damaged: ffmpeg's errors show data it could not decode
#      (final; the message quotes ffmpeg's first such error)
#   130, 143  interrupted (SIGINT, SIGTERM)
set -u

die() {
    printf 'transcode_segment: %s\n' "$*" >&2
    exit "${rc:-1}"
}
usage() { rc=2 die "$@"; }

REQUIRED='input output frames duration tolerance index count run_id codec preset crf threads ffmpeg ffprobe'
for name in $REQUIRED slot; do eval "$name=''"; done
lead=0

while [ "$#" -gt 0 ]; do
    [ "$#" -ge 2 ] || usage "option $1 needs a value"
    name=$(printf '%s' "${1#--}" | tr '-' '_')
    case "$1" in --*_* | *[!A-Za-z-]*) usage "unknown option: $1" ;; esac  # --lower-case-words only
    case " $REQUIRED lead slot " in *" $name "*) ;; *) usage "unknown option: $1" ;; esac
    # $name is one of the names above; eval only ever sees "name=\$2", never the value.
    eval "$name=\$2"
    shift 2
done
for name in $REQUIRED; do
    eval "value=\$$name"
    [ -n "$value" ] || usage "--$(printf '%s' "$name" | tr '_' '-') is required"
done

# --- validate every value before using it ----------------------------------
is_uint() { case "$1" in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac; }
is_decimal() {
    case "$1" in
        '' | . | *[!0-9.]* | *.*.*) return 1 ;;
        *) return 0 ;;
    esac
}
is_word() { case "$1" in '' | *[!A-Za-z0-9._:-]*) return 1 ;; *) return 0 ;; esac; }

[ -f "$input" ] && [ -r "$input" ] || die "input chunk '$input' is not a readable file"
is_uint "$frames" && [ "$frames" -gt 0 ] || usage "--frames must be a positive integer, got '$frames'"
is_decimal "$duration" || usage "--duration must be a number of seconds, got '$duration'"
is_decimal "$lead" || usage "--lead must be a number of seconds, got '$lead'"
is_decimal "$tolerance" || usage "--tolerance must be a number of seconds, got '$tolerance'"
is_uint "$index" || usage "--index must be an integer, got '$index'"
is_uint "$count" || usage "--count must be an integer, got '$count'"
is_word "$run_id" || usage "--run-id must be letters, digits and ._:-, got '$run_id'"
is_word "$codec" || usage "--codec must be an encoder name, got '$codec'"
is_word "$preset" || usage "--preset must be a preset name, got '$preset'"
is_decimal "$crf" || usage "--crf must be a number, got '$crf'"
is_uint "$threads" || usage "--threads must be an integer, got '$threads'"
[ -z "$slot" ] || is_uint "$slot" || usage "--slot must be an integer, got '$slot'"
command -v "$ffmpeg" >/dev/null 2>&1 || die "ffmpeg not found: '$ffmpeg'"
command -v "$ffprobe" >/dev/null 2>&1 || die "ffprobe not found: '$ffprobe'"

node=$(uname -n 2>/dev/null | tr -cd 'A-Za-z0-9._-')
[ -n "$node" ] || node=unknown
segment=$(basename -- "$output")
# The segment name goes into the JSON line: keep it to safe characters.
case "$segment" in *[!A-Za-z0-9._-]*) usage "output name '$segment' must be letters, digits and ._-" ;; esac
tmp="$output.part.$$"  # unique: a stray worker from a killed run cannot share it

# Monotonic clock: /proc/uptime (seconds since boot, 10 ms resolution) is
# monotonic and needs no extra tool; compute_s is reported to the centisecond.
uptime_cs() {
    read -r up _ </proc/uptime || return 1
    sec=${up%.*}; frac=${up#*.}
    case "$frac" in ?) frac="${frac}0" ;; esac
    frac=${frac%"${frac#??}"}
    echo $((sec * 100 + ${frac#0}))
}

log="$tmp.log"          # ffmpeg's errors, read to tell a damaged input from a failure

cleanup() { rm -f -- "$tmp" "$log"; }
trap cleanup EXIT
trap 'cleanup; exit 143' TERM
trap 'cleanup; exit 130' INT
rm -f -- "$tmp"

t_start_ns=$(date +%s%N)
cs_start=$(uptime_cs) || die "cannot read /proc/uptime"

# The chunk starts (in decode order) with the segment's keyframe: its time
# (plus --lead) is the segment's start on the chunk's own timeline.
t0=$("$ffprobe" -v error -select_streams v:0 -read_intervals '%+#1' \
    -show_entries packet=pts_time -of csv=p=0 -- "$input" | head -n 1 | tr -d ', \r')
is_decimal "${t0#-}" || die "cannot read the first timestamp of '$input' (got '$t0')"

# -copyts keeps ffmpeg's frame times equal to the container's (ffprobe's),
# instead of shifting them by the file's start time.
# Frame times are compared with half a frame of slack, so rounding of a
# container's time base can neither drop nor add a frame.
if [ "$duration" = 0 ] || [ "$duration" = 0.0 ]; then
    keep="gte(t,$t0+$lead-$tolerance)"
else
    keep="gte(t,$t0+$lead-$tolerance)*lt(t,$t0+$lead+$duration-$tolerance)"
fi

"$ffmpeg" -nostdin -hide_banner -loglevel error -y \
    -copyts -i "$input" -map 0:v:0 -an -sn -dn \
    -vf "select='$keep',setpts=PTS-STARTPTS" -fps_mode passthrough \
    -frames:v "$frames" \
    -c:v "$codec" -preset "$preset" -crf "$crf" -threads "$threads" \
    -f mp4 -- "$tmp" 2>"$log"
ffmpeg_rc=$?
[ -s "$log" ] && tail -n 20 -- "$log" >&2  # ffmpeg's own words, as before, ahead of ours

# Decoder and demuxer errors that mean the data itself is bad. Not the MPEG-TS
# demuxer's "Packet corrupt" warnings: a healthy chunk (TS pieces joined end to
# end) shows them too, and they are only warnings (not in this error-level log).
DAMAGE='error while decoding|decode_slice_header error|concealing [0-9]|invalid nal unit size|missing picture in access unit'
DAMAGE="$DAMAGE|invalid data found when processing input|partial file|ended prematurely"
damage() { grep -i -E -e "$DAMAGE" -- "$log" 2>/dev/null | head -n 1 | sed 's/^\[[^]]*\] //'; }

if [ "$ffmpeg_rc" -ne 0 ]; then
    hint=$(damage)
    # A signal (status 128+) is never the input's fault, whatever was logged before it.
    if [ "$ffmpeg_rc" -lt 128 ] && [ -n "$hint" ]; then
        rc=7 die "segment $index ('$segment'): the input is damaged (ffmpeg: $hint)"
    fi
    rc=3 die "ffmpeg failed on segment $index ('$segment')"
fi

frames_out=$("$ffprobe" -v error -select_streams v:0 -count_packets \
    -show_entries stream=nb_read_packets -of csv=p=0 -- "$tmp" | head -n 1 | tr -d ', \r')
is_uint "$frames_out" || rc=4 die "cannot count the frames of '$tmp'"
if [ "$frames_out" -ne "$frames" ]; then
    hint=$(damage)
    if [ -n "$hint" ]; then
        rc=7 die "segment $index ('$segment'): the input is damaged (ffmpeg: $hint); wrote $frames_out frames, expected $frames"
    fi
    rc=5 die "segment $index ('$segment'): wrote $frames_out frames, expected $frames"
fi
bytes_out=$(wc -c <"$tmp" | tr -d ' ')
mv -f -- "$tmp" "$output" || rc=6 die "cannot rename '$tmp' to '$output'"
rm -f -- "$log"  # done with it: the success path ends with the cleanup trap removed

cs_end=$(uptime_cs) || die "cannot read /proc/uptime"
t_end_ns=$(date +%s%N)
cs=$((cs_end - cs_start))
compute_s=$((cs / 100)).$(printf '%02d' $((cs % 100)))
media_s=$duration
[ "$duration" = 0 ] && media_s=null
slot_json=''
[ -n "$slot" ] && slot_json=",\"slot\":$slot"

printf 'RESULT {"schema":1,"workload":"transcode","run_id":"%s","index":%s,"count":%s,"node":"%s","t_start_ns":%s,"t_end_ns":%s,"compute_s":%s,"segment":"%s","frames_in":%s,"frames_out":%s,"media_s":%s,"bytes_out":%s%s}\n' \
    "$run_id" "$index" "$count" "$node" "$t_start_ns" "$t_end_ns" "$compute_s" \
    "$segment" "$frames" "$frames_out" "$media_s" "$bytes_out" "$slot_json"
trap - EXIT
exit 0
