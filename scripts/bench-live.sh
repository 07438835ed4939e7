#!/usr/bin/env bash
# bench-live.sh: CPU and memory cost of `stillwatch run` per live camera, against a decode-only
# GStreamer baseline on the same streams.
#
# What it measures, for N cameras:
#   1. A 640x360, 15 fps H.264 MP4 of 20 s (a keyframe every 30 frames, 768 kbit/s) is made
#      once and cached in WORK_DIR: real traffic footage (CDnet 2014 highway, frames 1-300,
#      scaled up) when ../shared/data is present, else a synthetic scene (SMPTE bars with a moving
#      ball). PROFILE picks the encoding: `ultrafast` (default; x264's cheapest to decode: no
#      CABAC, no deblocking filter) or `main` (Main profile, CABAC, deblocking, P frames only:
#      what a camera's hardware encoder sends; about twice as costly to decode).
#   2. `stillwatch camsim --cameras N --file clip.mp4` serves it, as recorded (no re-encoding),
#      on N RTSP mounts of one local port.
#   3. `stillwatch run` watches the N mounts (analysis_fps 5, analysis width 320, RTP over TCP).
#      After the cameras connect (up to 60 s) and a warm-up of WARMUP_S seconds, the service's
#      CPU time (utime + stime from /proc/PID/stat) is sampled over WINDOW_S seconds; its peak
#      RSS is VmHWM from /proc/PID/status. Health records in the events file show connects,
#      stalls and reconnects; /metrics the analysis frames received, analysed and dropped.
#   4. The decode-only baseline: one `gst-launch-1.0` with N branches
#      `rtspsrc protocols=tcp ! decodebin ! fakesink`, measured the same way.
#   5. Latency: the service serves /metrics on 127.0.0.1:$((19400 + N)); after the window the
#      frame-arrival-to-record latency histogram (stillwatch_camera_event_latency_seconds, summed
#      over cameras) gives p50 and p99 as the upper bound of the bucket that reaches them.
#   6. With MOTION=1, the Motion daemon (Debian's `motion`, 4.5) watches the same N mounts at the
#      same analysis size and rate (width 320, the height rounded as Motion needs, framerate 5,
#      RTSP over TCP, nothing saved), measured the same way; Motion decodes with FFmpeg's
#      libavcodec, as GStreamer's avdec_h264 does.
#   7. One line of results (and the camsim server's own CPU during each window, since it shares
#      the machine):
#        N  sw_cpu_s_per_cam_min  decode_cpu_s_per_cam_min  ratio  sw_rss_mib  decode_rss_mib
#        [motion_cpu_s_per_cam_min  sw/motion ratio, with MOTION=1]
#        health (connected/disconnected/stalled/gap/decode_error seen in the events file, how
#        many came during the window, and the service's WARN/ERROR log lines), the analysis
#        frames per second per camera that came in and were analysed during the window and the
#        frames dropped because analysis fell behind (from /metrics), and the latency.
#
# Usage:
#   scripts/bench-live.sh N [N ...]            e.g. scripts/bench-live.sh 1 8 32
# Environment:
#   WORK_DIR   where the clip is cached and runs write (default /tmp/stillwatch-bench-live)
#   WARMUP_S   warm-up after all cameras connected (default 5)
#   WINDOW_S   measurement window (default 30)
#   STILLWATCH the binary (default target/release/stillwatch)
#   MOTION     1: also measure the Motion daemon (needs `motion` on the PATH: apt-get install motion)
#   PROFILE    ultrafast (default) or main: the clip's H.264 encoding (see 1.)
#   TOGETHER   1: run the decode-only baseline at the same time as the service, on the same
#              mounts, and measure both over the same window, so the ratio does not carry the
#              machine's drift between two windows (the machine must hold both at once)
#
# Needs a built release binary (`cargo build --release -p stillwatch`), gst-launch-1.0 with
# x264enc, mp4mux and the RTSP plugins, and Linux /proc. Nothing in the repository is written.
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
work_dir=${WORK_DIR:-/tmp/stillwatch-bench-live}
warmup_s=${WARMUP_S:-5}
window_s=${WINDOW_S:-30}
stillwatch=${STILLWATCH:-$repo_root/target/release/stillwatch}
with_motion=${MOTION:-0}
together=${TOGETHER:-0}
clk_tck=$(getconf CLK_TCK)

if [[ $# -eq 0 ]]; then
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
    exit 2
fi
[[ -x $stillwatch ]] || { echo "no binary at $stillwatch: cargo build --release -p stillwatch" >&2; exit 1; }
if [[ $with_motion == 1 ]] && ! command -v motion >/dev/null; then
    echo "MOTION=1 needs the motion daemon: apt-get install motion" >&2; exit 1
fi
mkdir -p "$work_dir"

# --- the clip -------------------------------------------------------------------------------
highway=$repo_root/../shared/data/cdnet2014/highway/input
case ${PROFILE:-ultrafast} in
    ultrafast)
        clip=$work_dir/clip-640x360-15fps-h264.mp4
        x264="x264enc speed-preset=ultrafast key-int-max=30 bitrate=768" ;;
    main)
        clip=$work_dir/clip-640x360-15fps-h264-main.mp4
        x264="x264enc speed-preset=medium bframes=0 key-int-max=30 bitrate=768 ! video/x-h264,profile=main" ;;
    *) echo "PROFILE must be ultrafast or main, not ${PROFILE}" >&2; exit 2 ;;
esac
encode="videoscale ! videoconvert ! video/x-raw,format=I420,width=640,height=360,pixel-aspect-ratio=1/1
    ! $x264 ! h264parse ! mp4mux"
if [[ ! -s $clip ]]; then
    if [[ -d $highway ]]; then
        # shellcheck disable=SC2086
        gst-launch-1.0 -q multifilesrc location="$highway/in%06d.jpg" start-index=1 stop-index=300 \
            caps="image/jpeg,framerate=15/1" ! jpegdec ! $encode ! filesink location="$clip.tmp"
    else
        # shellcheck disable=SC2086
        gst-launch-1.0 -q compositor name=mix ! $encode ! filesink location="$clip.tmp" \
            videotestsrc pattern=smpte num-buffers=300 ! video/x-raw,width=640,height=360,framerate=15/1 ! mix. \
            videotestsrc pattern=ball motion=sweep num-buffers=300 ! video/x-raw,width=160,height=160,framerate=15/1 ! mix.
    fi
    mv "$clip.tmp" "$clip"
fi

# --- /proc helpers --------------------------------------------------------------------------
# CPU ticks (utime + stime) of a process; 0 once it is gone.
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    # Fields after "(comm) ": state is 1, utime 12, stime 13.
    awk '{ print $12 + $13 }' <<<"${stat##*) }"
}
# True while the process runs (an exited child stays a zombie until waited for, and kill -0
# still succeeds on a zombie).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $(awk '{ print $1 }' <<<"${stat##*) }") != Z ]]
}
# Peak RSS in KiB.
hwm_kib() {
    awk '/^VmHWM:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0
}

# Sums of the service's frame counters over all cameras: "received analysed dropped".
frame_counters() {
    curl -s "http://127.0.0.1:$1/metrics" | awk '
        /^stillwatch_camera_frames_received_total/ { r += $NF }
        /^stillwatch_camera_frames_analysed_total/ { a += $NF }
        /^stillwatch_camera_frames_dropped_total/ { d += $NF }
        END { printf "%d %d %d\n", r, a, d }'
}

# Measures PID (and OTHER_PID, when given) over the window: sets win_cpu_s (process),
# win_other_cpu_s, win_sim_cpu_s (camsim), win_rss_kib and win_other_rss_kib.
measure_window() {
    local pid=$1 other=${2:-} t0 t1 o0=0 o1=0 s0 s1
    t0=$(cpu_ticks "$pid"); s0=$(cpu_ticks "$camsim_pid")
    [[ -z $other ]] || o0=$(cpu_ticks "$other")
    sleep "$window_s"
    t1=$(cpu_ticks "$pid"); s1=$(cpu_ticks "$camsim_pid")
    [[ -z $other ]] || o1=$(cpu_ticks "$other")
    for p in "$pid" $other; do
        alive "$p" || { echo "process $p died during the window" >&2; return 1; }
    done
    alive "$camsim_pid" || { echo "camsim died during the window" >&2; return 1; }
    win_cpu_s=$(awk -v a="$t0" -v b="$t1" -v h="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / h }')
    win_other_cpu_s=$(awk -v a="$o0" -v b="$o1" -v h="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / h }')
    win_sim_cpu_s=$(awk -v a="$s0" -v b="$s1" -v h="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / h }')
    win_rss_kib=$(hwm_kib "$pid")
    win_other_rss_kib=0
    [[ -z $other ]] || win_other_rss_kib=$(hwm_kib "$other")
}

# Starts the decode-only baseline on the mounts in `urls`; sets gst_pid.
start_decode_only() {
    local branches=() url
    for url in "${urls[@]}"; do
        branches+=(rtspsrc "location=$url" protocols=tcp ! decodebin ! fakesink)
    done
    gst-launch-1.0 -q "${branches[@]}" >"$run_dir/decode.out" 2>&1 &
    gst_pid=$!
}

# SIGTERM, then SIGKILL after 10 s; sets stop_rc to the exit status (0 for a clean stillwatch
# exit, 143 for gst-launch, 134/139 for an abort/segfault). Not for $(...): wait needs the child.
stop_pid() {
    local pid=$1 killer rc=0
    kill -TERM "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || rc=$?; stop_rc=$rc; return; }
    ( sleep 10; kill -KILL "$pid" 2>/dev/null ) &
    killer=$!
    wait "$pid" 2>/dev/null || rc=$?
    kill "$killer" 2>/dev/null || true
    wait "$killer" 2>/dev/null || true
    stop_rc=$rc
}

camsim_pid=""
sw_pid=""
stop_rc=0
gst_pid=""
motion_pid=""
cleanup() {
    for pid in $sw_pid $gst_pid $motion_pid $camsim_pid; do stop_pid "$pid"; done
}
trap cleanup EXIT

per_cam_min() { # cpu_s cameras -> CPU seconds per camera-minute
    awk -v c="$1" -v n="$2" -v w="$window_s" 'BEGIN { printf "%.2f", c / n / (w / 60) }'
}

motion_head=""
[[ $with_motion == 1 ]] && motion_head=$(printf '%-15s %-9s ' motion/cam-min sw/motion)
printf '%-4s %-13s %-17s %-6s %-10s %-11s %-14s %-14s %s%s\n' N sw_cpu/cam-min decode_cpu/cam-min \
    ratio sw_rss_mib dec_rss_mib sim_cpu_s_sw sim_cpu_s_dec "$motion_head" health
for n in "$@"; do
    run_dir=$work_dir/n$n
    rm -rf "$run_dir"; mkdir -p "$run_dir"

    # --- the simulated cameras --------------------------------------------------------------
    "$stillwatch" camsim --port 0 --cameras "$n" --file "$clip" >"$run_dir/camsim.out" 2>"$run_dir/camsim.err" &
    camsim_pid=$!
    for _ in $(seq 300); do
        [[ $(grep -c '^rtsp://' "$run_dir/camsim.out" || true) -ge $n ]] && break
        alive "$camsim_pid" || { echo "camsim exited: see $run_dir/camsim.err" >&2; exit 1; }
        sleep 0.1
    done
    mapfile -t urls < <(grep '^rtsp://' "$run_dir/camsim.out" | head -n "$n")
    [[ ${#urls[@]} -eq $n ]] || { echo "camsim printed ${#urls[@]} URLs, wanted $n" >&2; exit 1; }

    # --- stillwatch run ---------------------------------------------------------------------
    config=$run_dir/service.toml
    {
        printf '[analysis]\nwidth = 320\n\n[service]\nanalysis_fps = 5\n'
        printf '\n[http]\nbind = "127.0.0.1:%d"\n' "$((19400 + n))"
        for i in "${!urls[@]}"; do
            printf '\n[[cameras]]\nid = "cam%02d"\nurl = "%s"\n' "$((i + 1))" "${urls[$i]}"
        done
    } >"$config"
    events=$run_dir/events.jsonl
    "$stillwatch" run --config "$config" --events "$events" 2>"$run_dir/run.err" &
    sw_pid=$!
    [[ $together == 1 ]] && start_decode_only
    for _ in $(seq 600); do
        [[ $(grep -c '"kind":"connected"' "$events" 2>/dev/null || true) -ge $n ]] && break
        sleep 0.1
    done
    sleep "$warmup_s"
    # rtspsrc gives no "connected" signal on the command line: allow for connection setup.
    [[ $together == 1 ]] && sleep "$((2 + n / 8))"
    health_before=$(grep -c 'stillwatch.health/1' "$events" 2>/dev/null || true)
    read -r received0 analysed0 dropped0 < <(frame_counters "$((19400 + n))")
    measure_window "$sw_pid" "$([[ $together == 1 ]] && echo "$gst_pid")"
    read -r received1 analysed1 dropped1 < <(frame_counters "$((19400 + n))")
    frames=$(awk -v r="$((received1 - received0))" -v a="$((analysed1 - analysed0))" \
        -v d="$((dropped1 - dropped0))" -v n="$n" -v w="$window_s" \
        'BEGIN { printf "analysis fps per camera: %.2f in, %.2f analysed, %d dropped", r / n / w, a / n / w, d }')
    sw_cpu_s=$win_cpu_s; sw_rss_kib=$win_rss_kib; sim_sw=$win_sim_cpu_s
    dec_cpu_s=$win_other_cpu_s; dec_rss_kib=$win_other_rss_kib; sim_dec=$win_sim_cpu_s
    latency=$(curl -s "http://127.0.0.1:$((19400 + n))/metrics" | python3 -c '
import re, sys
counts = {}
for line in sys.stdin:
    m = re.match(r"stillwatch_camera_event_latency_seconds_bucket\{.*le=\"([^\"]+)\".*\} (\S+)", line)
    if m:
        le = float("inf") if m[1] == "+Inf" else float(m[1])
        counts[le] = counts.get(le, 0) + float(m[2])
total = counts.get(float("inf"), 0)
if not total:
    print("latency: no records")
else:
    q = lambda f: next(le for le in sorted(counts) if counts[le] >= f * total)
    print(f"latency over {int(total)} records: p50 <= {q(0.5) * 1000:g} ms, p99 <= {q(0.99) * 1000:g} ms")
')
    health=$(grep -o '"kind":"[a-z_]*"' "$events" 2>/dev/null | sed 's/"kind":"//; s/"//' \
        | sort | uniq -c | awk '{ printf "%s%s=%s", sep, $2, $1; sep = "," }')
    health_after=$(grep -c 'stillwatch.health/1' "$events" 2>/dev/null || true)
    warnings=$(grep -cE '\b(WARN|ERROR)\b' "$run_dir/run.err" || true)
    stop_pid "$sw_pid"; sw_pid=""
    [[ $stop_rc == 0 ]] || echo "N=$n: stillwatch run exited with status $stop_rc (see $run_dir/run.err)" >&2

    # --- decode-only baseline (measured above with TOGETHER=1) -------------------------------
    if [[ $together != 1 ]]; then
        start_decode_only
        # rtspsrc gives no "connected" signal on the command line: allow for connection setup.
        sleep "$((warmup_s + 2 + n / 8))"
        measure_window "$gst_pid"
        dec_cpu_s=$win_cpu_s; dec_rss_kib=$win_rss_kib; sim_dec=$win_sim_cpu_s
    fi
    stop_pid "$gst_pid"; gst_pid=""

    # --- Motion, on the same mounts -------------------------------------------------------
    motion_cols=""
    if [[ $with_motion == 1 ]]; then
        {
            printf 'daemon off\nsetup_mode off\nlog_level 6\nlog_file %s\n' "$run_dir/motion.log"
            printf 'target_dir %s\nwebcontrol_port 0\nstream_port 0\n' "$run_dir/motion-out"
            printf 'picture_output off\nmovie_output off\n'
            for i in "${!urls[@]}"; do
                printf 'camera %s\n' "$run_dir/motion-cam$i.conf"
                printf 'netcam_url %s\nnetcam_params rtsp_transport=tcp\nwidth 320\nheight 184\nframerate 5\n' \
                    "${urls[$i]}" >"$run_dir/motion-cam$i.conf"
            done
        } >"$run_dir/motion.conf"
        motion -n -c "$run_dir/motion.conf" >"$run_dir/motion.out" 2>&1 &
        motion_pid=$!
        sleep "$((warmup_s + 2 + n / 8))"
        measure_window "$motion_pid"
        motion_cpu_s=$win_cpu_s
        stop_pid "$motion_pid"; motion_pid=""
        motion_connected=$(grep -c 'netcam_rtsp_connect: .* connected' "$run_dir/motion.log" || true)
        [[ $motion_connected -ge $n ]] || echo "N=$n: Motion connected $motion_connected of $n cameras (see $run_dir/motion.log)" >&2
        motion_cols=$(printf '%-15s %-9s ' "$(per_cam_min "$motion_cpu_s" "$n")" \
            "$(awk -v a="$sw_cpu_s" -v b="$motion_cpu_s" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')")
    fi

    # Checked because the server shares the machine: a crash mid-window spoils both figures.
    stop_pid "$camsim_pid"; camsim_pid=""
    [[ $stop_rc == 0 ]] || echo "N=$n: camsim exited with status $stop_rc (see $run_dir/camsim.err)" >&2

    sw_pcm=$(per_cam_min "$sw_cpu_s" "$n")
    dec_pcm=$(per_cam_min "$dec_cpu_s" "$n")
    ratio=$(awk -v a="$sw_cpu_s" -v b="$dec_cpu_s" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')
    printf '%-4s %-13s %-17s %-6s %-10s %-11s %-14s %-14s %s%s (window: %s new; warn/error log lines: %s); %s\n' "$n" "$sw_pcm" "$dec_pcm" \
        "$ratio" "$((sw_rss_kib / 1024))" "$((dec_rss_kib / 1024))" "$sim_sw" "$sim_dec" "$motion_cols" \
        "${health:-none}" "$((health_after - health_before))" "$warnings" "$frames; $latency"
done
