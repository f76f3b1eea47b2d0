# The run's directories and files take their modes from the umask, as other tools' output
# does: a project group's members (umask 002, a setgid directory) can then resume each
# other's runs, and umask 077 keeps a run private. Fixed modes (0755, 0644) locked a group
# member out of the run lock and of new run directories.
source "$(dirname "$0")/../lib.sh"
printf '[train]\nsteps = 4\n[fit]\ntrain_size = 64\ntest_size = 16\n[checkpoint]\nevery = 2\n' > fit.ini
# mode_of PATH: its permission bits in octal.
mode_of() { stat -c '%a' "$1"; }
check_modes() {
    local umask_value=$1 dir_mode=$2 file_mode=$3 run=$4
    (umask "$umask_value" && "$DISTKAN" train fit.ini --run-dir "$run/nested" > "$run.log") ||
        { cat "$run.log"; fail "umask $umask_value: training failed"; }
    for d in "$run" "$run/nested" "$run/nested/checkpoints"; do
        [ "$(mode_of "$d")" = "$dir_mode" ] || fail "umask $umask_value: $d has mode $(mode_of "$d"), expected $dir_mode"
    done
    local files=("$run/nested/.distkan.lock" "$run/nested/metrics.jsonl" "$run/nested/config.ini"
                 "$run/nested/checkpoints/ckpt-000000000004.dkc")
    for f in "${files[@]}"; do
        [ -f "$f" ] || fail "umask $umask_value: $f was not written"
        [ "$(mode_of "$f")" = "$file_mode" ] ||
            fail "umask $umask_value: $f has mode $(mode_of "$f"), expected $file_mode"
    done
    echo "ok: umask $umask_value: directories $dir_mode, files $file_mode"
}
check_modes 002 775 664 group
check_modes 077 700 600 private
check_modes 022 755 644 usual
