# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_sandboxer_global_optspecs
    string join \n state-dir= ssh-config= ssh-accept-new ssh-persist= max-connections= parallel-builds= capabilities-ttl= hub= hub-ca= profiles= v/verbose q/quiet color= h/help V/version
end

function __fish_sandboxer_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_sandboxer_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_sandboxer_using_subcommand
    set -l cmd (__fish_sandboxer_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c sandboxer -n "__fish_sandboxer_needs_command" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_needs_command" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_needs_command" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_needs_command" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_needs_command" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_needs_command" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_needs_command" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_needs_command" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_needs_command" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_needs_command" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_needs_command" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "validate" -d 'Check a manifest: syntax, schema, profiles, inputs, dependencies. Changes nothing'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "watch" -d 'Apply, then apply again whenever the manifest, a repo or a template changes'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "create" -d 'Create one sandbox (or image) from a profile, without a manifest'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "plan" -d 'Show what apply would change, and why'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "apply" -d 'Carry out the plan (or a saved plan)'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "destroy" -d 'Remove every resource of the manifest\'s project, or one sandbox by id'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "list" -d 'List recorded resources'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "inspect" -d 'Show one resource: its record, what is there now, its notes'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "exec" -d 'Run a command in a sandbox\'s workspace (on its VM, or here); its exit code is sandboxer\'s'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "ssh" -d 'Open an interactive login shell in a sandbox\'s workspace'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "ssh-config" -d 'Print ssh `Host` blocks for the VM slots of the port registry, or check your ssh config against them'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "doctor" -d 'Check the bridge to the build machines: tunnels, ssh, rsync, disk, Packer, the State Hub. Changes nothing'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "schema" -d 'Write the JSON Schemas of the manifest, profiles and plans'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "hub" -d 'The State Hub server'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "state" -d 'The state of the manifest\'s project: list, show, rm, mv; push/pull between the embedded store and a State Hub'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "force-unlock" -d 'Remove a state lock whose holder is stuck'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "completions" -d 'Print the shell completion script for bash, zsh or fish'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "man" -d 'Write the manual pages: sandboxer.1 and one per subcommand'
complete -c sandboxer -n "__fish_sandboxer_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -s f -l file -d 'The manifest' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -l json -d 'Print the result as JSON on stdout'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand validate" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -s f -l file -d 'The manifest' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l debounce -d 'Quiet time after the last file event before reapplying' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l interval -d 'Also re-plan this often without a file change (drift on VMs); 0 = only on changes' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l max-delete -d 'Most deletes of recorded resources one cycle carries out [default: a quarter of the project\'s records, at least 1]; a cycle that would delete more, or every sandbox of the project, applies the rest and deletes none' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l parallelism -d 'Changes running at once' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l lock-timeout -d 'How long to wait for the state lock (e.g. 30s); 0 fails at once' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l auto-approve -d 'Do not ask for confirmation'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l json -d 'Progress as JSON lines on stdout'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand watch" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l profile -d 'Profile, e.g. profile.vm-haskell-build' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l input -d 'An input, `name=value`; repeatable' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l host -d 'Where sandboxer runs from to reach the VM: localhost, or an SSH jump host' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l name -d 'Name of the sandbox (its address is sandbox.<name>) [default: <vm>-<random>]' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l project -d 'Project to record it in' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -s f -l file -d 'The manifest whose state to use [default: sandboxes.yaml if present, else the user\'s state]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l parallelism -d 'Changes running at once' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l lock-timeout -d 'How long to wait for the state lock (e.g. 30s); 0 fails at once' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l auto-approve -d 'Do not ask for confirmation'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l json -d 'Progress as JSON lines on stdout'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand create" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -s f -l file -d 'The manifest' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l target -d 'Plan only these resources (and what they depend on); repeatable' -r -f -a "(__sandboxer_addresses --only addresses)"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l replace -d 'Plan to destroy this resource and make it anew although nothing changed (an image is rebuilt, and what depends on it replaced); repeatable' -r -f -a "(__sandboxer_addresses --only addresses)"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l out -d 'Save the plan to apply it later with `sandboxer apply PLAN`' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l format -d 'Output format' -r -f -a "text\t''
json\t''
markdown\t''"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l destroy -d 'Show what `sandboxer destroy` would do (with --target: those resources and what depends on them)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l json -d 'Print the plan as JSON (schemas/plan.schema.json)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l detailed-exitcode -d 'Exit 0 when there is nothing to do, 2 when there are changes, 1 on error'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand plan" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -s f -l file -d 'The manifest' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l target -d 'Apply only these resources (and what they depend on); repeatable' -r -f -a "(__sandboxer_addresses --only addresses)"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l replace -d 'Destroy this resource and make it anew although nothing changed (an image is rebuilt, and what depends on it replaced); repeatable' -r -f -a "(__sandboxer_addresses --only addresses)"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l parallelism -d 'Changes running at once' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l lock-timeout -d 'How long to wait for the state lock (e.g. 30s); 0 fails at once' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l refresh-capabilities -d 'Probe every VM\'s capabilities now, however young the catalog\'s entry (`--capabilities-ttl`)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l auto-approve -d 'Do not ask for confirmation'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l json -d 'Progress as JSON lines on stdout'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand apply" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l target -d 'Destroy only this resource of the manifest\'s project, and what depends on it; repeatable' -r -f -a "(__sandboxer_addresses --only addresses)"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -s f -l file -d 'The manifest whose project is destroyed' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l parallelism -d 'Changes running at once' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l lock-timeout -d 'How long to wait for the state lock (e.g. 30s); 0 fails at once' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l auto-approve -d 'Do not ask for confirmation'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l json -d 'Progress as JSON lines on stdout'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand destroy" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -s f -l file -d 'The manifest whose state to use [default: sandboxes.yaml if present, else the user\'s state]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l vm -d 'Only the sandboxes and images on this VM (its ssh alias)' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l json -d 'Print JSON'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l vms -d 'The capability catalog instead: what each VM was last seen to offer'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand list" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -s f -l file -d 'The manifest whose state to use [default: sandboxes.yaml if present, else the user\'s state]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -l notes -d 'How many of the last notes to show' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -l json -d 'Print JSON'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand inspect" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -s f -l file -d 'The manifest whose state to use [default: sandboxes.yaml if present, else the user\'s state]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand exec" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -s f -l file -d 'The manifest whose state to use [default: sandboxes.yaml if present, else the user\'s state]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -l registry -d 'The port registry [default: the manifest\'s `port_registry:`, else SANDBOXER_PORT_REGISTRY]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -s f -l file -d 'The manifest whose `port_registry:` is used [default: sandboxes.yaml if present]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -l check -d 'Compare with what `ssh -G <alias>` resolves (with --ssh-config if given); exit 1 on any difference'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand ssh-config" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -s f -l file -d 'The manifest' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l vm -d 'Check only this VM (its SSH alias); may be repeated' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l timeout -d 'How long each check may take' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l json -d 'Print the checks as a JSON array on stdout'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand doctor" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -l out -d 'Write every schema into this folder, one file each (`<name>.schema.json`)' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -s f -l file -d 'Print the manifest schema of this manifest\'s project: the built-in profiles and those of its `profiles/` folder and `--profiles`, and no other profile name (a misspelt one is an error)' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand schema" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -f -a "serve" -d 'Serve the State Hub API until SIGTERM or Ctrl-C'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -f -a "migrate" -d 'Bring a PostgreSQL store\'s schema up to date (hub serve does it at start too)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -f -a "migrate-store" -d 'Copy a file store (a stopped hub\'s data folder) into a PostgreSQL store'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and not __fish_seen_subcommand_from serve migrate migrate-store help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l listen -d 'Address to listen on; loopback unless you say otherwise' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l data -d 'Data folder of the file store [default: <--state-dir or the user\'s state folder>/hub]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l store -d 'Keep the data in PostgreSQL instead, shared by every hub given the same URL: postgres://USER@HOST:PORT/DATABASE' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l store-ca -d 'PEM file of CA certificates the database\'s certificate may chain to, besides the system\'s store (with `sslmode=require` in the URL)' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l store-password-env -d 'Environment variable holding the database password, when the URL has none [default: PGPASSWORD]' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l store-password-file -d 'File holding the database password instead (a systemd credential, say); its last newline is not part of it' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l port-registry -d 'Port registry whose VMs the dashboard lists (with every VM a record names)' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l store-connections -d 'Connections to the PostgreSQL store this hub keeps at most' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l token-env -d 'Environment variable holding the bearer token clients must send; unset or empty = no token' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l token-file -d 'File holding the bearer token instead (a systemd credential, say); its last newline is not part of it' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l notes-keep -d 'Notes kept per sandbox; the oldest go first' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l notes-max-age -d 'Drop notes the hub received longer ago than this (500ms, 30s, 5m, 24h) [default: no age limit]' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l note-max-bytes -d 'Bytes of a note\'s text kept; a longer text is cut there and marked' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from serve" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l store -d 'The PostgreSQL store: postgres://USER@HOST:PORT/DATABASE' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l store-ca -d 'PEM file of CA certificates the database\'s certificate may chain to, besides the system\'s store (with `sslmode=require` in the URL)' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l store-password-env -d 'Environment variable holding the database password, when the URL has none [default: PGPASSWORD]' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l store-password-file -d 'File holding the database password instead (a systemd credential, say); its last newline is not part of it' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l from -d 'The file store\'s data folder (stop the hub that serves it first)' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l to -d 'The PostgreSQL store: postgres://USER@HOST:PORT/DATABASE' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l store-ca -d 'PEM file of CA certificates the database\'s certificate may chain to, besides the system\'s store (with `sslmode=require` in the URL)' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l store-password-env -d 'Environment variable holding the database password, when the URL has none [default: PGPASSWORD]' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l store-password-file -d 'File holding the database password instead (a systemd credential, say); its last newline is not part of it' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from migrate-store" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from help" -f -a "serve" -d 'Serve the State Hub API until SIGTERM or Ctrl-C'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from help" -f -a "migrate" -d 'Bring a PostgreSQL store\'s schema up to date (hub serve does it at start too)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from help" -f -a "migrate-store" -d 'Copy a file store (a stopped hub\'s data folder) into a PostgreSQL store'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand hub; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -f -a "list" -d 'The addresses recorded for the manifest\'s project, one a line'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -f -a "show" -d 'One record, as JSON'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -f -a "rm" -d 'Forget records; their workspaces stay as they are, released (no plan adopts or deletes them). Backs up first'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -f -a "mv" -d 'Give a record a new address; its workspace and id are kept, its marker names the new address. Backs up first'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -f -a "push" -d 'Copy the manifest project\'s records from the embedded store to the hub'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -f -a "pull" -d 'Copy the manifest project\'s records from the hub to the embedded store'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and not __fish_seen_subcommand_from list show rm mv push pull help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -s f -l file -d 'The manifest' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from list" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -s f -l file -d 'The manifest' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -s f -l file -d 'The manifest' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -l lock-timeout -d 'How long to wait for the project\'s lock' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from rm" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -s f -l file -d 'The manifest' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -l lock-timeout -d 'How long to wait for the project\'s lock' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from mv" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -s f -l file -d 'The manifest' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -l lock-timeout -d 'How long to wait for the locks' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from push" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -s f -l file -d 'The manifest' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -l lock-timeout -d 'How long to wait for the locks' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from pull" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "list" -d 'The addresses recorded for the manifest\'s project, one a line'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "show" -d 'One record, as JSON'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Forget records; their workspaces stay as they are, released (no plan adopts or deletes them). Backs up first'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "mv" -d 'Give a record a new address; its workspace and id are kept, its marker names the new address. Backs up first'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "push" -d 'Copy the manifest project\'s records from the embedded store to the hub'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "pull" -d 'Copy the manifest project\'s records from the hub to the embedded store'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand state; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -l project -d 'The project whose lock it is (with a State Hub)' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -s f -l file -d 'The manifest whose state to use [default: sandboxes.yaml if present, else the user\'s state]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand force-unlock" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -l out -d 'Folder to write every shell\'s script into, each under its usual name' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand completions" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -l out -d 'Folder to write the pages into (made when missing)' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -l state-dir -d 'Folder of the embedded state store [default: .sandboxer next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -l ssh-config -d 'ssh config file used to reach VMs [default: the operator\'s ~/.ssh/config]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -l ssh-persist -d 'How long an ssh master outlives the run, for the next runs to reuse; 0 closes masters at exit' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -l max-connections -d 'VMs connected to or observed at once (opening ssh masters, looking for workspaces): a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -l parallel-builds -d 'Packer builds running at once: a number, or `unlimited`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -l capabilities-ttl -d 'How long a VM\'s probed capabilities are trusted before they are probed again' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -l hub -d 'State Hub URL; overrides the manifest\'s `hub.url`' -r
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -l hub-ca -d 'PEM file of a private CA (one or more certificates) trusted for an https hub, besides the system\'s CA store' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -l profiles -d 'Extra folder of profiles [default: profiles/ next to the manifest]' -r -F
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -l color -d 'Colour in output' -r -f -a "auto\t'On a terminal, unless NO_COLOR is set'
always\t'Always'
never\t'Never'"
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -l ssh-accept-new -d 'Accept the host key of a VM seen for the first time (changed keys are always refused)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -s v -l verbose -d 'More log output (-v info, -vv debug); RUST_LOG overrides'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -s q -l quiet -d 'Only errors on stderr'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand man" -s V -l version -d 'Print version'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "validate" -d 'Check a manifest: syntax, schema, profiles, inputs, dependencies. Changes nothing'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "watch" -d 'Apply, then apply again whenever the manifest, a repo or a template changes'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "create" -d 'Create one sandbox (or image) from a profile, without a manifest'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "plan" -d 'Show what apply would change, and why'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "apply" -d 'Carry out the plan (or a saved plan)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "destroy" -d 'Remove every resource of the manifest\'s project, or one sandbox by id'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "list" -d 'List recorded resources'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "inspect" -d 'Show one resource: its record, what is there now, its notes'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "exec" -d 'Run a command in a sandbox\'s workspace (on its VM, or here); its exit code is sandboxer\'s'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "ssh" -d 'Open an interactive login shell in a sandbox\'s workspace'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "ssh-config" -d 'Print ssh `Host` blocks for the VM slots of the port registry, or check your ssh config against them'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "doctor" -d 'Check the bridge to the build machines: tunnels, ssh, rsync, disk, Packer, the State Hub. Changes nothing'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "schema" -d 'Write the JSON Schemas of the manifest, profiles and plans'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "hub" -d 'The State Hub server'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "state" -d 'The state of the manifest\'s project: list, show, rm, mv; push/pull between the embedded store and a State Hub'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "force-unlock" -d 'Remove a state lock whose holder is stuck'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "completions" -d 'Print the shell completion script for bash, zsh or fish'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "man" -d 'Write the manual pages: sandboxer.1 and one per subcommand'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and not __fish_seen_subcommand_from validate watch create plan apply destroy list inspect exec ssh ssh-config doctor schema hub state force-unlock completions man help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and __fish_seen_subcommand_from hub" -f -a "serve" -d 'Serve the State Hub API until SIGTERM or Ctrl-C'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and __fish_seen_subcommand_from hub" -f -a "migrate" -d 'Bring a PostgreSQL store\'s schema up to date (hub serve does it at start too)'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and __fish_seen_subcommand_from hub" -f -a "migrate-store" -d 'Copy a file store (a stopped hub\'s data folder) into a PostgreSQL store'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "list" -d 'The addresses recorded for the manifest\'s project, one a line'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "show" -d 'One record, as JSON'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "rm" -d 'Forget records; their workspaces stay as they are, released (no plan adopts or deletes them). Backs up first'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "mv" -d 'Give a record a new address; its workspace and id are kept, its marker names the new address. Backs up first'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "push" -d 'Copy the manifest project\'s records from the embedded store to the hub'
complete -c sandboxer -n "__fish_sandboxer_using_subcommand help; and __fish_seen_subcommand_from state" -f -a "pull" -d 'Copy the manifest project\'s records from the hub to the embedded store'

# Resource addresses and sandbox ids, from the manifest that -f/--file names on
# the line (else ./sandboxes.yaml) and its state: `sandboxer __complete
# addresses`, given this function's arguments. Prints nothing on any error.
function __sandboxer_addresses
    set -l tokens (commandline -opc)
    set -l args
    for i in (seq 2 (count $tokens))
        set -l next (math $i + 1)
        switch $tokens[$i]
            case -f --file --state-dir
                set -q tokens[$next]
                or continue
                set -l name $tokens[$i]
                test $name = -f
                and set name --file
                set args $args $name (string replace -r '^~/' "$HOME/" -- $tokens[$next])
            case '--file=*' '--state-dir=*'
                set -l parts (string split -m 1 = -- $tokens[$i])
                set args $args $parts[1] (string replace -r '^~/' "$HOME/" -- $parts[2])
        end
    end
    sandboxer __complete addresses $args $argv 2>/dev/null
end

# Succeeds when the token being completed is a positional argument that takes
# what the first argument names (addresses, ids or both), such as the sandbox
# of `inspect`, `exec` or `state rm`.
function __sandboxer_address_slot
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l path ''
    set -l count 0
    set -l skip 0
    set -l rest 0
    for word in $tokens
        if test $skip -eq 1
            set skip 0
            continue
        end
        if test $rest -eq 0
            switch $word
                case --
                    set rest 1
                    continue
                case '--capabilities-ttl' '--color' '--data' '--debounce' '--file' '--format' '--from' '--host' '--hub' '--hub-ca' '--input' '--interval' '--listen' '--lock-timeout' '--max-connections' '--max-delete' '--name' '--note-max-bytes' '--notes' '--notes-keep' '--notes-max-age' '--out' '--parallel-builds' '--parallelism' '--port-registry' '--profile' '--profiles' '--project' '--registry' '--replace' '--ssh-config' '--ssh-persist' '--state-dir' '--store' '--store-ca' '--store-connections' '--store-password-env' '--store-password-file' '--target' '--timeout' '--to' '--token-env' '--token-file' '--vm' '-f'
                    set skip 1
                    continue
                case '-*'
                    continue
            end
        end
        if test $count -eq 0
            switch "$path/$word"
                case '/validate' '/watch' '/create' '/plan' '/apply' '/destroy' '/list' '/inspect' '/exec' '/ssh' '/ssh-config' '/doctor' '/schema' '/hub' 'hub/serve' 'hub/migrate' 'hub/migrate-store' '/state' 'state/list' 'state/show' 'state/rm' 'state/mv' 'state/push' 'state/pull' '/force-unlock' '/completions' '/man'
                    set path (string trim -- "$path $word")
                    continue
            end
        end
        set count (math $count + 1)
    end
    test $skip -eq 0
    or return 1
    switch "$argv[1]@$path:$count"
        case 'ids@destroy:0' 'both@inspect:0' 'both@exec:0' 'both@ssh:0' 'addresses@state show:0' 'addresses@state rm:*' 'addresses@state mv:0' 'addresses@state mv:1'
            return 0
    end
    return 1
end

complete -c sandboxer -n '__sandboxer_address_slot addresses' -f -a '(__sandboxer_addresses --only addresses)'
complete -c sandboxer -n '__sandboxer_address_slot ids' -f -a '(__sandboxer_addresses --only ids)'
complete -c sandboxer -n '__sandboxer_address_slot both' -f -a '(__sandboxer_addresses)'
