//! Packer's `-machine-readable` output: `timestamp,target,type,data...` lines, with
//! commas in data written `%!(PACKER_COMMA)` and newlines a literal `\n`.

/// How loud a UI line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UiLevel {
    /// `say`: a step or a summary.
    Say,
    /// `message`: output of a provisioner.
    Message,
    /// `error`.
    Error,
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackerEvent {
    /// A UI line.
    Ui {
        /// say, message or error.
        level: UiLevel,
        /// The text, unescaped.
        text: String,
    },
    /// `TARGET,artifact-count,N`.
    ArtifactCount {
        /// The build.
        target: String,
        /// How many artifacts.
        count: usize,
    },
    /// `TARGET,artifact,I,KEY,VALUE...`.
    Artifact {
        /// The build.
        target: String,
        /// Artifact index.
        index: usize,
        /// `builder-id`, `id`, `string`, `files-count`, `file`, `end`.
        key: String,
        /// The rest, unescaped (for `file`: `N,path`).
        value: Vec<String>,
    },
    /// `TARGET,error,REASON`: a build failed.
    BuildError {
        /// The build.
        target: String,
        /// Why.
        reason: String,
    },
    /// `,error-count,N`.
    ErrorCount(usize),
    /// `,version,X`.
    Version(String),
    /// Anything else.
    Other {
        /// The target field.
        target: String,
        /// The type field.
        kind: String,
        /// The data fields.
        data: Vec<String>,
    },
}

/// Undoes Packer's escapes in one data field.
pub fn unescape(field: &str) -> String {
    field
        .replace("%!(PACKER_COMMA)", ",")
        .replace("\\n", "\n")
        .replace("\\r", "\r")
}

/// Parses one line; `None` for lines that are not machine-readable.
pub fn parse_line(line: &str) -> Option<PackerEvent> {
    let mut fields = line.trim_end_matches(['\r', '\n']).split(',');
    let timestamp = fields.next()?;
    if timestamp.is_empty() || !timestamp.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let target = fields.next()?.to_string();
    let kind = fields.next()?.to_string();
    let data: Vec<String> = fields.map(unescape).collect();
    let event = match (kind.as_str(), data.as_slice()) {
        ("ui", [level, text @ ..]) => {
            let level = match level.as_str() {
                "say" => UiLevel::Say,
                "message" => UiLevel::Message,
                "error" => UiLevel::Error,
                _ => return Some(PackerEvent::Other { target, kind, data }),
            };
            PackerEvent::Ui {
                level,
                text: text.join(","),
            }
        }
        ("artifact-count", [n]) => PackerEvent::ArtifactCount {
            target,
            count: n.parse().unwrap_or(0),
        },
        ("artifact", [index, key, value @ ..]) => PackerEvent::Artifact {
            target,
            index: index.parse().unwrap_or(0),
            key: key.clone(),
            value: value.to_vec(),
        },
        ("error", [reason, ..]) if !target.is_empty() => PackerEvent::BuildError {
            target,
            reason: reason.clone(),
        },
        ("error-count", [n]) => PackerEvent::ErrorCount(n.parse().unwrap_or(0)),
        ("version", [v]) => PackerEvent::Version(v.clone()),
        _ => PackerEvent::Other { target, kind, data },
    };
    Some(event)
}

/// The step a UI `say` line starts, if it starts one: `==> null.x: Running ...`.
pub fn step_of(text: &str) -> Option<&str> {
    let text = text.trim_start_matches('\n');
    text.strip_prefix("==> ").map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("testdata/machine-readable-sample.txt");

    #[test]
    fn parses_every_line_of_the_recorded_sample() {
        let lines: Vec<&str> = SAMPLE
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert!(lines.len() > 40);
        for line in lines {
            assert!(parse_line(line).is_some(), "not parsed: {line}");
        }
    }

    #[test]
    fn unescapes_commas_and_newlines() {
        let e = parse_line(
            "1795940678,,ui,message,    null.local: building foo with 2 cpus%!(PACKER_COMMA) a%!(PACKER_COMMA) b",
        );
        assert_eq!(
            e,
            Some(PackerEvent::Ui {
                level: UiLevel::Message,
                text: "    null.local: building foo with 2 cpus, a, b".into()
            })
        );
        let e = parse_line("1795940679,,ui,error,Error: Unset variable \"vm_name\"\\n\\nA used variable must be set");
        let Some(PackerEvent::Ui {
            level: UiLevel::Error,
            text,
        }) = e
        else {
            panic!("{e:?}")
        };
        assert_eq!(text, "Error: Unset variable \"vm_name\"\n\nA used variable must be set");
    }

    #[test]
    fn artifacts_errors_and_counts() {
        assert_eq!(
            parse_line("1795940678,null.local,artifact,0,id,Null"),
            Some(PackerEvent::Artifact {
                target: "null.local".into(),
                index: 0,
                key: "id".into(),
                value: vec!["Null".into()]
            })
        );
        assert_eq!(
            parse_line("1795940678,null.local,artifact,0,file,0,/out/disk.qcow2"),
            Some(PackerEvent::Artifact {
                target: "null.local".into(),
                index: 0,
                key: "file".into(),
                value: vec!["0".into(), "/out/disk.qcow2".into()]
            })
        );
        assert_eq!(
            parse_line(
                "1795940678,null.local,error,Script exited with non-zero exit status: 3.Allowed exit codes are: [0]"
            ),
            Some(PackerEvent::BuildError {
                target: "null.local".into(),
                reason: "Script exited with non-zero exit status: 3.Allowed exit codes are: [0]".into()
            })
        );
        assert_eq!(
            parse_line("1795940678,,error-count,1"),
            Some(PackerEvent::ErrorCount(1))
        );
        assert_eq!(
            parse_line("1795940678,,version,1.6.6"),
            Some(PackerEvent::Version("1.6.6".into()))
        );
        assert_eq!(parse_line("not machine readable"), None);
    }

    #[test]
    fn escaped_commas_and_newlines_together_in_a_recorded_hcl_error() {
        // Recorded from Packer 1.6.6: a template with an unknown argument.
        let line = "1795947958,,ui,error,Error: Failed preparing provisioner-block \"shell-local\" \"\"\\n\\n  \
                    on /t/build.pkr.hcl line 10:\\n  (source code not available)\\n\\n/t/build.pkr.hcl:11%!(PACKER_COMMA)5-8: \
                    Unsupported argument; An argument named \"env\"\\nis not expected here.\\n\\n";
        let Some(PackerEvent::Ui {
            level: UiLevel::Error,
            text,
        }) = parse_line(line)
        else {
            panic!("{:?}", parse_line(line))
        };
        assert!(text.contains("/t/build.pkr.hcl:11,5-8: Unsupported argument"), "{text}");
        assert!(text.contains("\"env\"\nis not expected here.\n\n"), "{text}");
        assert!(!text.contains("PACKER_COMMA") && !text.contains("\\n"), "{text}");
    }

    #[test]
    fn an_artifact_file_path_with_a_comma_stays_one_value() {
        assert_eq!(
            parse_line("1795940678,qemu.vm,artifact,0,file,1,/out/disk%!(PACKER_COMMA) v2.qcow2"),
            Some(PackerEvent::Artifact {
                target: "qemu.vm".into(),
                index: 0,
                key: "file".into(),
                value: vec!["1".into(), "/out/disk, v2.qcow2".into()]
            })
        );
    }

    #[test]
    fn carriage_returns_line_ends_and_odd_lines() {
        // A Windows-style line end is not part of the text; an escaped \r is.
        assert_eq!(
            parse_line("1795940678,,ui,message,    null.x: 50%\\r100%\r\n"),
            Some(PackerEvent::Ui {
                level: UiLevel::Message,
                text: "    null.x: 50%\r100%".into()
            })
        );
        // An empty message is still a UI line.
        assert_eq!(
            parse_line("1795940678,,ui,say,"),
            Some(PackerEvent::Ui {
                level: UiLevel::Say,
                text: String::new()
            })
        );
        // An unknown UI level is kept, not dropped.
        assert!(matches!(
            parse_line("1795940678,,ui,shout,hello"),
            Some(PackerEvent::Other { ref kind, .. }) if kind == "ui"
        ));
        // Lines without a numeric timestamp are plain text (e.g. a panic on stdout).
        assert_eq!(parse_line(""), None);
        assert_eq!(parse_line(",,ui,say,x"), None);
        assert_eq!(parse_line("12a,,ui,say,x"), None);
        assert_eq!(parse_line("1795940678"), None);
        // A build error without a target is not a build's error.
        assert!(matches!(
            parse_line("1795940678,,error,something"),
            Some(PackerEvent::Other { .. })
        ));
    }

    #[test]
    fn steps_are_the_arrow_lines() {
        assert_eq!(
            step_of("==> null.local: Running local shell script: /tmp/x"),
            Some("null.local: Running local shell script: /tmp/x")
        );
        assert_eq!(
            step_of("\n==> Wait completed after 18 milliseconds"),
            Some("Wait completed after 18 milliseconds")
        );
        assert_eq!(step_of("    null.local: output"), None);
    }
}
