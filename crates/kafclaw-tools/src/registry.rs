//! The tool registry: tools by name, in a deterministic order, with argument
//! validation in front of every call.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafclaw_policy::ToolTier;
use serde::Serialize;
use serde_json::Value;

use crate::config::ToolsConfig;
use crate::error::{Error, Result};
use crate::exec::ExecTool;
use crate::fs::{EditFileTool, ListDirTool, ReadFileTool, ResolvePathTool, Roots, WriteFileTool};
use crate::schema;
use crate::tool::{Tool, ToolContext, ToolOutput};
use crate::web::WebFetchTool;

/// What a provider needs to offer a tool to the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolDefinition {
    /// Tool name.
    pub name: String,
    /// Description for the model.
    pub description: String,
    /// JSON Schema of the arguments.
    pub parameters: Value,
    /// Risk tier (0, 1, 2).
    pub tier: ToolTier,
}

struct Entry {
    tool: Arc<dyn Tool>,
    parameters: Value,
}

/// Tools by name. Iteration is sorted by name (byte order), independent of the
/// order of registration, so the tool list in a prompt is stable across runs.
#[derive(Default)]
pub struct Registry {
    tools: BTreeMap<String, Entry>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("tools", &self.tools.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && name.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The built-in tools for `config`: read_file, list_dir, write_file, edit_file,
    /// resolve_path, and (when enabled) exec and web_fetch.
    pub fn with_builtin_tools(config: &ToolsConfig) -> Result<Self> {
        let roots = Arc::new(Roots::open(&config.roots)?);
        let mut reg = Self::new();
        reg.register(Arc::new(ReadFileTool::new(
            roots.clone(),
            config.fs.clone(),
        )))?;
        reg.register(Arc::new(ListDirTool::new(roots.clone(), config.fs.clone())))?;
        reg.register(Arc::new(WriteFileTool::new(
            roots.clone(),
            config.fs.clone(),
        )))?;
        reg.register(Arc::new(EditFileTool::new(
            roots.clone(),
            config.fs.clone(),
        )))?;
        reg.register(Arc::new(ResolvePathTool::new(roots.clone())))?;
        if config.exec.enabled {
            reg.register(Arc::new(ExecTool::new(roots.clone(), config.exec.clone())?))?;
        }
        if config.web_fetch.enabled {
            reg.register(Arc::new(WebFetchTool::new(config.web_fetch.clone())?))?;
        }
        Ok(reg)
    }

    /// Add a tool. Refuses a bad or duplicate name and a parameter schema outside
    /// the supported subset.
    pub fn register(&mut self, tool: Arc<dyn Tool>) -> Result<()> {
        let name = tool.name().to_owned();
        if !valid_name(&name) {
            return Err(Error::InvalidTool {
                name,
                problem: "names are 1-64 characters of a-z, 0-9 and `_`, starting with a letter"
                    .into(),
            });
        }
        if self.tools.contains_key(&name) {
            return Err(Error::InvalidTool {
                name,
                problem: "a tool with this name is already registered".into(),
            });
        }
        let parameters = tool.parameters();
        schema::check_schema(&parameters).map_err(|problem| Error::InvalidTool {
            name: name.clone(),
            problem,
        })?;
        self.tools.insert(name, Entry { tool, parameters });
        Ok(())
    }

    /// The tool of that name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Tool>> {
        self.tools.get(name).map(|e| &e.tool)
    }

    /// Tools in name order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Tool>> {
        self.tools.values().map(|e| &e.tool)
    }

    /// Names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tools.keys().map(String::as_str)
    }

    /// Number of tools.
    pub fn len(&self) -> usize {
        self.tools.len()
    }

    /// Whether no tool is registered.
    pub fn is_empty(&self) -> bool {
        self.tools.is_empty()
    }

    /// Definitions for the provider, in name order.
    pub fn definitions(&self) -> Vec<ToolDefinition> {
        self.tools
            .iter()
            .map(|(name, e)| ToolDefinition {
                name: name.clone(),
                description: e.tool.description().to_owned(),
                parameters: e.parameters.clone(),
                tier: e.tool.tier(),
            })
            .collect()
    }

    /// Check `args` against the tool's schema without running it.
    pub fn validate(&self, name: &str, args: &Value) -> Result<()> {
        let entry = self.tools.get(name).ok_or_else(|| Error::UnknownTool {
            name: name.to_owned(),
        })?;
        schema::validate(&entry.parameters, args).map_err(|(argument, problem)| {
            Error::InvalidArgument {
                tool: name.to_owned(),
                argument,
                problem,
            }
        })
    }

    /// Validate and run. The policy decision must have been made by the caller.
    pub async fn execute(&self, name: &str, args: Value, ctx: &ToolContext) -> Result<ToolOutput> {
        self.validate(name, &args)?;
        let entry = self.tools.get(name).ok_or_else(|| Error::UnknownTool {
            name: name.to_owned(),
        })?;
        entry.tool.execute(args, ctx).await
    }
}
