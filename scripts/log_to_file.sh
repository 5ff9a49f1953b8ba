# Sourced by the training scripts. `log_to_file LOG NAME` sends everything the script prints
# to LOG; when the script then fails, the terminal is told so with the log's last lines.

log_to_file() {
    _log_file=$1 _log_name=$2
    exec 3>&2 >>"$_log_file" 2>&1
    trap '_tell_failure $?' EXIT
}

_tell_failure() {
    if (($1)); then
        tail -n 3 "$_log_file" >&3
        echo "$_log_name: failed (exit $1); the whole log is $_log_file" >&3
    fi
}
