//! `cargo xtask schemas [--check]`: writes the JSON Schemas generated from the
//! envelope crate's Rust types to `schemas/`, or checks that the committed files
//! match them.

use std::fs;
use std::path::Path;

use anyhow::{Context, bail};

pub(crate) fn run(check: bool) -> anyhow::Result<()> {
    let dir = crate::workspace_root().join("schemas");
    let generated: Vec<(String, String)> = kafclaw_envelope::schema::all()
        .into_iter()
        .map(|(name, value)| (name, kafclaw_envelope::schema::to_pretty(&value)))
        .collect();
    let stale = stale_files(&dir, &generated)?;
    if check {
        let mut problems = Vec::new();
        for (name, text) in &generated {
            let path = dir.join(name);
            match fs::read_to_string(&path) {
                Ok(committed) if committed == *text => {}
                Ok(_) => problems.push(format!(
                    "{}: differs from the generated schema",
                    path.display()
                )),
                Err(err) => problems.push(format!("{}: cannot read it ({err})", path.display())),
            }
        }
        for name in &stale {
            problems.push(format!(
                "{}: no longer generated (delete it)",
                dir.join(name).display()
            ));
        }
        if !problems.is_empty() {
            for problem in &problems {
                eprintln!("{problem}");
            }
            bail!(
                "{} schema file(s) out of date; run `cargo xtask schemas` and commit the result",
                problems.len()
            );
        }
        println!(
            "schemas: {} files up to date in {}",
            generated.len(),
            dir.display()
        );
        return Ok(());
    }
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = 0;
    for (name, text) in &generated {
        let path = dir.join(name);
        if fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
            println!("wrote {}", path.display());
            written += 1;
        }
    }
    for name in &stale {
        let path = dir.join(name);
        fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        println!("removed {}", path.display());
    }
    println!(
        "schemas: {} files, {written} changed, {} removed",
        generated.len(),
        stale.len()
    );
    Ok(())
}

/// `*.schema.json` files in `dir` that are no longer generated.
fn stale_files(dir: &Path, generated: &[(String, String)]) -> anyhow::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(err).with_context(|| format!("listing {}", dir.display())),
    };
    let mut stale = Vec::new();
    for entry in entries {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".schema.json") && !generated.iter().any(|(g, _)| *g == name) {
            stale.push(name);
        }
    }
    stale.sort();
    Ok(stale)
}
