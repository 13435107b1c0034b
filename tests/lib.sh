# lib.sh - what the shell tests share: a scratch folder, check/expect and the summary line.
# Source it after setting nothing; it defines $tmp (removed on exit), $py and the functions.
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3 # Debian's, with python3-numpy from scripts/install-deps.sh
[ -x "$py" ] || py=python3

# check DESCRIPTION EXPECTED_STATUS COMMAND... : runs it, stdout in $tmp/out, stderr in $tmp/err
check() {
  local what=$1 want=$2
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" -eq "$want" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL: $what: exit $got, expected $want"
    sed 's/^/  | /' "$tmp/err" | head -5
  fi
}

# expect DESCRIPTION COMMAND... : the command must succeed
expect() {
  local what=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what"; fi
}

# finish: prints the summary line and exits non-zero if anything failed
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
