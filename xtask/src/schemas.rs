//! `cargo xtask schemas [--check]`: JSON Schema generation (owned by the envelope work).

pub(crate) fn run(_check: bool) -> anyhow::Result<()> {
    anyhow::bail!("schema generation is not implemented yet")
}
