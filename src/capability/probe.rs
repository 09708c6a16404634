//! Probing a VM: one shell script, run in the session that lists its
//! workspaces, that prints its facts, the first line each probe prints, the
//! capabilities files and the free space under each workspace root, as tagged
//! lines; and reading those lines back into a catalog entry.
//!
//! Probes run side by side, each under `timeout` in a shell of its own after
//! its profile's prelude, with stdin closed; one that hangs is killed alone and
//! recorded as timed out. The output is the VM's word: names are checked,
//! values cut and stripped of control characters.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::{Capability, Status, VmCapabilities, is_capability_name};
use crate::remote::quote;

/// How long one probe may run unless its profile says otherwise.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest value kept of a probe's first line or a file's value.
const VALUE_MAX: usize = 256;

/// The largest capabilities file read.
const FILE_MAX: usize = 64 * 1024;

/// The most values taken from one capabilities file (the stores take 1,000
/// values per VM in all).
const FILE_VALUES_MAX: usize = 500;

/// What to probe on one VM.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeSpec {
    /// Probes, grouped by the shell prelude they run after.
    pub groups: Vec<ProbeGroup>,
    /// Capabilities files to read (absolute paths on the VM).
    pub files: BTreeSet<String>,
    /// Workspace roots whose free space is measured.
    pub roots: BTreeSet<String>,
    /// How long each probe may run.
    pub timeout: Duration,
}

/// Probes that run after one prelude.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeGroup {
    /// The profile's `shell_prelude`.
    pub prelude: Option<String>,
    /// Capability name -> command.
    pub commands: BTreeMap<String, String>,
}

impl ProbeSpec {
    /// Adds a profile's probes (the first command given for a name wins).
    pub fn add(&mut self, prelude: Option<&str>, commands: &BTreeMap<String, String>) {
        let known: BTreeSet<String> = self.groups.iter().flat_map(|g| g.commands.keys().cloned()).collect();
        let fresh: BTreeMap<String, String> = commands
            .iter()
            .filter(|(name, _)| !known.contains(*name))
            .map(|(n, c)| (n.clone(), c.clone()))
            .collect();
        if fresh.is_empty() {
            return;
        }
        match self.groups.iter_mut().find(|g| g.prelude.as_deref() == prelude) {
            Some(group) => group.commands.extend(fresh),
            None => self.groups.push(ProbeGroup {
                prelude: prelude.map(str::to_string),
                commands: fresh,
            }),
        }
    }

    /// The script: facts, free space, files, then the probes side by side;
    /// then `@@probed`.
    ///
    /// Every line it prints is one line whatever the VM holds: values are cut
    /// at their first newline, files have theirs turned into spaces. Nothing
    /// it reads is run (`os-release` is parsed, not sourced), and nothing it
    /// waits for can outlast its bound: probes write to files, not pipes, so a
    /// process a probe leaves behind holds nothing open that the script reads;
    /// `df` and the files are read under `timeout` too.
    pub fn script(&self) -> String {
        let seconds = self.timeout.as_secs().max(1);
        let mut s = String::new();
        // A subshell: nothing here changes the listing's shell, and its own
        // failures end only itself. No globbing: VM output is split into words.
        s.push_str("( set -f; nl='\n'\n");
        // Busybox's timeout before 1.30 has no -k.
        s.push_str(
            "T=; if command -v timeout >/dev/null 2>&1; then \
             if timeout -k 1 5 true >/dev/null 2>&1; then T='timeout -k 2'; else T=timeout; fi; fi\n",
        );
        s.push_str("line() { v=$3; v=${v%%\"$nl\"*}; printf '%s\\t%s\\t%.256s\\n' \"$1\" \"$2\" \"$v\"; }\n");
        s.push_str("line @@fact arch \"$(uname -m 2>/dev/null)\"\n");
        s.push_str("line @@fact cores \"$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null)\"\n");
        s.push_str(
            "m=; if [ -r /proc/meminfo ]; then while read -r k v u; do if [ \"$k\" = MemTotal: ]; then m=$v; fi; done </proc/meminfo; fi; \
             line @@fact memory_kib \"$m\"\n",
        );
        s.push_str(
            "f=/etc/os-release; [ -f \"$f\" ] || f=/usr/lib/os-release; id=; ver=; \
             if [ -f \"$f\" ] && [ -r \"$f\" ]; then while IFS='=' read -r k v; do \
             v=${v#\\\"}; v=${v%\\\"}; v=${v#\\'}; v=${v%\\'}; \
             case $k in ID) id=$v ;; VERSION_ID) ver=$v ;; esac; done <\"$f\"; fi; \
             line @@fact os \"$id\"; line @@fact os_version \"$ver\"\n",
        );
        for root in &self.roots {
            // The root may not be there yet: the nearest folder above it says
            // which file system it will be on. The available column is the
            // one before the use percentage, counted whatever the device's name.
            s.push_str(&format!(
                "r={}; d=$r; while [ ! -d \"$d\" ] && [ \"$d\" != / ]; do d=${{d%/*}}; [ -n \"$d\" ] || d=/; done; \
                 line @@disk \"$r\" \"$(${{T:+$T 5}} df -Pk -- \"$d\" 2>/dev/null | \
                 {{ read -r h; read -r l; p=; for w in $l; do case $w in *%) echo \"$p\"; break ;; esac; p=$w; done; }})\"\n",
                quote(root)
            ));
        }
        for file in &self.files {
            s.push_str(&format!(
                "f={}; if [ -L \"$f\" ]; then printf '@@linkfile\\t%s\\n' \"$f\"; \
                 elif [ -f \"$f\" ] && [ -r \"$f\" ]; then printf '@@file\\t%s\\t' \"$f\"; \
                 ${{T:+$T 5}} head -c {FILE_MAX} -- \"$f\" 2>/dev/null | tr '\\n\\t\\r' '   '; echo; \
                 else printf '@@nofile\\t%s\\n' \"$f\"; fi\n",
                quote(file)
            ));
        }
        let commands: Vec<(&Option<String>, &String, &String)> = self
            .groups
            .iter()
            .flat_map(|g| g.commands.iter().map(move |(n, c)| (&g.prelude, n, c)))
            .collect();
        if !commands.is_empty() {
            // Each probe's output goes to a file of its own: the script never
            // waits on a pipe that a process the probe started keeps open.
            s.push_str(&format!(
                "t=; [ -z \"$T\" ] || t=$(mktemp -d 2>/dev/null) || t=\n\
                 if [ -n \"$t\" ]; then\n\
                 probe() {{ $T {seconds} sh -c \"$3\" >\"$t/$1\" 2>/dev/null </dev/null; s=$?; \
                 v=$(head -c 1024 \"$t/$1\" 2>/dev/null); v=${{v%%\"$nl\"*}}; \
                 printf '@@probe\\t%s\\t%s\\t%.256s\\n' \"$2\" \"$s\" \"$v\"; }}\n"
            ));
            for (i, (prelude, name, command)) in commands.iter().enumerate() {
                let body = match prelude {
                    Some(prelude) => format!("{prelude}\n{command}"),
                    None => (*command).clone(),
                };
                s.push_str(&format!("probe {i} {} {} &\n", quote(name), quote(&body)));
            }
            s.push_str("wait; rm -rf -- \"$t\"\nelse\n");
            s.push_str("why=notimeout; [ -z \"$T\" ] || why=notemp\n");
            for (_, name, _) in &commands {
                s.push_str(&format!("printf '@@probe\\t%s\\t%s\\t\\n' {} \"$why\"\n", quote(name)));
            }
            s.push_str("fi\n");
        }
        s.push_str("echo @@probed )\n");
        s
    }
}

/// The probe lines of a session's output, as printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeReport {
    /// `@@fact` lines: name -> value.
    pub facts: BTreeMap<String, String>,
    /// `@@probe` lines: name -> (exit status word, first line).
    pub probes: BTreeMap<String, (String, String)>,
    /// `@@disk` lines: root -> free KiB.
    pub disk: BTreeMap<String, String>,
    /// `@@file` lines: path -> text; `@@nofile`: path -> none.
    pub files: BTreeMap<String, Option<String>>,
    /// `@@linkfile` lines: capabilities files that are symbolic links, not read.
    pub links: BTreeSet<String>,
    /// Whether the script ran to its end.
    pub complete: bool,
}

impl ProbeReport {
    /// Picks the probe lines out of `output` (other lines are left to their reader).
    pub fn parse(output: &str) -> ProbeReport {
        let mut report = ProbeReport::default();
        for line in output.lines() {
            let mut fields = line.splitn(4, '\t');
            match (fields.next(), fields.next(), fields.next(), fields.next()) {
                (Some("@@fact"), Some(name), Some(value), None) => {
                    report.facts.insert(name.to_string(), clean(value));
                }
                (Some("@@probe"), Some(name), Some(status), value) => {
                    report
                        .probes
                        .insert(name.to_string(), (status.to_string(), clean(value.unwrap_or(""))));
                }
                (Some("@@disk"), Some(root), Some(kib), None) => {
                    report.disk.insert(root.to_string(), clean(kib));
                }
                (Some("@@file"), Some(path), text, None) => {
                    report
                        .files
                        .insert(path.to_string(), Some(text.unwrap_or("").to_string()));
                }
                (Some("@@nofile"), Some(path), None, None) => {
                    report.files.insert(path.to_string(), None);
                }
                (Some("@@linkfile"), Some(path), None, None) => {
                    report.links.insert(path.to_string());
                }
                (Some("@@probed"), None, None, None) => report.complete = true,
                _ => {}
            }
        }
        report
    }

    /// The catalog entry of `vm` this report gives, observed at `now`: facts,
    /// then each file's values, then the probes (a probe's value is the one
    /// kept when a file names it too).
    pub fn entry(&self, vm: &str, spec: &ProbeSpec, now: &str) -> VmCapabilities {
        let mut entry = VmCapabilities {
            name: vm.to_string(),
            observed_at: now.to_string(),
            capabilities: BTreeMap::new(),
            free_disk: BTreeMap::new(),
            files: BTreeMap::new(),
        };
        let fact = |value: Option<&String>| match value.filter(|v| !v.is_empty()) {
            Some(v) => Capability::present(v.clone(), "fact", now),
            None => Capability::missing(Status::Failed, "not reported", "fact", now),
        };
        for name in ["os", "os_version", "arch", "cores"] {
            entry.capabilities.insert(name.to_string(), fact(self.facts.get(name)));
        }
        let memory = self
            .facts
            .get("memory_kib")
            .and_then(|k| k.parse::<u64>().ok())
            .and_then(|kib| kib.checked_mul(1024))
            .map(|bytes| bytes.to_string());
        entry.capabilities.insert("memory".to_string(), fact(memory.as_ref()));
        for root in &spec.roots {
            let bytes = self
                .disk
                .get(root)
                .and_then(|k| k.parse::<u64>().ok())
                .and_then(|kib| kib.checked_mul(1024))
                .map(|bytes| bytes.to_string());
            entry.free_disk.insert(root.clone(), fact(bytes.as_ref()));
        }
        for path in &spec.files {
            let outcome = match self.files.get(path) {
                None if self.links.contains(path) => "a symbolic link: not read".to_string(),
                None => "not read".to_string(),
                Some(None) => "missing".to_string(),
                Some(Some(text)) => match file_values(text) {
                    Ok(values) => {
                        let source = format!("file:{path}");
                        for (name, value) in values {
                            if super::FACTS.contains(&name.as_str()) {
                                continue; // facts are the VM's own word
                            }
                            let capability = match value {
                                Some(v) => Capability::present(v, &source, now),
                                None => Capability::missing(Status::Absent, "null in the file", &source, now),
                            };
                            entry.capabilities.entry(name).or_insert(capability);
                        }
                        "read".to_string()
                    }
                    Err(why) => why,
                },
            };
            entry.files.insert(path.clone(), outcome);
        }
        let seconds = spec.timeout.as_secs().max(1);
        for name in spec.groups.iter().flat_map(|g| g.commands.keys()) {
            let capability = match self.probes.get(name) {
                None => Capability::missing(Status::Failed, "not reported", "probe", now),
                Some((status, value)) => match status.as_str() {
                    "0" if !value.trim().is_empty() => Capability::present(value.trim(), "probe", now),
                    "0" => Capability::missing(Status::Failed, "no output", "probe", now),
                    // GNU timeout says 124; busybox's execs the probe, which dies of TERM.
                    "124" | "137" | "143" => {
                        Capability::missing(Status::TimedOut, format!("after {seconds}s"), "probe", now)
                    }
                    "127" => Capability::missing(Status::Absent, "command not found", "probe", now),
                    "notimeout" => Capability::missing(Status::Failed, "the VM has no `timeout` command", "probe", now),
                    "notemp" => Capability::missing(
                        Status::Failed,
                        "no temporary folder on the VM (`mktemp -d` failed)",
                        "probe",
                        now,
                    ),
                    other => Capability::missing(Status::Failed, format!("exit {other}"), "probe", now),
                },
            };
            entry.capabilities.insert(name.clone(), capability);
        }
        entry
    }
}

/// A capabilities file: a JSON object of names to strings, numbers or null.
fn file_values(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {}", clean(&e.to_string())))?;
    let serde_json::Value::Object(map) = value else {
        return Err("not a JSON object of names to values".into());
    };
    let mut values = Vec::new();
    for (name, value) in map {
        // An entry the stores accept: at most FILE_VALUES_MAX from a file.
        if !is_capability_name(&name) || values.len() >= FILE_VALUES_MAX {
            continue;
        }
        let value = match value {
            serde_json::Value::String(s) => Some(clean(&s)),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Null => None,
            _ => continue,
        };
        values.push((name, value));
    }
    Ok(values)
}

/// A value from the VM, fit to show: no control characters, at most
/// [`VALUE_MAX`] characters.
fn clean(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .take(VALUE_MAX)
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ProbeSpec {
        let mut spec = ProbeSpec {
            timeout: Duration::from_secs(3),
            ..ProbeSpec::default()
        };
        spec.add(
            Some(". ~/.env"),
            &[
                ("ghc".to_string(), "ghc --numeric-version".to_string()),
                ("cabal".to_string(), "cabal --numeric-version".to_string()),
            ]
            .into(),
        );
        spec.roots.insert("/build".into());
        spec.files.insert("/etc/caps.json".into());
        spec
    }

    #[test]
    fn the_script_runs_every_probe_after_its_prelude_and_ends_with_a_line_of_its_own() {
        let script = spec().script();
        assert!(
            script.contains("probe 1 ghc '. ~/.env\nghc --numeric-version' &"),
            "{script}"
        );
        assert!(script.contains("$T 3 sh -c"), "{script}");
        assert!(script.trim_end().ends_with("echo @@probed )"), "{script}");
    }

    #[test]
    fn a_report_becomes_an_entry_with_each_value_and_its_source() {
        let output = "@@fact\tarch\tx86_64\n@@fact\tcores\t8\n@@fact\tmemory_kib\t1024\n@@fact\tos\tdebian\n\
                      @@fact\tos_version\t12\n@@disk\t/build\t2048\n\
                      @@file\t/etc/caps.json\t{\"docker\": \"24.0.7\", \"ghc\": \"1.0\", \"cores\": 99, \"BAD name\": 1}\n\
                      @@probe\tghc\t0\t9.6.4\n@@probe\tcabal\t127\t\n@@probed\n";
        let report = ProbeReport::parse(output);
        assert!(report.complete);
        let entry = report.entry("vm1", &spec(), "2026-01-01T00:00:00Z");
        let value = |n: &str| entry.capabilities[n].value.clone();
        assert_eq!(value("arch").as_deref(), Some("x86_64"));
        assert_eq!(value("memory").as_deref(), Some("1048576"));
        assert_eq!(value("ghc").as_deref(), Some("9.6.4"), "the probe wins over the file");
        assert_eq!(entry.capabilities["ghc"].source, "probe");
        assert_eq!(value("cores").as_deref(), Some("8"), "a file never overrides a fact");
        assert_eq!(entry.capabilities["docker"].source, "file:/etc/caps.json");
        assert_eq!(entry.capabilities["cabal"].status, Status::Absent);
        assert!(!entry.capabilities.contains_key("BAD name"));
        assert_eq!(entry.free_disk["/build"].value.as_deref(), Some("2097152"));
        assert_eq!(entry.files["/etc/caps.json"], "read");
    }

    #[test]
    fn a_probe_that_timed_out_or_failed_says_so() {
        let output = "@@probe\tghc\t124\t\n@@probe\tcabal\t3\toops\n@@nofile\t/etc/caps.json\n@@probed\n";
        let entry = ProbeReport::parse(output).entry("vm1", &spec(), "t");
        assert_eq!(entry.capabilities["ghc"].status, Status::TimedOut);
        assert_eq!(entry.capabilities["ghc"].detail.as_deref(), Some("after 3s"));
        assert_eq!(entry.capabilities["cabal"].status, Status::Failed);
        assert_eq!(entry.capabilities["cabal"].detail.as_deref(), Some("exit 3"));
        assert_eq!(entry.files["/etc/caps.json"], "missing");
        assert_eq!(entry.capabilities["os"].status, Status::Failed);
    }

    #[test]
    fn values_from_the_vm_lose_control_characters_and_length() {
        let long = format!("9.6.4\u{1b}[31m{}", "x".repeat(1000));
        let output = format!("@@probe\tghc\t0\t{long}\n");
        let entry = ProbeReport::parse(&output).entry("vm1", &spec(), "t");
        let value = entry.capabilities["ghc"].value.clone().expect("value");
        assert!(value.starts_with("9.6.4[31m"));
        assert!(value.chars().count() <= VALUE_MAX);
    }

    /// Runs the script with this machine's `sh`, as a VM would; fails if it
    /// has not ended within `bound`.
    fn run_here(script: &str, bound: Duration) -> String {
        use std::io::Read;
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdout(std::process::Stdio::piped())
            .stdin(std::process::Stdio::null())
            .spawn()
            .expect("sh");
        let started = std::time::Instant::now();
        loop {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            assert!(
                started.elapsed() < bound,
                "the probe script did not end within {bound:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read");
        out
    }

    #[test]
    fn probes_that_hang_or_leave_a_process_holding_their_output_end_within_their_bound() {
        let mut spec = ProbeSpec {
            timeout: Duration::from_secs(1),
            ..ProbeSpec::default()
        };
        spec.add(
            None,
            &[
                ("fast".to_string(), "echo v1.2.3; echo second line".to_string()),
                ("missing".to_string(), "no-such-program-sbx --version".to_string()),
                ("hangs".to_string(), "sleep 30".to_string()),
                ("daemon".to_string(), "sleep 30 & echo 2.0".to_string()),
                ("escapes".to_string(), "setsid sh -c 'sleep 30' & sleep 30".to_string()),
            ]
            .into(),
        );
        spec.roots.insert("/nonexistent-root-sbx/build".into());
        let out = run_here(&spec.script(), Duration::from_secs(20));
        let report = ProbeReport::parse(&out);
        assert!(report.complete, "{out}");
        let entry = report.entry("here", &spec, "t");
        let c = |n: &str| entry.capabilities[n].clone();
        assert_eq!(c("fast").value.as_deref(), Some("v1.2.3"), "{out}");
        assert_eq!(c("missing").status, Status::Absent, "{out}");
        assert_eq!(c("hangs").status, Status::TimedOut, "{out}");
        assert_eq!(c("daemon").value.as_deref(), Some("2.0"), "{out}");
        assert_eq!(c("escapes").status, Status::TimedOut, "{out}");
        assert_eq!(c("cores").status, Status::Present, "{out}");
        assert_eq!(c("memory").status, Status::Present, "{out}");
        assert_eq!(
            entry.free_disk["/nonexistent-root-sbx/build"].status,
            Status::Present,
            "measured on the nearest folder that exists\n{out}"
        );
        // Every line is one the reader knows.
        assert!(out.lines().all(|l| l.starts_with("@@")), "{out}");
    }
}
