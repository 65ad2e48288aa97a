# fish completion for umapsync.
# Commands and options come from the binary (--list-commands, CMD --list-options), so they
# always match the command and option tables in cmd/.

function __umapsync_commands
    umapsync --list-commands 2>/dev/null
end

function __umapsync_options
    set -l cmd (commandline -opc)[2]
    umapsync $cmd --list-options 2>/dev/null | while read -l -d \t name kind choices help
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

complete -c umapsync -f
complete -c umapsync -n __fish_use_subcommand -a '(__umapsync_commands)'
complete -c umapsync -n 'not __fish_use_subcommand; and string match -q -- "-*" (commandline -ct)' -a '(__umapsync_options)'
complete -c umapsync -n '__fish_seen_subcommand_from help' -a '(__umapsync_commands)'
complete -c umapsync -n '__fish_seen_subcommand_from checkout branch tag merge rebase show log export diff' -a '(__umapsync_refs)'
complete -c umapsync -n '__fish_seen_subcommand_from validate diff apply merge-file import export git-merge-driver' -a '(__umapsync_map_files)'
complete -c umapsync -n '__fish_seen_subcommand_from remote' -a 'add remove list'
complete -c umapsync -n '__fish_seen_subcommand_from token' -a 'create list revoke'
