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

function __umapsync_git_dir
    set -l dir (pwd)
    while test -n "$dir" -a ! -d "$dir/.umapsync"
        set dir (string replace -r '/[^/]*$' '' -- $dir)
    end
    test -d "$dir/.umapsync"; and echo "$dir/.umapsync"
end

function __umapsync_refs
    set -l gd (__umapsync_git_dir); or return
    git --git-dir="$gd" for-each-ref --format='%(refname:short)' refs/heads refs/tags 2>/dev/null
end

function __umapsync_remotes
    set -l gd (__umapsync_git_dir); or return
    git config --file "$gd/config" --name-only --get-regexp '^umapsync-remote\..*\.url$' 2>/dev/null |
        string replace -r '^umapsync-remote\.(.*)\.url$' '$1'
end

function __umapsync_map_files
    __fish_complete_suffix .geojson
    __fish_complete_suffix .json
    __fish_complete_suffix .umap
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
complete -c umapsync -n '__fish_seen_subcommand_from push pull remote' -a '(__umapsync_remotes)'
complete -c umapsync -n '__fish_seen_subcommand_from token' -a 'create list revoke'
