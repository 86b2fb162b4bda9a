#!/usr/bin/env bash
# Build the iemocap-ambig Hub dataset from a local IEMOCAP release and, optionally, push it (private by default).
#
#   DATA_DIR=/data/IEMOCAP_full_release bash dataset_scripts/iemocap_ambig/recipe.sh
#   DATA_DIR=... REPO_ID=me/iemocap-ambig bash dataset_scripts/iemocap_ambig/recipe.sh  # private
#   DATA_DIR=... REPO_ID=me/iemocap-ambig ACCESS=gated I_HAVE_A_LICENSE=1 bash .../recipe.sh  # gated
#
# Variables: DATA_DIR (required: the folder holding Session1 ... Session5), OUT (default iemocap_ambig),
# CLASS_SET (default iemocap-4; paper-4class is the reference subset), REPO_ID (push when set),
# ACCESS (private | gated; default private), I_HAVE_A_LICENSE=1 (needed for a gated push: you confirm that your
# licence allows sharing with other licence holders). Extra arguments go to `hf-ambiguity build iemocap`.
# The card is rendered from hf_ambiguity/templates/iemocap_ambig.md (card_template.md here is a checked copy).
set -euo pipefail
: "${DATA_DIR:?set DATA_DIR to the IEMOCAP_full_release folder (the one holding Session1 ... Session5)}"
OUT="${OUT:-iemocap_ambig}"
args=(build iemocap --data-dir "$DATA_DIR" --out "$OUT" --class-set "${CLASS_SET:-iemocap-4}")
if [ -n "${REPO_ID:-}" ]; then
  args+=(--push "$REPO_ID")
  case "${ACCESS:-private}" in
    private) ;;
    gated)
      args+=(--gated manual)
      if [ "${I_HAVE_A_LICENSE:-}" = 1 ]; then args+=(--i-have-a-license); fi ;;
    *) echo "recipe.sh: ACCESS must be private or gated, got '${ACCESS}'" >&2; exit 2 ;;
  esac
fi
exec hf-ambiguity "${args[@]}" "$@"
