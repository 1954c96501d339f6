# The prelude the recipes share; sourced (not run) by tools/recipes/*.sh with
# their arguments in place: DATA_DIR [OUT_DIR] [extra train options...].
# Before sourcing set RECIPE_DATA to the name of DATA_DIR in the usage message
# and RECIPE_SUBDIR to its name under $TIMELAYERS_DATA (ptb, tinyshakespeare):
# with TIMELAYERS_DATA set, DATA_DIR may be left out (and then so are the rest).
# Afterwards the shell is at the repository root (relative paths count from
# there), $data is DATA_DIR, $out the output directory (made; default
# build/recipes), "$@" the extra train options and $tl the program:
# $TIMELAYERS when set, else build/tools/timelayers, (re)built first.
# recipe_start and recipe_wall_time LOG time the run and append it to LOG.
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [ $# -eq 0 ] && [ -n "${TIMELAYERS_DATA:-}" ] && [ -n "${RECIPE_SUBDIR:-}" ]; then
  set -- "$TIMELAYERS_DATA/$RECIPE_SUBDIR"
fi
data=${1:?usage: $0 $RECIPE_DATA [OUT_DIR] [train options] (or set TIMELAYERS_DATA)}
out=${2:-build/recipes}
shift $(( $# >= 2 ? 2 : 1 ))
mkdir -p "$out"
tl=${TIMELAYERS:-}
if [ -z "$tl" ]; then
  [ -f build/build.ninja ] || meson setup build >/dev/null
  ninja -C build >/dev/null
  tl=build/tools/timelayers
fi

recipe_start() {
  recipe_t0=$(date +%s.%N)
}

recipe_wall_time() {  # LOG
  local t1
  t1=$(date +%s.%N)
  echo "wall time: $(awk -v a="$recipe_t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s" | tee -a "$1"
}

# Resume options for a recipe whose checkpoint CKPT may exist from a stopped
# run: the recipes are long, and rerunning one continues it exactly.
recipe_resume() {  # CKPT
  if [ -f "$1" ]; then
    echo "--resume $1"
  fi
}
