# bash completion for umapsync.
# Commands and options come from the binary itself (--list-commands, CMD --list-options),
# so the completion can never drift from the command and option tables in cmd/.

__umapsync_git_dir() {
	local dir=$PWD
	while [ -n "$dir" ]; do
		[ -d "$dir/.umapsync" ] && { printf '%s\n' "$dir/.umapsync"; return 0; }
		dir=${dir%/*}
	done
	return 1
}

__umapsync_refs() {
	local gd
	gd=$(__umapsync_git_dir) || return 0
	git --git-dir="$gd" for-each-ref --format='%(refname:short)' refs/heads refs/tags 2>/dev/null
}

__umapsync_remotes() {
	umapsync remote 2>/dev/null
}

# __umapsync_config CUR PREV ARG: a setting's name (first argument, or after --unset), then
# its values; the names and values come from config --list-keys.
__umapsync_config() {
	if [ "$3" -eq 1 ] || [ "$2" = --unset ]; then
		COMPREPLY=( $(compgen -W "$(umapsync config --list-keys 2>/dev/null | cut -f1)" -- "$1") )
	elif [ "$3" -eq 2 ] && [ "$2" = umapsync-remote.default ]; then
		COMPREPLY=( $(compgen -W "$(__umapsync_remotes)" -- "$1") )
	elif [ "$3" -eq 2 ]; then
		COMPREPLY=( $(compgen -W "$(umapsync config --list-keys 2>/dev/null |
			awk -F'\t' -v k="$2" 'tolower($1) == tolower(k) { gsub(/\|/, "\n", $2); print $2 }')" -- "$1") )
	fi
}

__umapsync_map_files() {
	local IFS=$'\n' file
	for file in $(compgen -f -- "$1"); do
		# like ls, hidden entries only when the word asks for them
		[[ ${file##*/} == .* && ${1##*/} != .* ]] && continue
		if [ -d "$file" ]; then
			COMPREPLY+=( "$file/" )
			continue
		fi
		case ${file,,} in
		*.geojson|*.json|*.umap) COMPREPLY+=( "$file" ) ;;
		esac
	done
	compopt -o filenames -o nospace 2>/dev/null
}

# __umapsync_options CMD [WORD]: the option lines of CMD. WORD is the first argument typed
# after CMD: for a command with subcommands (token create) it selects the subcommand's
# options; an ordinary command ignores it and lists its own.
__umapsync_options() {
	local out
	if [ -n "$2" ] && out=$(umapsync "$1" "$2" --list-options 2>/dev/null) && [ -n "$out" ]; then
		printf '%s\n' "$out"
		return 0
	fi
	umapsync "$1" --list-options 2>/dev/null
}

_umapsync() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local IFS=$'\n' i=1
	COMPREPLY=()
	# Global options come before the command, as in git.
	while [ "$i" -lt "$COMP_CWORD" ]; do
		case ${COMP_WORDS[i]} in
		-C) i=$((i + 2)) ;;
		--no-pager) i=$((i + 1)) ;;
		*) break ;;
		esac
	done
	if [ "$i" -gt "$COMP_CWORD" ]; then # the directory after -C
		COMPREPLY=( $(compgen -d -- "$cur") )
		compopt -o filenames 2>/dev/null
		return 0
	fi
	if [ "$i" -eq "$COMP_CWORD" ]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=( $(compgen -W $'-C\n--no-pager\n--version\n--help' -- "$cur") )
		else
			COMPREPLY=( $(compgen -W "$(umapsync --list-commands 2>/dev/null | cut -f1)" -- "$cur") )
		fi
		return 0
	fi
	local cmd=${COMP_WORDS[i]} sub= arg=$((COMP_CWORD - i))
	if [ "$arg" -gt 1 ] && [[ ${COMP_WORDS[i + 1]} != -* ]]; then
		sub=${COMP_WORDS[i + 1]}
	fi
	case $cur in
	--*=*)
		local opt=${cur%%=*} line
		line=$(__umapsync_options "$cmd" "$sub" | awk -F'\t' -v o="$opt" '$1 == o "=" || $1 == o')
		if [ -n "$(printf '%s' "$line" | cut -f3)" ]; then
			COMPREPLY=( $(compgen -W "$(printf '%s\n' "$line" | cut -f3 | tr '|' '\n')" -- "${cur#*=}") )
		elif [ "$(printf '%s' "$line" | cut -f2)" = file ]; then
			__umapsync_map_files "${cur#*=}"
		fi
		return 0
		;;
	-*)
		COMPREPLY=( $(compgen -W "$(__umapsync_options "$cmd" "$sub" | cut -f1)" -- "$cur") )
		[[ ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
		return 0
		;;
	esac
	case $cmd in
	help)
		COMPREPLY=( $(compgen -W "$(umapsync --list-commands 2>/dev/null | cut -f1)" -- "$cur") ) ;;
	checkout|branch|tag|merge|rebase|show|log)
		COMPREPLY=( $(compgen -W "$(__umapsync_refs)" -- "$cur") ) ;;
	export|diff)
		COMPREPLY=( $(compgen -W "$(__umapsync_refs)" -- "$cur") )
		__umapsync_map_files "$cur" ;;
	push|pull)
		COMPREPLY=( $(compgen -W "$(__umapsync_remotes)" -- "$cur") ) ;;
	remote)
		if [ "$arg" -eq 1 ]; then
			COMPREPLY=( $(compgen -W $'add\nremove\nlist' -- "$cur") )
		else
			COMPREPLY=( $(compgen -W "$(__umapsync_remotes)" -- "$cur") )
		fi ;;
	token)
		[ "$arg" -eq 1 ] && COMPREPLY=( $(compgen -W $'create\nlist\nrevoke' -- "$cur") ) ;;
	config)
		__umapsync_config "$cur" "${COMP_WORDS[COMP_CWORD - 1]}" "$arg" ;;
	clone|init|serve|resolve|conflicts)
		compopt -o default 2>/dev/null ;;
	*)
		__umapsync_map_files "$cur" ;;
	esac
	return 0
}

complete -F _umapsync umapsync
