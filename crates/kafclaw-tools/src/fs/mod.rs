//! Filesystem tools confined to configured roots (reads included).

mod roots;
mod tools;

pub use roots::Roots;
pub(crate) use roots::{Located, Strictness, io_refusal, map_io, physical_check};
pub use tools::{EditFileTool, ListDirTool, ReadFileTool, ResolvePathTool, WriteFileTool};
