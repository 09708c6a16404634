//! Packer for the tests: the real `packer` binary with the null builder, so a
//! build needs no cloud, no VM and no network.
//!
//! Every template here declares `variable "vm_name"` (the driver always passes
//! `-var vm_name=...`), has one `source "null" "x" { communicator = "none" }` and
//! does its work with `shell-local` provisioners or a post-processor on this
//! machine. `@OUT@` in a template stands for the test's output folder; see
//! [`PackerDirs::template`].
//!
//! [`PackerDirs`] lays out the folders a test's builds use and gives a command
//! line the environment Packer needs in tests: `CHECKPOINT_DISABLE=1` (Packer
//! never looks for updates, nothing leaves loopback) and a `TMPDIR` of the
//! test's own, which marks every process of its builds.

#![allow(dead_code)] // each test file uses its own part of this module

use std::fs;
use std::path::{Path, PathBuf};

use super::Sandboxer;

/// The folders of a work folder W that Packer builds use: `W/tmp` (Packer's
/// `TMPDIR`), `W/out` (where templates write, as an absolute path: a relative one
/// would resolve against Packer's working folder) and `W/state` (`--state-dir`).
pub struct PackerDirs {
    root: PathBuf,
}

impl PackerDirs {
    /// Makes `W/tmp`, `W/out` and `W/state` below `root` (W).
    pub fn make(root: &Path) -> PackerDirs {
        for dir in ["tmp", "out", "state"] {
            fs::create_dir_all(root.join(dir)).expect("create a folder of the work folder");
        }
        PackerDirs {
            root: root.to_path_buf(),
        }
    }

    /// `W/out`, where templates write (`@OUT@`).
    pub fn out(&self) -> PathBuf {
        self.root.join("out")
    }

    /// `W/tmp`, Packer's `TMPDIR`: every process of the test's builds has it in its environment.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// `W/state`, given with `--state-dir`.
    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }

    /// `command` with `CHECKPOINT_DISABLE=1`, `TMPDIR=W/tmp` and `--state-dir W/state`.
    pub fn command(&self, command: Sandboxer) -> Sandboxer {
        command
            .env("CHECKPOINT_DISABLE", "1")
            .env("TMPDIR", self.tmp())
            .arg("--state-dir")
            .arg(self.state())
    }

    /// Writes the template folder `W/tpl/<name>/` with one `build.pkr.hcl`, `@OUT@`
    /// replaced by `W/out`; returns the folder.
    pub fn template(&self, name: &str, text: &str) -> PathBuf {
        let text = text.replace("@OUT@", &self.out().display().to_string());
        write_template(&self.root, name, &text)
    }
}

/// Writes `text` as it is to `dir/tpl/<name>/build.pkr.hcl`; returns the folder
/// `dir/tpl/<name>` (a manifest names it `./tpl/<name>`).
pub fn write_template(dir: &Path, name: &str, text: &str) -> PathBuf {
    let folder = dir.join("tpl").join(name);
    fs::create_dir_all(&folder).unwrap_or_else(|e| panic!("create {}: {e}", folder.display()));
    let file = folder.join("build.pkr.hcl");
    fs::write(&file, text).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
    folder
}

/// A manifest of `project`: image `img` from `./tpl/<template>` for VM `vm_name`
/// with `extra_inputs` (YAML lines at the inputs' indentation), plus `sandboxes`
/// (YAML entries; no `sandboxes:` key when empty).
pub fn image_manifest(project: &str, template: &str, vm_name: &str, extra_inputs: &str, sandboxes: &str) -> String {
    image_manifest_with(project, "", template, vm_name, extra_inputs, sandboxes)
}

/// [`image_manifest`] with top-level lines `top` (e.g. `hub: ...`) after `project:`.
pub fn image_manifest_with(
    project: &str,
    top: &str,
    template: &str,
    vm_name: &str,
    extra_inputs: &str,
    sandboxes: &str,
) -> String {
    let mut text = format!(
        "version: 1\nproject: {project}\n{top}images:\n  img:\n    profile: profile.vm-packer-build\n    inputs:\n      \
         packer_template: ./tpl/{template}\n      vm_name: {vm_name}\n{extra_inputs}"
    );
    if !sandboxes.is_empty() {
        text.push_str("sandboxes:\n");
        text.push_str(sandboxes);
    }
    text
}

// ---------------------------------------------------------------------------
// Templates

/// Declares a string variable `x` and builds nothing: enough for `validate`.
pub const ONE_VARIABLE: &str = "variable \"x\" { type = string }\n";

/// Appends a line per build to `out/builds.log` and writes `out/<vm_name>.json`.
pub const RECORDING: &str = r#"
variable "vm_name" {
  type = string
}

variable "x" {
  type    = string
  default = "a"
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]

  provisioner "shell-local" {
    inline = [
      "echo ${var.vm_name} x=${var.x} >> @OUT@/builds.log",
      "echo '{\"vm_name\": \"${var.vm_name}\", \"x\": \"${var.x}\"}' > @OUT@/${var.vm_name}.json",
    ]
  }
}
"#;

/// Says something on stderr, then fails with exit status 3.
pub const FAILING: &str = r#"
variable "vm_name" {
  type = string
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]

  provisioner "shell-local" {
    inline = [
      "echo about to fail",
      "echo boom-from-the-template >&2",
      "exit 3",
    ]
  }
}
"#;

/// Marks that it runs, then sleeps for 30 s.
pub const SLOW: &str = r#"
variable "vm_name" {
  type = string
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]

  provisioner "shell-local" {
    inline = [
      "touch @OUT@/started",
      "sleep 30",
      "touch @OUT@/finished",
    ]
  }
}
"#;

/// 200 lines of output quickly, two lines on stderr (ui errors), then a second step.
pub const CHATTY: &str = r#"
variable "vm_name" {
  type = string
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]

  provisioner "shell-local" {
    inline = [
      "i=0; while [ $i -lt 200 ]; do echo chatty line $i, with a comma; i=$((i+1)); done",
      "echo first-warning >&2",
      "echo second-warning >&2",
    ]
  }

  provisioner "shell-local" {
    inline = ["echo second step"]
  }
}
"#;

/// Writes a variable with no shell in between: the `manifest` post-processor
/// puts it in `out/<vm_name>.manifest.json` as custom data.
pub const LITERAL: &str = r#"
variable "vm_name" {
  type = string
}

variable "note" {
  type = string
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]

  post-processor "manifest" {
    output      = "@OUT@/${var.vm_name}.manifest.json"
    custom_data = { note = var.note }
  }
}
"#;

/// Two steps of output and an error line, with the null builder.
pub const TWO_STEPS: &str = r#"
variable "vm_name" {
  type = string
}

source "null" "x" {
  communicator = "none"
}

build {
  sources = ["source.null.x"]

  provisioner "shell-local" {
    inline = ["echo first step", "echo a-warning >&2"]
  }

  provisioner "shell-local" {
    inline = ["echo second step"]
  }
}
"#;

/// A template of `variable "vm_name"`, the null source `x` and one
/// `shell-local` provisioner running `inline` (an HCL list body).
macro_rules! shell_local_template {
    ($inline:literal) => {
        concat!(
            "variable \"vm_name\" {\n  type = string\n}\n\n",
            "source \"null\" \"x\" {\n  communicator = \"none\"\n}\n\n",
            "build {\n  sources = [\"source.null.x\"]\n\n",
            "  provisioner \"shell-local\" {\n    inline = [\n",
            $inline,
            "    ]\n  }\n}\n"
        )
    };
}

/// Holds a build while another could overlap it: marks `out/building/<vm_name>`,
/// waits until `out/release` exists or another build is marked (about 30 s at
/// most), then appends `<vm_name> <builds marked>` to `out/at-once`.
pub const HELD: &str = shell_local_template!(
    r#"      "mkdir -p @OUT@/building && touch @OUT@/building/${var.vm_name}",
      "i=0; while [ ! -e @OUT@/release ] && [ $(ls @OUT@/building | wc -l) -lt 2 ] && [ $i -lt 1500 ]; do sleep 0.02; i=$((i+1)); done",
      "echo ${var.vm_name} $(ls @OUT@/building | wc -l) >> @OUT@/at-once",
      "rm @OUT@/building/${var.vm_name}",
"#
);
