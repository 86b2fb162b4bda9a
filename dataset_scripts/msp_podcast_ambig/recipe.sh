#!/usr/bin/env bash
# Build the msp-podcast-ambig Hub dataset from a local MSP-Podcast release and, optionally, push it
# (private by default).
#
#   DATA_DIR=/data/MSP-Podcast bash dataset_scripts/msp_podcast_ambig/recipe.sh
#   DATA_DIR=... REPO_ID=me/msp-podcast-ambig bash dataset_scripts/msp_podcast_ambig/recipe.sh  # private
#   DATA_DIR=... REPO_ID=me/msp-podcast-ambig ACCESS=gated I_HAVE_A_LICENSE=1 bash .../recipe.sh  # gated
#
# Variables: DATA_DIR (required: the folder holding Audios/ and Labels/), OUT (default msp_podcast_ambig),
# CLASS_SET (default msp-8; msp-4 is the reference subset), REPO_ID (push when set),
# ACCESS (private | gated; default private), I_HAVE_A_LICENSE=1 (needed for a gated push: you confirm that your
# licence allows sharing with other licence holders). Extra arguments go to `hf-ambiguity build msp-podcast`.
# The card is rendered from hf_ambiguity/templates/msp_podcast_ambig.md (card_template.md here is a checked copy).
set -euo pipefail
: "${DATA_DIR:?set DATA_DIR to the MSP-Podcast release folder (the one holding Audios/ and Labels/)}"
OUT="${OUT:-msp_podcast_ambig}"
args=(build msp-podcast --data-dir "$DATA_DIR" --out "$OUT" --class-set "${CLASS_SET:-msp-8}")
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
