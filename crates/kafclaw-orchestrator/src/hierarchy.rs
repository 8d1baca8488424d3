//! The agent hierarchy: parent/child links between nodes, with cycles refused.

use std::collections::{BTreeMap, BTreeSet};

use kafclaw_envelope::AgentNode;

use crate::error::{Error, Result};

/// A forest of agent nodes keyed by agent id. A node whose parent is not (yet) known
/// is a root of the views but keeps its `parent_id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hierarchy {
    nodes: BTreeMap<String, AgentNode>,
}

impl Hierarchy {
    /// An empty hierarchy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces a node. Refused (and nothing changes) when its parent is
    /// itself or one of its descendants.
    pub fn insert(&mut self, node: AgentNode) -> Result<()> {
        let id = node.agent_id.clone();
        let parent = node.parent_id.clone();
        if !parent.is_empty() && (parent == id || self.is_descendant(&parent, &id)) {
            return Err(Error::Cycle { agent: id, parent });
        }
        self.nodes.insert(id, node);
        Ok(())
    }

    /// Sets a node's parent (empty for none), refusing cycles.
    pub fn set_parent(&mut self, agent: &str, parent: &str) -> Result<()> {
        let Some(mut node) = self.nodes.get(agent).cloned() else {
            return Err(Error::UnknownAgent {
                agent: agent.to_owned(),
            });
        };
        node.parent_id = parent.to_owned();
        self.insert(node)
    }

    /// Removes a node; its children move to its parent. Returns the removed node.
    pub fn remove(&mut self, agent: &str) -> Option<AgentNode> {
        let removed = self.nodes.remove(agent)?;
        for node in self.nodes.values_mut() {
            if node.parent_id == agent {
                node.parent_id = removed.parent_id.clone();
            }
        }
        Some(removed)
    }

    /// The node with this id.
    pub fn get(&self, agent: &str) -> Option<&AgentNode> {
        self.nodes.get(agent)
    }

    /// Every node, by id.
    pub fn nodes(&self) -> impl Iterator<Item = &AgentNode> {
        self.nodes.values()
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Direct children, by id.
    pub fn children(&self, agent: &str) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| n.parent_id == agent && n.agent_id != agent)
            .map(|n| n.agent_id.clone())
            .collect()
    }

    /// Parent, grandparent, ... up to a root (known nodes only), nearest first.
    pub fn ancestors(&self, agent: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::from([agent.to_owned()]);
        let mut at = self.nodes.get(agent);
        while let Some(node) = at {
            let parent = &node.parent_id;
            if parent.is_empty() || !seen.insert(parent.clone()) {
                break;
            }
            let Some(p) = self.nodes.get(parent) else {
                break;
            };
            out.push(parent.clone());
            at = Some(p);
        }
        out
    }

    /// Every node below `agent`, breadth first.
    pub fn descendants(&self, agent: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen = BTreeSet::from([agent.to_owned()]);
        let mut queue = std::collections::VecDeque::from([agent.to_owned()]);
        while let Some(at) = queue.pop_front() {
            for child in self.children(&at) {
                if seen.insert(child.clone()) {
                    out.push(child.clone());
                    queue.push_back(child);
                }
            }
        }
        out
    }

    /// True when `agent` is somewhere below `ancestor`.
    pub fn is_descendant(&self, agent: &str, ancestor: &str) -> bool {
        self.ancestors(agent).iter().any(|a| a == ancestor)
    }

    /// Nodes without a known parent, by id.
    pub fn roots(&self) -> Vec<String> {
        self.nodes
            .values()
            .filter(|n| n.parent_id.is_empty() || !self.nodes.contains_key(&n.parent_id))
            .map(|n| n.agent_id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, parent: &str) -> AgentNode {
        AgentNode {
            agent_id: id.into(),
            parent_id: parent.into(),
            role: "worker".into(),
            status: "active".into(),
            ..AgentNode::default()
        }
    }

    fn tree() -> Hierarchy {
        let mut h = Hierarchy::new();
        for (id, parent) in [("root", ""), ("a", "root"), ("b", "root"), ("a1", "a")] {
            h.insert(node(id, parent)).unwrap();
        }
        h
    }

    #[test]
    fn relations() {
        let h = tree();
        assert_eq!(h.children("root"), ["a", "b"]);
        assert_eq!(h.ancestors("a1"), ["a", "root"]);
        assert_eq!(h.descendants("root"), ["a", "b", "a1"]);
        assert!(h.is_descendant("a1", "root"));
        assert!(!h.is_descendant("root", "a1"));
        assert!(!h.is_descendant("b", "a"));
        assert_eq!(h.roots(), ["root"]);
    }

    #[test]
    fn cycles_are_refused_and_leave_the_tree_unchanged() {
        let mut h = tree();
        let before = h.clone();
        let err = h.insert(node("root", "a1")).unwrap_err();
        assert!(
            matches!(err, Error::Cycle { ref agent, ref parent } if agent == "root" && parent == "a1")
        );
        assert!(h.insert(node("a", "a")).is_err());
        assert!(h.set_parent("a", "a1").is_err());
        assert_eq!(h, before);
        // Moving a subtree somewhere legal works.
        h.set_parent("a", "b").unwrap();
        assert_eq!(h.ancestors("a1"), ["a", "b", "root"]);
    }

    #[test]
    fn removal_reparents_children() {
        let mut h = tree();
        assert!(h.remove("a").is_some());
        assert_eq!(h.get("a1").unwrap().parent_id, "root");
        assert_eq!(h.children("root"), ["a1", "b"]);
        assert_eq!(h.len(), 3);
        // Removing a root makes its children roots.
        h.remove("root");
        assert_eq!(h.roots(), ["a1", "b"]);
        assert!(h.remove("nobody").is_none());
    }

    #[test]
    fn unknown_parents_make_roots_and_loops_in_input_terminate() {
        let mut h = Hierarchy::new();
        h.insert(node("x", "missing")).unwrap();
        assert_eq!(h.roots(), ["x"]);
        assert!(h.ancestors("x").is_empty());
        assert!(h.set_parent("nobody", "x").is_err());
    }
}
