//! Packer, once: the binary answers `packer version`, and each image's
//! template passes `packer validate` with the image's `-var` words. Packer
//! always runs with `CHECKPOINT_DISABLE=1`: a check never calls out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{Checklist, Finding, Planned, one_line, within};
use crate::desired::DesiredResource;
use crate::driver::packer::var_words;

/// An image to validate.
#[derive(Debug, Clone)]
pub struct ImageProbe {
    /// Its address, e.g. `image.base`: the scope of its line.
    pub address: String,
    /// Its template folder.
    pub template: PathBuf,
    /// Its `-var` words (values may be sensitive: they are never shown).
    pub var_words: Vec<String>,
}

impl ImageProbe {
    /// The probe of a desired image.
    pub fn of(resource: &DesiredResource) -> ImageProbe {
        ImageProbe {
            address: resource.address.to_string(),
            template: PathBuf::from(resource.input_str("packer_template").unwrap_or(".")),
            var_words: var_words(resource),
        }
    }
}

/// The Packer checks: the version under scope `packer`, then one `validate`
/// line per image (skipped when Packer does not run).
pub async fn check(binary: &Path, images: &[ImageProbe], timeout: Duration) -> Vec<Finding> {
    let mut list = Checklist::new("packer", vec![Planned::check("packer")]);
    let install =
        "install Packer (https://developer.hashicorp.com/packer/install), or set SANDBOXER_PACKER to its path";
    let version = match within(timeout, "packer version", packer(binary).arg("version").output()).await {
        Ok(Ok(out)) if out.status.success() => Ok(one_line(&String::from_utf8_lossy(&out.stdout))),
        Ok(Ok(out)) => Err(format!(
            "{} version failed ({}): {}",
            binary.display(),
            out.status,
            one_line(&String::from_utf8_lossy(&out.stderr))
        )),
        Ok(Err(error)) => Err(format!("cannot run {}: {error}", binary.display())),
        Err(problem) => Err(problem),
    };
    let mut findings = match version {
        Ok(version) => {
            list.pass(version);
            list.finish()
        }
        Err(problem) => {
            let mut findings = list.fail(problem, install);
            findings.extend(images.iter().map(skipped));
            return findings;
        }
    };
    for image in images {
        findings.push(validate(binary, image, timeout).await);
    }
    findings
}

fn skipped(image: &ImageProbe) -> Finding {
    Finding {
        scope: image.address.clone(),
        check: "template",
        status: super::Status::Skipped,
        detail: format!("{}: not checked (packer failed)", image.template.display()),
        hint: None,
    }
}

async fn validate(binary: &Path, image: &ImageProbe, timeout: Duration) -> Finding {
    let template = image.template.display().to_string();
    let list = Checklist::new(&image.address, vec![Planned::check("template")]);
    let mut command = packer(binary);
    command.arg("validate").args(&image.var_words).arg(&image.template);
    let hint = format!(
        "`packer validate {template}` (with the image's packer_var_* inputs as -var) shows the whole error: fix the template or the inputs"
    );
    match within(timeout, "packer validate", command.output()).await {
        Ok(Ok(out)) if out.status.success() => {
            let mut list = list;
            list.pass(format!("{template}: valid"));
            list.finish().remove(0)
        }
        Ok(Ok(out)) => {
            // Packer says what is wrong on stdout (HCL errors) or stderr.
            let words = format!(
                "{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            list.fail(format!("{template}: {}", one_line(&words)), hint).remove(0)
        }
        Ok(Err(error)) => list
            .fail(format!("cannot run {}: {error}", binary.display()), hint)
            .remove(0),
        Err(problem) => list.fail(format!("{template}: {problem}"), hint).remove(0),
    }
}

/// Packer with no secret of sandboxer's, no update check, no input.
fn packer(binary: &Path) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(binary);
    crate::secret_env::scrub_async(&mut command);
    command
        .env("CHECKPOINT_DISABLE", "1")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    command
}
