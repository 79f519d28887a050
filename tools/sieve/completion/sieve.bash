# Bash completion for the sieve CLI: subcommands, their options, and the
# values of the options that take a fixed set; file names elsewhere.
#
#   source tools/sieve/completion/sieve.bash     # or install it:
#   cmake --install build   # -> share/bash-completion/completions/sieve
#
# The subcommands and options are read from `sieve ... --help` when they are
# completed, so the completion always matches the sieve being completed
# (the one on PATH, or the word typed as the command).

# The words of a section ("Options:" or "Subcommands:") of CLI11's help.
_sieve_help_section() { # <section> <sieve> [subcommand...]
  local section=$1 sieve=$2
  shift 2
  "$sieve" "$@" --help 2>/dev/null | awk -v section="$section" '
    /^[A-Za-z].*:$/ { inside = ($0 == section); next }
    inside && /^  [^ ]/ {
      split($1, names, ",")
      for (i in names) if (names[i] != "") print names[i]
    }'
}

_sieve() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
  local sieve=${COMP_WORDS[0]}
  COMPREPLY=()

  # The subcommand path typed so far: `sieve cache list` -> (cache list).
  local path=() word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word=${COMP_WORDS[i]}
    [[ $word == -* ]] && continue
    if _sieve_help_section "Subcommands:" "$sieve" "${path[@]}" | grep -qx -- "$word"; then
      path+=("$word")
    fi
  done

  # Values of the options that take one of a fixed set.
  case $prev in
  --target)
    COMPREPLY=($(compgen -W "auto cuda cpu sm_80 sm_86 sm_89 sm_90 sm_90a" -- "$cur"))
    return ;;
  --backend) COMPREPLY=($(compgen -W "auto cuda cpu" -- "$cur")); return ;;
  --dtype) COMPREPLY=($(compgen -W "auto f16 bf16 f32" -- "$cur")); return ;;
  --variant) COMPREPLY=($(compgen -W "auto wgmma mma simt generic" -- "$cur")); return ;;
  --split-kv) COMPREPLY=($(compgen -W "auto off" -- "$cur")); return ;;
  --scope) COMPREPLY=($(compgen -W "head layer global" -- "$cur")); return ;;
  --engine) COMPREPLY=($(compgen -W "kernel reference" -- "$cur")); return ;;
  --stage) return ;; # free text: part of a stage's name
  --mask | --stats | --sentences | --thresholds | --head-scores | --coverage-from | -o | --out | \
    --json | --markdown)
    COMPREPLY=($(compgen -f -- "$cur"))
    return ;;
  --model) COMPREPLY=($(compgen -d -- "$cur")); return ;;
  esac

  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$(_sieve_help_section "Options:" "$sieve" "${path[@]}")" -- "$cur"))
    return
  fi
  local subcommands
  subcommands=$(_sieve_help_section "Subcommands:" "$sieve" "${path[@]}")
  if [[ -n $subcommands ]]; then
    COMPREPLY=($(compgen -W "$subcommands" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}

complete -F _sieve sieve
