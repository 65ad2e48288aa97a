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
	local gd
	gd=$(__umapsync_git_dir) || return 0
	git config --file "$gd/config" --name-only --get-regexp '^remote\..*\.url$' 2>/dev/null |
		sed -e 's/^remote\.//' -e 's/\.url$//'
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

_umapsync() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local cmd=${COMP_WORDS[1]}
	local IFS=$'\n'
	COMPREPLY=()
	if [ "$COMP_CWORD" -eq 1 ]; then
		COMPREPLY=( $(compgen -W "$(umapsync --list-commands 2>/dev/null | cut -f1)" -- "$cur") )
		return 0
	fi
	case $cur in
	--*=*)
		local opt=${cur%%=*} choices
		choices=$(umapsync "$cmd" --list-options 2>/dev/null | awk -F'\t' -v o="$opt=" '$1 == o { print $3 }')
		if [ -n "$choices" ]; then
			COMPREPLY=( $(compgen -W "$(printf '%s\n' "$choices" | tr '|' '\n')" -- "${cur#*=}") )
		elif umapsync "$cmd" --list-options 2>/dev/null | grep -q "^$opt=	file"; then
			__umapsync_map_files "${cur#*=}"
		fi
		return 0
		;;
	-*)
		COMPREPLY=( $(compgen -W "$(umapsync "$cmd" --list-options 2>/dev/null | cut -f1)" -- "$cur") )
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
		if [ "$COMP_CWORD" -eq 2 ]; then
			COMPREPLY=( $(compgen -W $'add\nremove\nlist' -- "$cur") )
		else
			COMPREPLY=( $(compgen -W "$(__umapsync_remotes)" -- "$cur") )
		fi ;;
	token)
		[ "$COMP_CWORD" -eq 2 ] && COMPREPLY=( $(compgen -W $'create\nlist\nrevoke' -- "$cur") ) ;;
	clone|init|serve|config|resolve|conflicts)
		compopt -o default 2>/dev/null ;;
	*)
		__umapsync_map_files "$cur" ;;
	esac
	return 0
}

complete -F _umapsync umapsync
