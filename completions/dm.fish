# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_dm_global_optspecs
    string join \n c/config= log-format= h/help V/version
end

function __fish_dm_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_dm_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_dm_using_subcommand
    set -l cmd (__fish_dm_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c dm -n "__fish_dm_needs_command" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_needs_command" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_needs_command" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_needs_command" -f -a "init" -d 'Create a new, empty dot and switch to it'
complete -c dm -n "__fish_dm_needs_command" -f -a "list" -d 'List dots (the current one is marked with *)'
complete -c dm -n "__fish_dm_needs_command" -f -a "switch" -d 'Make DOT the current dot for later verbs'
complete -c dm -n "__fish_dm_needs_command" -f -a "commit" -d 'Record the current state of the dot as a commit'
complete -c dm -n "__fish_dm_needs_command" -f -a "log" -d 'Show the commits of the current branch, newest first'
complete -c dm -n "__fish_dm_needs_command" -f -a "branch" -d 'List branches of the current dot (the checked-out one is marked with *), or delete one'
complete -c dm -n "__fish_dm_needs_command" -f -a "checkout" -d 'Switch to another branch of the current dot, or create one with -b'
complete -c dm -n "__fish_dm_needs_command" -f -a "reset" -d 'Roll the current branch back to COMMIT; later commits and uncommitted changes are discarded'
complete -c dm -n "__fish_dm_needs_command" -f -a "tag" -d 'Name a commit, list tags, or delete one'
complete -c dm -n "__fish_dm_needs_command" -f -a "status" -d 'Show the current dot, branch and newest commit, and the uncommitted changes'
complete -c dm -n "__fish_dm_needs_command" -f -a "diff" -d 'Show which files changed between two commits, or since a commit'
complete -c dm -n "__fish_dm_needs_command" -f -a "prune" -d 'Remove old commits of the current branch, keeping what the options say'
complete -c dm -n "__fish_dm_needs_command" -f -a "undo" -d 'Undo the newest operation that can be undone (see `dm op log`)'
complete -c dm -n "__fish_dm_needs_command" -f -a "op" -d 'The operation log: list operations, restore the state after one'
complete -c dm -n "__fish_dm_needs_command" -f -a "remote" -d 'Manage remotes: the clusters this client talks to'
complete -c dm -n "__fish_dm_needs_command" -f -a "push" -d 'Send a branch\'s commits to another cluster'
complete -c dm -n "__fish_dm_needs_command" -f -a "pull" -d 'Fetch a branch\'s new commits from another cluster into a dot that exists here'
complete -c dm -n "__fish_dm_needs_command" -f -a "clone" -d 'Copy a dot from another cluster to this one'
complete -c dm -n "__fish_dm_needs_command" -f -a "dot" -d 'Show, locate and delete dots'
complete -c dm -n "__fish_dm_needs_command" -f -a "user" -d 'Users, their API keys and passwords'
complete -c dm -n "__fish_dm_needs_command" -f -a "cluster" -d 'Set up, join, inspect and leave a cluster of nodes'
complete -c dm -n "__fish_dm_needs_command" -f -a "doctor" -d 'Check this node and its cluster (the same as `dm cluster status`)'
complete -c dm -n "__fish_dm_needs_command" -f -a "serve" -d 'Run the node daemon in the foreground'
complete -c dm -n "__fish_dm_needs_command" -f -a "flexvolume" -d 'Answer a kubelet FlexVolume call (init, mount DIR JSON, unmount DIR)'
complete -c dm -n "__fish_dm_needs_command" -f -a "provisioner" -d 'Run the Kubernetes dynamic provisioner for StorageClasses of dotmesh/dotmesh-dynamic-provisioner'
complete -c dm -n "__fish_dm_needs_command" -f -a "csi" -d 'Run the Kubernetes CSI driver csi.dotmesh.io on this node'
complete -c dm -n "__fish_dm_needs_command" -f -a "version" -d 'Show client and daemon versions'
complete -c dm -n "__fish_dm_needs_command" -f -a "completions" -d 'Print a shell completion script (e.g. `dm completions bash > /etc/bash_completion.d/dm`)'
complete -c dm -n "__fish_dm_needs_command" -f -a "generate-man" -d 'Write man pages for dm and every subcommand into DIR'
complete -c dm -n "__fish_dm_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand init" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand init" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand init" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand list" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand list" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand list" -l json -d 'Print JSON instead of a table'
complete -c dm -n "__fish_dm_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand list" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand switch" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand switch" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand switch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand switch" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand commit" -s m -l message -d 'Commit message' -r
complete -c dm -n "__fish_dm_using_subcommand commit" -s d -l metadata -d 'Extra metadata stored with the commit (lowercase KEY=VALUE; repeatable)' -r
complete -c dm -n "__fish_dm_using_subcommand commit" -l dot -d 'Dot to commit [default: the current dot]' -r
complete -c dm -n "__fish_dm_using_subcommand commit" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand commit" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand commit" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand commit" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand log" -s r -l rev -d 'Start from this commit instead of the newest: an id (or unique prefix), a tag, or HEAD~N' -r
complete -c dm -n "__fish_dm_using_subcommand log" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand log" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand log" -l json -d 'Print JSON instead of text'
complete -c dm -n "__fish_dm_using_subcommand log" -l oneline -d 'One line per commit'
complete -c dm -n "__fish_dm_using_subcommand log" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand log" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand branch" -s d -l delete -d 'Delete this branch with its commits' -r
complete -c dm -n "__fish_dm_using_subcommand branch" -l dot -d 'Dot to act on [default: the current dot]' -r
complete -c dm -n "__fish_dm_using_subcommand branch" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand branch" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand branch" -l json -d 'Print JSON instead of text'
complete -c dm -n "__fish_dm_using_subcommand branch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand branch" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand checkout" -l from -d 'With -b: the same as START' -r
complete -c dm -n "__fish_dm_using_subcommand checkout" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand checkout" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand checkout" -s b -d 'Create the branch from the newest commit of the current branch'
complete -c dm -n "__fish_dm_using_subcommand checkout" -l move-containers -d 'Also move the containers that mount the dot by its bare name (`-v DOT`), on every node: restart them on the new branch, which `-v DOT` then mounts [default: the dot\'s setting, `dm dot settings`]'
complete -c dm -n "__fish_dm_using_subcommand checkout" -l no-move-containers -d 'Leave containers where they are, whatever the dot\'s setting'
complete -c dm -n "__fish_dm_using_subcommand checkout" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand checkout" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand reset" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand reset" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand reset" -l hard -d 'Discard later commits and uncommitted changes (the only mode dm has)'
complete -c dm -n "__fish_dm_using_subcommand reset" -l force -d 'Roll back even while containers have the branch mounted (restart them afterwards)'
complete -c dm -n "__fish_dm_using_subcommand reset" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand reset" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand tag" -s d -l delete -d 'Delete this tag (the commit stays)' -r
complete -c dm -n "__fish_dm_using_subcommand tag" -l dot -d 'Dot to act on [default: the current dot]' -r
complete -c dm -n "__fish_dm_using_subcommand tag" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand tag" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand tag" -l json -d 'Print JSON instead of text'
complete -c dm -n "__fish_dm_using_subcommand tag" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand tag" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand status" -l subdot -d 'Subdot to look at [default: the one in --dot, else __default__; __root__ is the whole dot]' -r
complete -c dm -n "__fish_dm_using_subcommand status" -l dot -d 'Dot (and @branch) to look at [default: the current dot and branch]' -r
complete -c dm -n "__fish_dm_using_subcommand status" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand status" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand status" -l json -d 'Print JSON instead of text'
complete -c dm -n "__fish_dm_using_subcommand status" -l stat -d 'Show the sizes of changed files'
complete -c dm -n "__fish_dm_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand status" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand diff" -l subdot -d 'Subdot to compare [default: the one in --dot, else __default__; __root__ is the whole dot]' -r
complete -c dm -n "__fish_dm_using_subcommand diff" -l dot -d 'Dot (and @branch) to compare in [default: the current dot and branch]' -r
complete -c dm -n "__fish_dm_using_subcommand diff" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand diff" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand diff" -l stat -d 'Show each file\'s sizes and a summary line'
complete -c dm -n "__fish_dm_using_subcommand diff" -l json -d 'Print JSON instead of text'
complete -c dm -n "__fish_dm_using_subcommand diff" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand diff" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand prune" -l keep-last -d 'Keep the N newest commits' -r
complete -c dm -n "__fish_dm_using_subcommand prune" -l keep-hourly -d 'Keep the newest commit of each of the N most recent hours that have commits' -r
complete -c dm -n "__fish_dm_using_subcommand prune" -l keep-daily -d 'Keep the newest commit of each of the N most recent days (UTC) that have commits' -r
complete -c dm -n "__fish_dm_using_subcommand prune" -l keep-weekly -d 'Keep the newest commit of each of the N most recent weeks (UTC, from Monday)' -r
complete -c dm -n "__fish_dm_using_subcommand prune" -l dot -d 'Dot (and @branch) to prune [default: the current dot and branch]' -r
complete -c dm -n "__fish_dm_using_subcommand prune" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand prune" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand prune" -s n -l dry-run -d 'Only show what would be removed and how much space would come back'
complete -c dm -n "__fish_dm_using_subcommand prune" -l json -d 'Print JSON instead of text'
complete -c dm -n "__fish_dm_using_subcommand prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand prune" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand undo" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand undo" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand undo" -l json -d 'Print JSON instead of text'
complete -c dm -n "__fish_dm_using_subcommand undo" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand undo" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand op; and not __fish_seen_subcommand_from log restore help" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand op; and not __fish_seen_subcommand_from log restore help" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand op; and not __fish_seen_subcommand_from log restore help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand op; and not __fish_seen_subcommand_from log restore help" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand op; and not __fish_seen_subcommand_from log restore help" -f -a "log" -d 'List operations, newest first'
complete -c dm -n "__fish_dm_using_subcommand op; and not __fish_seen_subcommand_from log restore help" -f -a "restore" -d 'Undo every operation after ID, newest first (the state right after ID comes back)'
complete -c dm -n "__fish_dm_using_subcommand op; and not __fish_seen_subcommand_from log restore help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from log" -l dot -d 'Only this dot\'s operations' -r
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from log" -s n -l limit -d 'At most N operations' -r
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from log" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from log" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from log" -l json -d 'Print JSON instead of text'
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from log" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from log" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from restore" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from restore" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from restore" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from help" -f -a "log" -d 'List operations, newest first'
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from help" -f -a "restore" -d 'Undo every operation after ID, newest first (the state right after ID comes back)'
complete -c dm -n "__fish_dm_using_subcommand op; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand remote; and not __fish_seen_subcommand_from add rm switch help" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand remote; and not __fish_seen_subcommand_from add rm switch help" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand remote; and not __fish_seen_subcommand_from add rm switch help" -s v -l verbose -d 'Show each remote\'s user, host and port'
complete -c dm -n "__fish_dm_using_subcommand remote; and not __fish_seen_subcommand_from add rm switch help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand remote; and not __fish_seen_subcommand_from add rm switch help" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand remote; and not __fish_seen_subcommand_from add rm switch help" -f -a "add" -d 'Add a remote; asks for its API key (hidden) unless --api-key-file is given'
complete -c dm -n "__fish_dm_using_subcommand remote; and not __fish_seen_subcommand_from add rm switch help" -f -a "rm" -d 'Remove a remote from this client\'s config (nothing on the cluster changes)'
complete -c dm -n "__fish_dm_using_subcommand remote; and not __fish_seen_subcommand_from add rm switch help" -f -a "switch" -d 'Make the other verbs talk to this remote'
complete -c dm -n "__fish_dm_using_subcommand remote; and not __fish_seen_subcommand_from add rm switch help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from add" -l api-key-file -d 'Read the API key from this file (`-` for standard input)' -r -F
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from add" -l fingerprint -d 'Expected TLS certificate fingerprint (SHA256:…); without it you are asked to confirm' -r
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from add" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from add" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from add" -l insecure -d 'Allow sending the API key over plain HTTP to another machine (trusted networks only)'
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from rm" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from rm" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from rm" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from switch" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from switch" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from switch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from switch" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from help" -f -a "add" -d 'Add a remote; asks for its API key (hidden) unless --api-key-file is given'
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Remove a remote from this client\'s config (nothing on the cluster changes)'
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from help" -f -a "switch" -d 'Make the other verbs talk to this remote'
complete -c dm -n "__fish_dm_using_subcommand remote; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand push" -l remote-name -d 'Name of the dot on the remote, [NAMESPACE/]NAME [default: the same name, in the remote user\'s namespace]' -r
complete -c dm -n "__fish_dm_using_subcommand push" -l branch -d 'Branch to push [default: the checked-out branch]' -r
complete -c dm -n "__fish_dm_using_subcommand push" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand push" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand push" -l force -d 'Reset the remote branch to the last common commit first when it has commits this side lacks (they are lost there)'
complete -c dm -n "__fish_dm_using_subcommand push" -l tags -d 'Also make this dot\'s tags of the pushed commits on the remote (pulls and clones always bring the remote\'s)'
complete -c dm -n "__fish_dm_using_subcommand push" -l json -d 'Print a JSON summary at the end'
complete -c dm -n "__fish_dm_using_subcommand push" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand push" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand pull" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand pull" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand pull" -l json -d 'Print a JSON summary at the end'
complete -c dm -n "__fish_dm_using_subcommand pull" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand pull" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand clone" -l local-name -d 'Name of the new dot here, exactly: [NAMESPACE/]NAME, in your own namespace unless one is given (`-v NAME` in Docker then finds it) [default: the remote\'s name]' -r
complete -c dm -n "__fish_dm_using_subcommand clone" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand clone" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand clone" -l json -d 'Print a JSON summary at the end'
complete -c dm -n "__fish_dm_using_subcommand clone" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand clone" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand dot; and not __fish_seen_subcommand_from show delete path settings help" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand dot; and not __fish_seen_subcommand_from show delete path settings help" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand dot; and not __fish_seen_subcommand_from show delete path settings help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand dot; and not __fish_seen_subcommand_from show delete path settings help" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand dot; and not __fish_seen_subcommand_from show delete path settings help" -f -a "show" -d 'Show a dot: branches, mountpoint of the current branch, subdots, who uses it'
complete -c dm -n "__fish_dm_using_subcommand dot; and not __fish_seen_subcommand_from show delete path settings help" -f -a "delete" -d 'Delete a dot with all its branches and commits'
complete -c dm -n "__fish_dm_using_subcommand dot; and not __fish_seen_subcommand_from show delete path settings help" -f -a "path" -d 'Print the host directory of a subdot (created if missing), to use from the shell'
complete -c dm -n "__fish_dm_using_subcommand dot; and not __fish_seen_subcommand_from show delete path settings help" -f -a "settings" -d 'Show or change a dot\'s settings: whether `dm checkout` moves its containers, and which branch `-v DOT` mounts'
complete -c dm -n "__fish_dm_using_subcommand dot; and not __fish_seen_subcommand_from show delete path settings help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from show" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from show" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from show" -l json -d 'Print JSON instead of text'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from delete" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from delete" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from delete" -s y -l yes -d 'Do not ask for confirmation'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from delete" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from delete" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from path" -l commit -d 'A commit of the branch (id, unique prefix or tag) to mount read-only instead: a view on this node, kept while anything uses it (Docker: `-v DOT[@BRANCH]^COMMIT[.SUBDOT]`)' -r
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from path" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from path" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from path" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from path" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from settings" -l move-containers -d 'Whether `dm checkout` restarts the containers that mount the dot by its bare name (`-v DOT`) on the new branch, as Dotmesh did (override per checkout with --[no-]move-containers)' -r -f -a "on\t''
off\t''"
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from settings" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from settings" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from settings" -l json -d 'Print JSON'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from settings" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from settings" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from help" -f -a "show" -d 'Show a dot: branches, mountpoint of the current branch, subdots, who uses it'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from help" -f -a "delete" -d 'Delete a dot with all its branches and commits'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from help" -f -a "path" -d 'Print the host directory of a subdot (created if missing), to use from the shell'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from help" -f -a "settings" -d 'Show or change a dot\'s settings: whether `dm checkout` moves its containers, and which branch `-v DOT` mounts'
complete -c dm -n "__fish_dm_using_subcommand dot; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand user; and not __fish_seen_subcommand_from add list ls remove rm key passwd help" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand user; and not __fish_seen_subcommand_from add list ls remove rm key passwd help" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand user; and not __fish_seen_subcommand_from add list ls remove rm key passwd help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand user; and not __fish_seen_subcommand_from add list ls remove rm key passwd help" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand user; and not __fish_seen_subcommand_from add list ls remove rm key passwd help" -f -a "add" -d 'Create a user and print its API key (admin only); it may use dots in namespace NAME'
complete -c dm -n "__fish_dm_using_subcommand user; and not __fish_seen_subcommand_from add list ls remove rm key passwd help" -f -a "list" -d 'List the users (admin only)'
complete -c dm -n "__fish_dm_using_subcommand user; and not __fish_seen_subcommand_from add list ls remove rm key passwd help" -f -a "ls" -d 'List the users (admin only)'
complete -c dm -n "__fish_dm_using_subcommand user; and not __fish_seen_subcommand_from add list ls remove rm key passwd help" -f -a "remove" -d 'Remove a user (admin only): its key stops working at once; the dots in its namespace stay, for admin (or a user added again with that name)'
complete -c dm -n "__fish_dm_using_subcommand user; and not __fish_seen_subcommand_from add list ls remove rm key passwd help" -f -a "rm" -d 'Remove a user (admin only): its key stops working at once; the dots in its namespace stay, for admin (or a user added again with that name)'
complete -c dm -n "__fish_dm_using_subcommand user; and not __fish_seen_subcommand_from add list ls remove rm key passwd help" -f -a "key" -d 'Show your API key, signed in with it or with your password (`--password`); `reset` makes a new one'
complete -c dm -n "__fish_dm_using_subcommand user; and not __fish_seen_subcommand_from add list ls remove rm key passwd help" -f -a "passwd" -d 'Set your password (or, as admin, another user\'s with --user); it can show your API key later (`dm user key --password`)'
complete -c dm -n "__fish_dm_using_subcommand user; and not __fish_seen_subcommand_from add list ls remove rm key passwd help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from add" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from add" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from add" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from add" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from list" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from list" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from list" -l json -d 'Print JSON'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from ls" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from ls" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from ls" -l json -d 'Print JSON'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from ls" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from remove" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from remove" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from remove" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from remove" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from rm" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from rm" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from rm" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from key" -l password-file -d 'Read the password from this file (`-` for standard input) instead of asking' -r -F
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from key" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from key" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from key" -l password -d 'Sign in with your password instead of the key the remote has (on a machine that lost it)'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from key" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from key" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from key" -f -a "reset" -d 'Replace the API key: the old one stops working at once. Your own new key goes into this remote\'s config; as admin, `--user NAME` replaces NAME\'s and prints it'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from key" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from passwd" -l user -d 'Whose password (admin only for others) [default: yours]' -r
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from passwd" -l password-file -d 'Read the new password from this file (`-` for standard input) instead of asking twice' -r -F
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from passwd" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from passwd" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from passwd" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from passwd" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "add" -d 'Create a user and print its API key (admin only); it may use dots in namespace NAME'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "list" -d 'List the users (admin only)'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "remove" -d 'Remove a user (admin only): its key stops working at once; the dots in its namespace stay, for admin (or a user added again with that name)'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "key" -d 'Show your API key, signed in with it or with your password (`--password`); `reset` makes a new one'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "passwd" -d 'Set your password (or, as admin, another user\'s with --user); it can show your API key later (`dm user key --password`)'
complete -c dm -n "__fish_dm_using_subcommand user; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and not __fish_seen_subcommand_from init join status nodes reset upgrade systemd token help" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and not __fish_seen_subcommand_from init join status nodes reset upgrade systemd token help" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand cluster; and not __fish_seen_subcommand_from init join status nodes reset upgrade systemd token help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand cluster; and not __fish_seen_subcommand_from init join status nodes reset upgrade systemd token help" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand cluster; and not __fish_seen_subcommand_from init join status nodes reset upgrade systemd token help" -f -a "init" -d 'Set up this machine as a new cluster: ZFS pool, node daemon, admin user, client config'
complete -c dm -n "__fish_dm_using_subcommand cluster; and not __fish_seen_subcommand_from init join status nodes reset upgrade systemd token help" -f -a "join" -d 'Add this machine to an existing cluster (run the command `dm cluster init` printed)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and not __fish_seen_subcommand_from init join status nodes reset upgrade systemd token help" -f -a "status" -d 'Check this node and its cluster: ZFS, etcd, nodes, masters, replication, certificates, drivers (also `dm doctor`); exits 1 when something needs action'
complete -c dm -n "__fish_dm_using_subcommand cluster; and not __fish_seen_subcommand_from init join status nodes reset upgrade systemd token help" -f -a "nodes" -d 'List the cluster\'s nodes with their addresses and liveness'
complete -c dm -n "__fish_dm_using_subcommand cluster; and not __fish_seen_subcommand_from init join status nodes reset upgrade systemd token help" -f -a "reset" -d 'Take this node out of its cluster and remove its dm state (ZFS data is kept)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and not __fish_seen_subcommand_from init join status nodes reset upgrade systemd token help" -f -a "upgrade" -d 'Restart this node\'s daemon on the current `dm` binary, keeping state and mounts'
complete -c dm -n "__fish_dm_using_subcommand cluster; and not __fish_seen_subcommand_from init join status nodes reset upgrade systemd token help" -f -a "systemd" -d 'Write this node\'s systemd units (dm.service, dm.socket) into a directory, to install by hand or by configuration management (`dm cluster init --systemd` installs them itself)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and not __fish_seen_subcommand_from init join status nodes reset upgrade systemd token help" -f -a "token" -d 'Make, list and revoke join tokens (`dm cluster join` needs one)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and not __fish_seen_subcommand_from init join status nodes reset upgrade systemd token help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l pool -d 'ZFS pool to use; created on a sparse file if it does not exist' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l pool-file -d 'Backing file for a new pool [default: STATE_DIR/dotmesh_data]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l pool-size -d 'Size of a new pool\'s backing file (e.g. 10G, 512M)' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l state-dir -d 'Directory for the node\'s config, logs, etcd data and mountpoints' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l mount-dir -d 'Where branch filesystems are mounted [default: STATE_DIR/mnt]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l bind -d 'Address the API listens on' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l advertise -d 'Address other nodes and clients use for this node [default: the bind address, or 127.0.0.1]' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l port -d 'API port' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l etcd-client-port -d 'Client port of this node\'s etcd' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l etcd-peer-port -d 'Peer port of this node\'s etcd (other nodes\' etcd connect to it)' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l docker-plugin-socket -d 'Unix socket for the Docker volume plugin; its file name is the driver name' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l flexvolume-dir -d 'Kubelet\'s FlexVolume plugin directory (its --volume-plugin-dir): the daemon installs the `dotmesh.io~dm` driver there and keeps it current' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l remote-name -d 'Name of the client remote that points at this node' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l tls-cert -d 'Serve the API over TLS with this certificate (PEM)' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l tls-key -d 'Private key (PKCS#8 PEM) of --tls-cert' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l stream-idle-timeout -d 'Seconds a receive waits for a sender that has gone quiet (a network partition) before it gives up and releases the branch' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l undo-grace -d 'Seconds what a reset or a branch delete removed is kept for `dm undo` before the space is reclaimed (0: resets keep nothing and cannot be undone)' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l metrics-addr -d 'Serve Prometheus metrics on this HOST:PORT alone instead of at /metrics on the API port' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l metrics-dot-labels -d 'Dots whose names metrics may carry as labels (NS/DOT, NS/* or *; comma-separated); other dots\' series carry only their filesystem id' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l log-format -d 'How the daemon writes its log' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l etcd-endpoints -d 'Use these etcd endpoints (comma-separated) instead of running etcd' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l no-docker-plugin -d 'Do not serve the Docker volume plugin'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l no-flexvolume -d 'Do not install or serve the Kubernetes FlexVolume driver'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l tls -d 'Serve the API over TLS with a new self-signed certificate (clients pin its fingerprint)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -l systemd -d 'Run the daemon under systemd: install dm.service (and dm.socket, which starts it on Docker\'s first call) into /etc/systemd/system and enable them'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from init" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l token-file -d 'File holding the join token (`-` for standard input); without it the token is read from DM_JOIN_TOKEN, else asked for. Make one with `dm cluster token create`' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l fingerprint -d 'Expected TLS certificate fingerprint of the cluster\'s node (when it serves TLS)' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l pool -d 'ZFS pool to use; created on a sparse file if it does not exist' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l pool-file -d 'Backing file for a new pool [default: STATE_DIR/dotmesh_data]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l pool-size -d 'Size of a new pool\'s backing file (e.g. 10G, 512M)' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l state-dir -d 'Directory for the node\'s config, logs, etcd data and mountpoints' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l mount-dir -d 'Where branch filesystems are mounted [default: STATE_DIR/mnt]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l bind -d 'Address the API listens on' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l advertise -d 'Address other nodes and clients use for this node [default: the bind address, or 127.0.0.1]' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l port -d 'API port' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l etcd-client-port -d 'Client port of this node\'s etcd' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l etcd-peer-port -d 'Peer port of this node\'s etcd (other nodes\' etcd connect to it)' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l docker-plugin-socket -d 'Unix socket for the Docker volume plugin; its file name is the driver name' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l flexvolume-dir -d 'Kubelet\'s FlexVolume plugin directory (its --volume-plugin-dir): the daemon installs the `dotmesh.io~dm` driver there and keeps it current' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l remote-name -d 'Name of the client remote that points at this node' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l tls-cert -d 'Serve the API over TLS with this certificate (PEM)' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l tls-key -d 'Private key (PKCS#8 PEM) of --tls-cert' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l stream-idle-timeout -d 'Seconds a receive waits for a sender that has gone quiet (a network partition) before it gives up and releases the branch' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l undo-grace -d 'Seconds what a reset or a branch delete removed is kept for `dm undo` before the space is reclaimed (0: resets keep nothing and cannot be undone)' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l metrics-addr -d 'Serve Prometheus metrics on this HOST:PORT alone instead of at /metrics on the API port' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l metrics-dot-labels -d 'Dots whose names metrics may carry as labels (NS/DOT, NS/* or *; comma-separated); other dots\' series carry only their filesystem id' -r
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l log-format -d 'How the daemon writes its log' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l insecure -d 'Send the join token over plain HTTP to a node that does not serve TLS (only on a network you trust: anyone on it can read the token)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l no-docker-plugin -d 'Do not serve the Docker volume plugin'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l no-flexvolume -d 'Do not install or serve the Kubernetes FlexVolume driver'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l tls -d 'Serve the API over TLS with a new self-signed certificate (clients pin its fingerprint)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -l systemd -d 'Run the daemon under systemd: install dm.service (and dm.socket, which starts it on Docker\'s first call) into /etc/systemd/system and enable them'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from join" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from status" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from status" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from status" -l json -d 'Print JSON (the same checks; the exit status is the same too)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from nodes" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from nodes" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from nodes" -l json -d 'Print JSON'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from nodes" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from nodes" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from reset" -l state-dir -d 'State directory of the node [default: the current remote\'s, else /var/lib/dotmesh]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from reset" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from reset" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from reset" -l force -d 'Reset even if this node holds the only copy of uncommitted changes (they are lost)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from reset" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from reset" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from upgrade" -l state-dir -d 'State directory of the node [default: the current remote\'s, else /var/lib/dotmesh]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from upgrade" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from upgrade" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from upgrade" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from upgrade" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from systemd" -l dir -d 'Where to write the units' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from systemd" -l state-dir -d 'State directory of the node [default: the current remote\'s, else /var/lib/dotmesh]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from systemd" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from systemd" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from systemd" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from systemd" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from token" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from token" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from token" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from token" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from token" -f -a "create" -d 'Make a join token; it can add nodes to the cluster, nothing else, until it expires'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from token" -f -a "list" -d 'List the live join tokens'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from token" -f -a "revoke" -d 'Revoke a join token now'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from token" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "init" -d 'Set up this machine as a new cluster: ZFS pool, node daemon, admin user, client config'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "join" -d 'Add this machine to an existing cluster (run the command `dm cluster init` printed)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "status" -d 'Check this node and its cluster: ZFS, etcd, nodes, masters, replication, certificates, drivers (also `dm doctor`); exits 1 when something needs action'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "nodes" -d 'List the cluster\'s nodes with their addresses and liveness'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "reset" -d 'Take this node out of its cluster and remove its dm state (ZFS data is kept)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "upgrade" -d 'Restart this node\'s daemon on the current `dm` binary, keeping state and mounts'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "systemd" -d 'Write this node\'s systemd units (dm.service, dm.socket) into a directory, to install by hand or by configuration management (`dm cluster init --systemd` installs them itself)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "token" -d 'Make, list and revoke join tokens (`dm cluster join` needs one)'
complete -c dm -n "__fish_dm_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand doctor" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand doctor" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand doctor" -l json -d 'Print JSON (the same checks; the exit status is the same too)'
complete -c dm -n "__fish_dm_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand serve" -l state-dir -d 'The node\'s state directory (holds node.toml, logs, etcd data)' -r -F
complete -c dm -n "__fish_dm_using_subcommand serve" -l log-file -d 'Write the log to this file (rotated at 16 MiB, three old ones kept) instead of stderr; `dm cluster init` starts the daemon with STATE_DIR/dm.log' -r -F
complete -c dm -n "__fish_dm_using_subcommand serve" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand serve" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand serve" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand flexvolume" -l plugin-dir -d 'Kubelet\'s FlexVolume plugin directory, where the daemon serves the driver\'s socket' -r -F
complete -c dm -n "__fish_dm_using_subcommand flexvolume" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand flexvolume" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand flexvolume" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand flexvolume" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand provisioner" -l name -d 'Provisioner name the StorageClasses use' -r
complete -c dm -n "__fish_dm_using_subcommand provisioner" -l api-host -d 'Host of the dm daemon\'s API' -r
complete -c dm -n "__fish_dm_using_subcommand provisioner" -l api-port -d 'Port of the dm daemon\'s API' -r
complete -c dm -n "__fish_dm_using_subcommand provisioner" -l api-user -d 'dm user whose key it uses (admin reaches every namespace)' -r
complete -c dm -n "__fish_dm_using_subcommand provisioner" -l api-key-file -d 'File holding the API key [default: the DOTMESH_API_KEY environment variable]' -r -F
complete -c dm -n "__fish_dm_using_subcommand provisioner" -l api-tls-cert -d 'The daemon\'s TLS certificate (PEM), the only one trusted' -r -F
complete -c dm -n "__fish_dm_using_subcommand provisioner" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand provisioner" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand provisioner" -l insecure -d 'Send the key in clear to a daemon that is not on this machine'
complete -c dm -n "__fish_dm_using_subcommand provisioner" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand provisioner" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand csi" -l endpoint -d 'Socket the driver serves CSI on' -r -F
complete -c dm -n "__fish_dm_using_subcommand csi" -l kubelet-dir -d 'Kubelet\'s root directory: the driver registers in its plugins_registry' -r -F
complete -c dm -n "__fish_dm_using_subcommand csi" -l plugin-dir -d 'The FlexVolume plugin directory the daemon serves its driver socket in (`dm cluster init --flexvolume-dir`)' -r -F
complete -c dm -n "__fish_dm_using_subcommand csi" -l api-host -d 'Host of the dm daemon\'s API' -r
complete -c dm -n "__fish_dm_using_subcommand csi" -l api-port -d 'Port of the dm daemon\'s API' -r
complete -c dm -n "__fish_dm_using_subcommand csi" -l api-user -d 'dm user whose key it uses (admin reaches every namespace)' -r
complete -c dm -n "__fish_dm_using_subcommand csi" -l api-key-file -d 'File holding the API key [default: the DOTMESH_API_KEY environment variable]' -r -F
complete -c dm -n "__fish_dm_using_subcommand csi" -l api-tls-cert -d 'The daemon\'s TLS certificate (PEM), the only one trusted' -r -F
complete -c dm -n "__fish_dm_using_subcommand csi" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand csi" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand csi" -l no-register -d 'Do not register with kubelet (serve the socket only)'
complete -c dm -n "__fish_dm_using_subcommand csi" -l insecure -d 'Send the key in clear to a daemon that is not on this machine'
complete -c dm -n "__fish_dm_using_subcommand csi" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand csi" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand version" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand version" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand version" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand version" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand completions" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand completions" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand completions" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand generate-man" -s c -l config -d 'Client config file [default: $DM_CONFIG or ~/.dotmesh/config]' -r -F
complete -c dm -n "__fish_dm_using_subcommand generate-man" -l log-format -d 'Log lines as text or JSON (levels: DM_LOG or RUST_LOG, e.g. `DM_LOG=debug`) [default: text; for `dm serve`, the node\'s setting]' -r -f -a "text\t'One human-readable line per event'
json\t'One JSON object per event (for log shippers)'"
complete -c dm -n "__fish_dm_using_subcommand generate-man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c dm -n "__fish_dm_using_subcommand generate-man" -s V -l version -d 'Print version'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "init" -d 'Create a new, empty dot and switch to it'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "list" -d 'List dots (the current one is marked with *)'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "switch" -d 'Make DOT the current dot for later verbs'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "commit" -d 'Record the current state of the dot as a commit'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "log" -d 'Show the commits of the current branch, newest first'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "branch" -d 'List branches of the current dot (the checked-out one is marked with *), or delete one'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "checkout" -d 'Switch to another branch of the current dot, or create one with -b'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "reset" -d 'Roll the current branch back to COMMIT; later commits and uncommitted changes are discarded'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "tag" -d 'Name a commit, list tags, or delete one'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "status" -d 'Show the current dot, branch and newest commit, and the uncommitted changes'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "diff" -d 'Show which files changed between two commits, or since a commit'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "prune" -d 'Remove old commits of the current branch, keeping what the options say'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "undo" -d 'Undo the newest operation that can be undone (see `dm op log`)'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "op" -d 'The operation log: list operations, restore the state after one'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "remote" -d 'Manage remotes: the clusters this client talks to'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "push" -d 'Send a branch\'s commits to another cluster'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "pull" -d 'Fetch a branch\'s new commits from another cluster into a dot that exists here'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "clone" -d 'Copy a dot from another cluster to this one'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "dot" -d 'Show, locate and delete dots'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "user" -d 'Users, their API keys and passwords'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "cluster" -d 'Set up, join, inspect and leave a cluster of nodes'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "doctor" -d 'Check this node and its cluster (the same as `dm cluster status`)'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "serve" -d 'Run the node daemon in the foreground'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "flexvolume" -d 'Answer a kubelet FlexVolume call (init, mount DIR JSON, unmount DIR)'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "provisioner" -d 'Run the Kubernetes dynamic provisioner for StorageClasses of dotmesh/dotmesh-dynamic-provisioner'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "csi" -d 'Run the Kubernetes CSI driver csi.dotmesh.io on this node'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "version" -d 'Show client and daemon versions'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "completions" -d 'Print a shell completion script (e.g. `dm completions bash > /etc/bash_completion.d/dm`)'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "generate-man" -d 'Write man pages for dm and every subcommand into DIR'
complete -c dm -n "__fish_dm_using_subcommand help; and not __fish_seen_subcommand_from init list switch commit log branch checkout reset tag status diff prune undo op remote push pull clone dot user cluster doctor serve flexvolume provisioner csi version completions generate-man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from op" -f -a "log" -d 'List operations, newest first'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from op" -f -a "restore" -d 'Undo every operation after ID, newest first (the state right after ID comes back)'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from remote" -f -a "add" -d 'Add a remote; asks for its API key (hidden) unless --api-key-file is given'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from remote" -f -a "rm" -d 'Remove a remote from this client\'s config (nothing on the cluster changes)'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from remote" -f -a "switch" -d 'Make the other verbs talk to this remote'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from dot" -f -a "show" -d 'Show a dot: branches, mountpoint of the current branch, subdots, who uses it'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from dot" -f -a "delete" -d 'Delete a dot with all its branches and commits'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from dot" -f -a "path" -d 'Print the host directory of a subdot (created if missing), to use from the shell'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from dot" -f -a "settings" -d 'Show or change a dot\'s settings: whether `dm checkout` moves its containers, and which branch `-v DOT` mounts'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "add" -d 'Create a user and print its API key (admin only); it may use dots in namespace NAME'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "list" -d 'List the users (admin only)'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "remove" -d 'Remove a user (admin only): its key stops working at once; the dots in its namespace stay, for admin (or a user added again with that name)'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "key" -d 'Show your API key, signed in with it or with your password (`--password`); `reset` makes a new one'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from user" -f -a "passwd" -d 'Set your password (or, as admin, another user\'s with --user); it can show your API key later (`dm user key --password`)'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "init" -d 'Set up this machine as a new cluster: ZFS pool, node daemon, admin user, client config'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "join" -d 'Add this machine to an existing cluster (run the command `dm cluster init` printed)'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "status" -d 'Check this node and its cluster: ZFS, etcd, nodes, masters, replication, certificates, drivers (also `dm doctor`); exits 1 when something needs action'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "nodes" -d 'List the cluster\'s nodes with their addresses and liveness'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "reset" -d 'Take this node out of its cluster and remove its dm state (ZFS data is kept)'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "upgrade" -d 'Restart this node\'s daemon on the current `dm` binary, keeping state and mounts'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "systemd" -d 'Write this node\'s systemd units (dm.service, dm.socket) into a directory, to install by hand or by configuration management (`dm cluster init --systemd` installs them itself)'
complete -c dm -n "__fish_dm_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "token" -d 'Make, list and revoke join tokens (`dm cluster join` needs one)'
