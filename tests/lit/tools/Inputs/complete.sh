# complete.sh <completion script> <words...>: what bash completes for the
# command line <words...> (the last word is the one being completed), one
# candidate a line, as `complete -F _sieve sieve` would offer them.
source "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
_sieve
printf '%s\n' "${COMPREPLY[@]}"
