#!/usr/bin/env bash
# ctest Fuzz.<Target>SeedsTakeTheirPaths: each seed of corpus/TARGET/ must end where it was made
# to (its target's TDML_FUZZ_VERBOSE verdict, e.g. "admitted" or why it was refused), as listed
# in corpus/TARGET/.verdicts ("file: verdict" a line). A check that stops refusing what it should
# changes a verdict and fails this test.
# Usage: check_verdicts.sh REPLAY_BINARY TARGET CORPUS_DIR
set -euo pipefail
replay=$1 target=$2 dir=$3
got=$(TDML_FUZZ_VERBOSE=1 "$replay" "$target" "$dir" 2>&1 |
      awk -v t="$target: " 'index($0, t) == 1 { sub(".*/", "", $0); name = $0; next }
                            name != "" { print name ": " $0; name = "" }')
diff <(sort "$dir/.verdicts") <(echo "$got" | sort) && echo "$target: every seed took its path"
