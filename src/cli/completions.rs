//! `sandboxer completions`: shell completion scripts made by `clap_complete`
//! from the command line's own definition, and the hidden `sandboxer __complete
//! addresses` that the scripts call to complete resource addresses and sandbox
//! ids from the manifest and its state.
//!
//! clap_complete's dynamic completion needs an `unstable-*` feature, so the
//! scripts are its static ones with the arguments that take an address or an
//! id wired to `__complete addresses`: options (`--target`, `--replace`)
//! through a marker value given to them before generating, positionals
//! (`inspect`, `exec`, `state rm`, ...) through zsh's own argument specs, and
//! in bash and fish through a small function that counts the words of the line.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::builder::PossibleValuesParser;
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

use sandboxer::address::Address;
use sandboxer::state::StateStore;

use super::settings::Colors;
use super::{Cli, GlobalOpts, Settings};

#[derive(Debug, Args)]
pub struct Opts {
    /// The shell to print the script for
    #[arg(value_enum, required_unless_present = "out", conflicts_with = "out")]
    pub shell: Option<Shell>,
    /// Folder to write every shell's script into, each under its usual name
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// The shells with a completion script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    /// `sandboxer.bash`, for bash-completion.
    Bash,
    /// `_sandboxer`, for a folder of zsh's `fpath`.
    Zsh,
    /// `sandboxer.fish`, for fish's completions folder.
    Fish,
}

impl Shell {
    const ALL: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

    /// The script's file name where each shell looks for it.
    pub fn file_name(self) -> &'static str {
        match self {
            Shell::Bash => "sandboxer.bash",
            Shell::Zsh => "_sandboxer",
            Shell::Fish => "sandboxer.fish",
        }
    }
}

pub fn run(opts: &Opts) -> anyhow::Result<ExitCode> {
    match (&opts.out, opts.shell) {
        (Some(dir), _) => {
            std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            for shell in Shell::ALL {
                let path = dir.join(shell.file_name());
                sandboxer::fsutil::write_atomic(&path, script(shell)?.as_bytes())
                    .with_context(|| format!("cannot write {}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
        (None, Some(shell)) => super::output::print_data(&script(shell)?)?,
        // clap requires one of the two.
        (None, None) => {}
    }
    Ok(ExitCode::SUCCESS)
}

/// What an argument takes, and so what `__complete addresses` is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takes {
    /// `sandbox.app`, `image.build`.
    Address,
    /// A sandbox id.
    Id,
    /// Either.
    AddressOrId,
}

impl Takes {
    const ALL: [Takes; 3] = [Takes::Address, Takes::Id, Takes::AddressOrId];

    /// The only possible value such an argument gets in the command given to
    /// clap_complete; each shell's rendering of it is then replaced by a call
    /// to `__complete addresses`.
    fn marker(self) -> &'static str {
        match self {
            Takes::Address => "__sandboxer_address__",
            Takes::Id => "__sandboxer_id__",
            Takes::AddressOrId => "__sandboxer_address_or_id__",
        }
    }

    /// Its name in the scripts.
    fn word(self) -> &'static str {
        match self {
            Takes::Address => "addresses",
            Takes::Id => "ids",
            Takes::AddressOrId => "both",
        }
    }

    /// The arguments of `__complete addresses` for it.
    fn only(self) -> &'static str {
        match self {
            Takes::Address => " --only addresses",
            Takes::Id => " --only ids",
            Takes::AddressOrId => "",
        }
    }
}

/// The arguments that take an address or an id: the subcommand path, the
/// argument's id, what it takes. A unit test checks that each one exists.
const ADDRESS_ARGS: &[(&[&str], &str, Takes)] = &[
    (&["plan"], "targets", Takes::Address),
    (&["plan"], "replace", Takes::Address),
    (&["apply"], "targets", Takes::Address),
    (&["apply"], "replace", Takes::Address),
    (&["destroy"], "targets", Takes::Address),
    (&["destroy"], "id", Takes::Id),
    (&["inspect"], "what", Takes::AddressOrId),
    (&["exec"], "what", Takes::AddressOrId),
    (&["ssh"], "what", Takes::AddressOrId),
    (&["state", "show"], "address", Takes::Address),
    (&["state", "rm"], "addresses", Takes::Address),
    (&["state", "mv"], "from", Takes::Address),
    (&["state", "mv"], "to", Takes::Address),
];

/// What the argument `id` of the subcommand at `path` (words joined by
/// spaces) takes, if an address or an id.
fn takes(path: &str, id: &str) -> Option<Takes> {
    ADDRESS_ARGS
        .iter()
        .find(|(p, i, _)| p.join(" ") == path && *i == id)
        .map(|(_, _, takes)| *takes)
}

/// The path of the subcommand `name` of the one at `path`.
fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path} {name}")
    }
}

/// The command line's definition with a marker as the possible value of every
/// option that takes an address or an id, and of such positionals too when
/// `positionals`.
fn marked_command(positionals: bool) -> clap::Command {
    let mut command = mark(Cli::command(), "", positionals);
    command.build();
    command
}

/// `command` (at `path`) with its arguments and its subcommands' marked.
fn mark(command: clap::Command, path: &str, positionals: bool) -> clap::Command {
    // mut_args and mut_subcommands keep the order (mut_arg moves the argument
    // last, which would change the positions of positionals).
    command
        .mut_args(|arg| match takes(path, arg.get_id().as_str()) {
            Some(takes) if positionals || !arg.is_positional() => {
                arg.value_parser(PossibleValuesParser::new([takes.marker()]))
            }
            _ => arg,
        })
        .mut_subcommands(|sub| {
            let child = child_path(path, sub.get_name());
            mark(sub, &child, positionals)
        })
}

/// The completion script for `shell`.
pub fn script(shell: Shell) -> anyhow::Result<String> {
    let (generator, positionals) = match shell {
        Shell::Bash => (clap_complete::Shell::Bash, false),
        Shell::Zsh => (clap_complete::Shell::Zsh, true),
        // clap_complete's fish script leaves positionals out.
        Shell::Fish => (clap_complete::Shell::Fish, false),
    };
    let mut command = marked_command(positionals);
    let mut out = Vec::new();
    clap_complete::generate(generator, &mut command, "sandboxer", &mut out);
    let generated = String::from_utf8(out).context("clap_complete wrote a script that is not UTF-8")?;
    let script = match shell {
        Shell::Bash => bash(&generated, &command)?,
        Shell::Zsh => zsh(&generated)?,
        Shell::Fish => fish(&generated, &command)?,
    };
    for takes in Takes::ALL {
        anyhow::ensure!(
            !script.contains(takes.marker()),
            "the {shell:?} script still holds {}",
            takes.marker()
        );
    }
    Ok(script)
}

/// `text` with every `from` replaced by `to`; an error unless there is at least
/// one (clap_complete wrote something else than this file expects).
fn replace_all(text: &str, from: &str, to: &str) -> anyhow::Result<String> {
    anyhow::ensure!(text.contains(from), "clap_complete's script has no `{from}`");
    Ok(text.replace(from, to))
}

/// The picture of the command line that the word-counting functions need.
struct Tables {
    /// `parent/child` for every subcommand, the parent's path joined by
    /// spaces (`/state`, `state/rm`).
    subcommands: Vec<String>,
    /// Every `-x` and `--name` that takes a value, anywhere.
    value_options: BTreeSet<String>,
    /// The positionals that take an address or an id, as `path:N` (N: the
    /// number of positionals before it) or `path:*` (a list of them).
    slots: Vec<(Takes, String)>,
}

impl Tables {
    fn of(command: &clap::Command) -> Tables {
        let mut tables = Tables {
            subcommands: Vec::new(),
            value_options: BTreeSet::new(),
            slots: Vec::new(),
        };
        tables.add(command, "");
        tables
    }

    fn add(&mut self, command: &clap::Command, path: &str) {
        for arg in command.get_arguments().filter(|a| !a.is_positional()) {
            if arg.get_num_args().is_some_and(|n| n.takes_values()) {
                self.value_options.extend(spellings(arg));
            }
        }
        for (index, arg) in command.get_positionals().enumerate() {
            if let Some(takes) = takes(path, arg.get_id().as_str()) {
                let many = arg.get_num_args().is_some_and(|n| n.max_values() > 1);
                let slot = if many {
                    format!("{path}:*")
                } else {
                    format!("{path}:{index}")
                };
                self.slots.push((takes, slot));
            }
        }
        // clap's `help` subcommands take no address: their words are left uncounted.
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            self.subcommands.push(format!("{path}/{}", sub.get_name()));
            self.add(sub, &child_path(path, sub.get_name()));
        }
    }

    /// The slots of `takes`.
    fn slots_of(&self, takes: Takes) -> Vec<String> {
        self.slots
            .iter()
            .filter(|(t, _)| *t == takes)
            .map(|(_, slot)| slot.clone())
            .collect()
    }
}

/// `-x` and `--name` of an option.
fn spellings(arg: &clap::Arg) -> Vec<String> {
    let shorts = arg.get_short_and_visible_aliases().into_iter().flatten();
    let longs = arg.get_long_and_visible_aliases().into_iter().flatten();
    shorts
        .map(|s| format!("-{s}"))
        .chain(longs.map(|l| format!("--{l}")))
        .collect()
}

/// `words` as the patterns of a bash `case`, each quoted but for a `*` at the
/// end, which stays a pattern.
fn bash_patterns<'a>(words: impl IntoIterator<Item = &'a String>) -> String {
    words
        .into_iter()
        .map(|w| match w.strip_suffix('*') {
            Some(head) => format!("'{head}'*"),
            None => format!("'{w}'"),
        })
        .collect::<Vec<_>>()
        .join("|")
}

/// `words` as the patterns of a fish `case`, each quoted (a quoted `*` is
/// still a pattern there, and an unquoted one a file name glob).
fn fish_patterns<'a>(words: impl IntoIterator<Item = &'a String>) -> String {
    words
        .into_iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// clap_complete's bash script, with `_sandboxer_addresses` for the options
/// that take an address or an id, and a wrapper that answers for such
/// positionals.
fn bash(generated: &str, command: &clap::Command) -> anyhow::Result<String> {
    let tables = Tables::of(command);
    let mut script = generated.to_string();
    for takes in Takes::ALL {
        let from = format!("compgen -W \"{}\"", takes.marker());
        let to = format!("compgen -W \"$(_sandboxer_addresses{})\"", takes.only());
        // Not every kind is taken by an option.
        script = script.replace(&from, &to);
    }
    let script = replace_all(
        &script,
        "complete -F _sandboxer -o",
        "complete -F _sandboxer_with_addresses -o",
    )?;
    let registration = "if [[ \"${BASH_VERSINFO[0]}\"";
    let at = script
        .rfind(registration)
        .context("clap_complete's bash script has no registration")?;
    let mut arms = String::new();
    for takes in Takes::ALL {
        let slots = tables.slots_of(takes);
        if !slots.is_empty() {
            arms.push_str(&format!(
                "        {}) only=\"{}\" ;;\n",
                bash_patterns(&slots),
                takes.only().trim_start()
            ));
        }
    }
    let helpers = BASH_HELPERS
        .replace("@VALUE_OPTIONS@", &bash_patterns(&tables.value_options))
        .replace("@SUBCOMMANDS@", &bash_patterns(&tables.subcommands))
        .replace("        @SLOTS@\n", &arms);
    Ok(format!("{}{helpers}\n{}", &script[..at], &script[at..]))
}

const BASH_HELPERS: &str = r#"# Resource addresses and sandbox ids, from the manifest that -f/--file names on
# the line (else ./sandboxes.yaml) and its state: `sandboxer __complete
# addresses`, given this function's arguments. Prints nothing on any error.
_sandboxer_addresses() {
    local i word value args=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        case "$word" in
            -f|--file|--state-dir)
                # bash splits `--file=x` into `--file`, `=`, `x`.
                value="${COMP_WORDS[i+1]}"
                [[ "$value" == "=" ]] && value="${COMP_WORDS[i+2]}"
                [[ "$word" == "-f" ]] && word="--file"
                args+=("$word" "${value/#\~\//$HOME/}")
                ;;
        esac
    done
    sandboxer __complete addresses "${args[@]}" "$@" 2>/dev/null
}

# Succeeds when the word being completed is a positional argument that takes a
# resource address or a sandbox id (`inspect`, `exec`, `state rm`, ...), and
# sets `only` to the arguments that narrow `_sandboxer_addresses` to it.
_sandboxer_address_slot() {
    local i word path="" count=0 skip=0 rest=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        if ((skip)); then
            [[ "$word" == "=" ]] || skip=0
            continue
        fi
        if ((!rest)); then
            case "$word" in
                --) rest=1; continue ;;
                @VALUE_OPTIONS@) skip=1; continue ;;
                -*) continue ;;
            esac
        fi
        if ((count == 0)); then
            case "$path/$word" in
                @SUBCOMMANDS@)
                    path="${path:+$path }$word"
                    continue
                    ;;
            esac
        fi
        count=$((count + 1))
    done
    ((skip)) && return 1
    [[ "${COMP_WORDS[COMP_CWORD]}" == -* ]] && ((!rest)) && return 1
    case "$path:$count" in
        @SLOTS@
        *) return 1 ;;
    esac
    return 0
}

_sandboxer_with_addresses() {
    local only
    if _sandboxer_address_slot; then
        COMPREPLY=($(compgen -W "$(_sandboxer_addresses $only)" -- "${COMP_WORDS[COMP_CWORD]}"))
        return 0
    fi
    _sandboxer "$@"
}
"#;

/// clap_complete's zsh script, with a function of [`ZSH_HELPERS`] as the
/// action of every argument that takes an address or an id (zsh's
/// `_arguments` knows the positions itself).
fn zsh(generated: &str) -> anyhow::Result<String> {
    let mut script = generated.to_string();
    for takes in Takes::ALL {
        let from = format!("({})", takes.marker());
        script = replace_all(&script, &from, &format!("_sandboxer_{}", takes.word()))?;
    }
    let first = "\n_sandboxer() {";
    let at = script
        .find(first)
        .context("clap_complete's zsh script has no _sandboxer")?;
    Ok(format!("{}\n{ZSH_HELPERS}{}", &script[..at], &script[at..]))
}

const ZSH_HELPERS: &str = r#"# Resource addresses and sandbox ids, from the manifest that -f/--file names on
# the line (else ./sandboxes.yaml) and its state: `sandboxer __complete
# addresses`, narrowed to addresses or ids by the first argument. Offers
# nothing on any error.
(( $+functions[_sandboxer_words] )) ||
_sandboxer_words() {
    local kind=$1
    shift
    local -a args found
    local i word
    [[ $kind == both ]] || args=(--only $kind)
    for (( i = 1; i < CURRENT; i++ )); do
        word=$words[i]
        case $word in
            (-f|--file) args+=(--file "${words[i+1]/#\~\//$HOME/}") ;;
            (--state-dir) args+=(--state-dir "${words[i+1]/#\~\//$HOME/}") ;;
            (--file=*|--state-dir=*) args+=("${word%%=*}" "${${word#*=}/#\~\//$HOME/}") ;;
        esac
    done
    found=(${(f)"$(sandboxer __complete addresses "${args[@]}" 2>/dev/null)"})
    compadd "$@" -a found
}
(( $+functions[_sandboxer_addresses] )) ||
_sandboxer_addresses() { _sandboxer_words addresses "$@" }
(( $+functions[_sandboxer_ids] )) ||
_sandboxer_ids() { _sandboxer_words ids "$@" }
(( $+functions[_sandboxer_both] )) ||
_sandboxer_both() { _sandboxer_words both "$@" }
"#;

/// clap_complete's fish script, with `__sandboxer_addresses` for the options
/// that take an address or an id, and for such positionals (which
/// clap_complete leaves out).
fn fish(generated: &str, command: &clap::Command) -> anyhow::Result<String> {
    let tables = Tables::of(command);
    let mut script = generated.to_string();
    for takes in Takes::ALL {
        let from = format!("\"{}\\t''\"", takes.marker());
        let to = format!("\"(__sandboxer_addresses{})\"", takes.only());
        // Not every kind is taken by an option.
        script = script.replace(&from, &to);
    }
    let slots: Vec<String> = tables
        .slots
        .iter()
        .map(|(takes, slot)| format!("{}@{slot}", takes.word()))
        .collect();
    let mut lines = String::new();
    for takes in Takes::ALL {
        lines.push_str(&format!(
            "complete -c sandboxer -n '__sandboxer_address_slot {}' -f -a '(__sandboxer_addresses{})'\n",
            takes.word(),
            takes.only()
        ));
    }
    let helpers = FISH_HELPERS
        .replace("@VALUE_OPTIONS@", &fish_patterns(&tables.value_options))
        .replace("@SUBCOMMANDS@", &fish_patterns(&tables.subcommands))
        .replace("@SLOTS@", &fish_patterns(&slots));
    Ok(format!("{script}\n{helpers}\n{lines}"))
}

const FISH_HELPERS: &str = r#"# Resource addresses and sandbox ids, from the manifest that -f/--file names on
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
                case @VALUE_OPTIONS@
                    set skip 1
                    continue
                case '-*'
                    continue
            end
        end
        if test $count -eq 0
            switch "$path/$word"
                case @SUBCOMMANDS@
                    set path (string trim -- "$path $word")
                    continue
            end
        end
        set count (math $count + 1)
    end
    test $skip -eq 0
    or return 1
    switch "$argv[1]@$path:$count"
        case @SLOTS@
            return 0
    end
    return 1
end
"#;

/// The first argument of the hidden `sandboxer __complete ...`.
pub const COMPLETE: &str = "__complete";

// Parsed apart from the other commands, so that no script, `--help` or manual
// page offers it (clap_complete lists hidden subcommands too).
/// What the completion scripts ask for.
#[derive(Debug, Parser)]
#[command(name = "sandboxer __complete", bin_name = "sandboxer __complete")]
pub struct CompleteCli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: CompleteCommand,
}

#[derive(Debug, Subcommand)]
pub enum CompleteCommand {
    /// The manifest's addresses and those its state records, then the records' ids, one a line.
    Addresses(AddressesOpts),
}

#[derive(Debug, Args)]
pub struct AddressesOpts {
    /// The manifest [default: sandboxes.yaml]
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Only the addresses, or only the ids
    #[arg(long, value_enum)]
    pub only: Option<Only>,
}

/// `--only`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Only {
    /// `sandbox.app`, `image.build`.
    Addresses,
    /// The records' ids.
    Ids,
}

/// How long the completion of a word waits for a State Hub.
const HUB_WAIT: Duration = Duration::from_secs(2);

/// Runs `sandboxer __complete ...` (`args`: what follows `sandboxer`): prints
/// what it found, or nothing at all when anything fails (a shell is completing
/// a word; an error message would land in the middle of the operator's line),
/// and exits 0. Only a command line no script makes is refused, as usual.
pub fn complete(args: impl IntoIterator<Item = std::ffi::OsString>) -> ExitCode {
    let cli = match CompleteCli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(usage) => {
            let _ = usage.print();
            return ExitCode::from(if usage.use_stderr() { 1 } else { 0 });
        }
    };
    let CompleteCommand::Addresses(opts) = &cli.command;
    if let Some(words) = addresses(opts, &cli.global) {
        let mut text = String::new();
        for word in words {
            text.push_str(&word);
            text.push('\n');
        }
        // A closed pipe or a full disk: the shell gets nothing, which is all it can get.
        let _ = super::output::print_data(&text);
    }
    ExitCode::SUCCESS
}

/// The addresses the manifest declares and those its state records for the
/// manifest's project, then the records' ids (or only one of the two);
/// `None` when any of it cannot be read. Reads the manifest and the state,
/// and writes nothing.
fn addresses(opts: &AddressesOpts, global: &GlobalOpts) -> Option<Vec<String>> {
    let file = opts.file.clone().unwrap_or_else(|| PathBuf::from("sandboxes.yaml"));
    if !file.is_file() {
        return None;
    }
    let loaded = sandboxer::manifest::load(&file).ok()?;
    let settings = Settings::from_opts(global, Colors::default()).ok()?;
    let manifest = &loaded.manifest;
    let store = super::store::open(&settings, &settings.state_dir_for(&loaded.dir), manifest.hub.as_ref()).ok()?;
    let runtime = super::engine::runtime().ok()?;
    let snapshot = runtime
        .block_on(async { tokio::time::timeout(HUB_WAIT, store.load(&manifest.project)).await })
        .ok()?
        .ok()?;
    let addresses: BTreeSet<String> = manifest
        .images
        .keys()
        .map(|name| Address::image(name).to_string())
        .chain(manifest.sandboxes.keys().map(|name| Address::sandbox(name).to_string()))
        .chain(snapshot.records.keys().map(Address::to_string))
        .collect();
    let ids: BTreeSet<String> = snapshot.records.values().map(|r| r.id.clone()).collect();
    Some(match opts.only {
        Some(Only::Addresses) => addresses.into_iter().collect(),
        Some(Only::Ids) => ids.into_iter().collect(),
        None => addresses.into_iter().chain(ids).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arguments of `command` and its subcommands that carry a marker, as
    /// `path:id:marker`.
    fn marked(command: &clap::Command, path: &str, found: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let values = arg.get_possible_values();
            if let [value] = values.as_slice()
                && let Some(takes) = Takes::ALL.iter().find(|t| t.marker() == value.get_name())
            {
                found.push(format!("{path}:{}:{}", arg.get_id(), takes.marker()));
            }
        }
        for sub in command.get_subcommands() {
            marked(sub, &child_path(path, sub.get_name()), found);
        }
    }

    #[test]
    fn every_argument_that_takes_an_address_exists_and_is_marked() {
        let mut found = Vec::new();
        marked(&marked_command(true), "", &mut found);
        found.sort();
        let mut expected: Vec<String> = ADDRESS_ARGS
            .iter()
            .map(|(p, id, takes)| format!("{}:{id}:{}", p.join(" "), takes.marker()))
            .collect();
        expected.sort();
        assert_eq!(found, expected);
    }

    #[test]
    fn no_option_takes_a_value_in_one_place_and_none_in_another() {
        // The word-counting functions skip the word after each value option,
        // wherever it is: a flag of the same name elsewhere would shift the count.
        fn flags(command: &clap::Command, found: &mut Vec<String>) {
            for arg in command.get_arguments().filter(|a| !a.is_positional()) {
                if !arg.get_num_args().is_some_and(|n| n.takes_values()) {
                    found.extend(spellings(arg));
                }
            }
            for sub in command.get_subcommands() {
                flags(sub, found);
            }
        }
        let command = marked_command(false);
        let value_options = Tables::of(&command).value_options;
        let mut found = Vec::new();
        flags(&command, &mut found);
        let both: Vec<&String> = found.iter().filter(|f| value_options.contains(*f)).collect();
        assert!(both.is_empty(), "flags somewhere that take a value elsewhere: {both:?}");
    }

    #[test]
    fn the_slots_are_the_positionals_that_take_an_address_or_an_id() {
        let slots: Vec<String> = Tables::of(&marked_command(false))
            .slots
            .iter()
            .map(|(takes, slot)| format!("{}@{slot}", takes.word()))
            .collect();
        assert_eq!(
            slots,
            [
                "ids@destroy:0",
                "both@inspect:0",
                "both@exec:0",
                "both@ssh:0",
                "addresses@state show:0",
                "addresses@state rm:*",
                "addresses@state mv:0",
                "addresses@state mv:1",
            ]
        );
    }
}
