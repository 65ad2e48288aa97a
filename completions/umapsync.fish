# fish completion for umapsync.
# Commands and options come from the binary (--list-commands, CMD --list-options), so they
# always match the command and option tables in cmd/.

function __umapsync_commands
    umapsync --list-commands 2>/dev/null
end

# The words typed after the global options (-C DIR, --no-pager): command, then arguments.
function __umapsync_words
    set -l words (commandline -opc)
    set -e words[1]
    while test (count $words) -gt 0
        switch $words[1]
            case -C
                set -e words[1..2]
            case --no-pager
                set -e words[1]
            case '*'
                break
        end
    end
    # printf with no argument would still print one empty line
    test (count $words) -gt 0; and printf '%s\n' $words
end

# The option lines of the command; the first argument typed selects a subcommand's options
# (token create), and ordinary commands ignore it.
function __umapsync_option_lines
    set -l words (__umapsync_words)
    set -l cmd $words[1]
    if test (count $words) -ge 2; and not string match -q -- '-*' $words[2]
        set -l out (umapsync $cmd $words[2] --list-options 2>/dev/null)
        if test -n "$out"
            printf '%s\n' $out
            return
        end
    end
    umapsync $cmd --list-options 2>/dev/null
end

function __umapsync_options
    __umapsync_option_lines | while read -l -d \t name kind choices help
        set -l flag (string replace -r '=$' '' -- $name)
        printf '%s\t%s\n' $flag $help
    end
end

function __umapsync_refs
    set -l dir (pwd)
    while test -n "$dir" -a ! -d "$dir/.umapsync"
        set dir (string replace -r '/[^/]*$' '' -- $dir)
    end
    test -d "$dir/.umapsync"; or return
    git --git-dir="$dir/.umapsync" for-each-ref --format='%(refname:short)' refs/heads refs/tags 2>/dev/null
end

function __umapsync_map_files
    __fish_complete_suffix .geojson
    __fish_complete_suffix .json
    __fish_complete_suffix .umap
end

# config: a setting's name (first argument, or after --unset), then its values; both come
# from config --list-keys.
function __umapsync_config_wants_key
    set -l words (__umapsync_words)
    test "$words[1]" = config; or return 1
    test (count $words) -eq 1; or test (count $words) -eq 2 -a "$words[2]" = --unset
end

function __umapsync_config_wants_value
    set -l words (__umapsync_words)
    test "$words[1]" = config -a (count $words) -eq 2; and not string match -q -- '-*' $words[2]
end

function __umapsync_config_keys
    umapsync config --list-keys 2>/dev/null | while read -l -d \t name choices help
        printf '%s\t%s\n' $name $help
    end
end

function __umapsync_config_values
    set -l key (__umapsync_words)[2]
    if test "$key" = umapsync-remote.default
        umapsync remote 2>/dev/null
        return
    end
    umapsync config --list-keys 2>/dev/null | while read -l -d \t name choices help
        test (string lower -- $name) = (string lower -- $key); and string split '|' -- $choices
    end
end

complete -c umapsync -f
function __umapsync_needs_command
    test (count (__umapsync_words)) -eq 0
end

complete -c umapsync -n __umapsync_needs_command -a '(__umapsync_commands)'
complete -c umapsync -n __umapsync_needs_command -s C -r -a '(__fish_complete_directories)' -d 'run as if started in DIR'
complete -c umapsync -n __umapsync_needs_command -l no-pager -d 'do not page long output'
complete -c umapsync -n __umapsync_needs_command -l version -d 'print the version'
complete -c umapsync -n 'not __umapsync_needs_command; and string match -q -- "-*" (commandline -ct)' -a '(__umapsync_options)'
complete -c umapsync -n '__fish_seen_subcommand_from help' -a '(__umapsync_commands)'
complete -c umapsync -n '__fish_seen_subcommand_from checkout branch tag merge rebase show log export diff' -a '(__umapsync_refs)'
complete -c umapsync -n '__fish_seen_subcommand_from validate diff apply merge-file import export git-merge-driver' -a '(__umapsync_map_files)'
complete -c umapsync -n '__fish_seen_subcommand_from remote' -a 'add remove list'
complete -c umapsync -n '__fish_seen_subcommand_from push pull' -a '(umapsync remote 2>/dev/null)'
complete -c umapsync -n __umapsync_config_wants_key -a '(__umapsync_config_keys)'
complete -c umapsync -n __umapsync_config_wants_value -a '(__umapsync_config_values)'
complete -c umapsync -n '__fish_seen_subcommand_from token' -a 'create list revoke'
