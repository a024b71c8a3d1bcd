# shellcheck shell=bash
# What the stand-ins share: the log they append to, the time they take, and the way to the real program.
#
#   FUEL_STANDIN_SECONDS  seconds a stand-in that does the work of a task takes (default 1)
#   FUEL_STANDIN_LOG      the log (default /var/log/fuel-sls/stand-ins.log, inside the node)

STAND_IN_BIN=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../bin" && pwd -P)
STAND_IN_LOG=${FUEL_STANDIN_LOG:-/var/log/fuel-sls/stand-ins.log}

# stand_in_record PROGRAM TEXT: one line in the log, and "[stand-in] PROGRAM: TEXT" on standard output.
stand_in_record() {
  local program=$1 text=$2
  mkdir -p "$(dirname "$STAND_IN_LOG")" 2>/dev/null
  printf '%s %s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${HOSTNAME:-node}" "$program" "$text" \
    >>"$STAND_IN_LOG" 2>/dev/null ||
    echo "[stand-in] $program: cannot write $STAND_IN_LOG" >&2
  printf '[stand-in] %s: %s\n' "$program" "$text"
}

# stand_in_take_time: waits FUEL_STANDIN_SECONDS, the time the real work would take.
stand_in_take_time() {
  local seconds=${FUEL_STANDIN_SECONDS:-1}
  [[ $seconds =~ ^[0-9]+([.][0-9]+)?$ ]] || seconds=1
  if [[ ! $seconds =~ ^0+([.]0*)?$ ]]; then sleep "$seconds"; fi
}

# stand_in_real PROGRAM ARGS...: runs the real PROGRAM, the first one on PATH that is not a stand-in.
stand_in_real() {
  local program=$1
  shift
  local dir candidate
  local IFS=:
  for dir in $PATH; do
    [ -n "$dir" ] || continue
    candidate=$dir/$program
    [ -f "$candidate" ] && [ -x "$candidate" ] || continue
    case $(readlink -f "$candidate") in
    "$STAND_IN_BIN"/*) continue ;;
    esac
    exec -a "$program" "$candidate" "$@"
  done
  echo "$program: command not found" >&2
  exit 127
}

# stand_in_quote ARGS...: the arguments as one line, as a shell would read them back.
stand_in_quote() {
  local out='' arg
  for arg in "$@"; do
    if [[ $arg =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+=" $arg"; else out+=" $(printf '%q' "$arg")"; fi
  done
  printf '%s' "${out# }"
}

# stand_in_interpreter PROGRAM ARGS...: PROGRAM (ruby, python, sh, bash) on a script of Fuel's modules
# (/etc/puppet/modules/...) that the node does not have records "would run SCRIPT ARGS" and takes the
# task's time; anything else goes to the real PROGRAM.
stand_in_interpreter() {
  local program=$1
  shift
  local -a args=("$@")
  local index=0 count=$# arg script=''
  # options that run no script, and options whose value is the next argument
  local no_script takes_value
  case $program in
  ruby) no_script='-e' takes_value='-I -r -C -E -F' ;;
  python*) no_script='-c -m' takes_value='-W -X -Q' ;;
  *) no_script='-c -s' takes_value='-o -O +o +O' ;;
  esac
  while [ "$index" -lt "$count" ]; do
    arg=${args[index]}
    if [ "$arg" = - ] || [[ " $no_script " == *" $arg "* ]]; then break; fi
    if [ "$arg" = -- ]; then
      script=${args[index + 1]:-}
      index=$((index + 1))
      break
    fi
    case $arg in
    -* | +*)
      if [[ " $takes_value " == *" $arg "* ]]; then index=$((index + 2)); else index=$((index + 1)); fi
      ;;
    *)
      script=$arg
      break
      ;;
    esac
  done
  if [ -n "$script" ] && [[ $script == /etc/puppet/modules/* ]] && [ ! -e "$script" ]; then
    case ${script##*/} in
    generate_keys.sh | generate_haproxy_keys.sh)
      # the master's key generators: their files are what the nodes' copy_files tasks copy
      stand_in_record "$program" "generates what $(stand_in_quote "${args[@]:index}") would"
      source "$(dirname "${BASH_SOURCE[0]}")/fuel-keys.sh"
      if [ "${script##*/}" = generate_keys.sh ]; then
        fuel_generate_keys "${args[@]:index+1}" || exit $?
      else
        fuel_generate_haproxy_keys "${args[@]:index+1}" || exit $?
      fi
      stand_in_take_time
      exit 0
      ;;
    esac
    stand_in_record "$program" "would run $(stand_in_quote "${args[@]:index}")"
    stand_in_take_time
    exit 0
  fi
  stand_in_real "$program" "$@"
}
