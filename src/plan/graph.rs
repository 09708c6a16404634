//! The order of a plan as a DAG of its changes, built in named passes: nodes,
//! dependency edges (creates and updates after what they depend on), reversed
//! edges for deletes (dependents go first), and the `--target` filter.

use std::collections::{BTreeMap, BTreeSet};

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use super::{Action, Change};
use crate::address::Address;

/// A plan whose changes depend on each other in a circle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the plan has a dependency cycle through {address}")]
pub struct CycleError {
    /// A change on the cycle.
    pub address: Address,
}

/// The DAG: node weights are indices into the plan's changes; an edge `a -> b`
/// means `a` must finish before `b` starts.
#[derive(Debug, Clone)]
pub struct ChangeGraph {
    /// The graph.
    pub graph: DiGraph<usize, ()>,
}

impl ChangeGraph {
    /// Builds the graph of `changes`.
    pub fn build(changes: &[Change]) -> Result<Self, CycleError> {
        let mut graph = DiGraph::new();
        let nodes: Vec<NodeIndex> = (0..changes.len()).map(|i| graph.add_node(i)).collect();
        let mut by_address: BTreeMap<&Address, Vec<usize>> = BTreeMap::new();
        for (i, c) in changes.iter().enumerate() {
            by_address.entry(&c.address).or_default().push(i);
        }
        dependency_edges(changes, &by_address, |from, to| {
            graph.update_edge(nodes[from], nodes[to], ());
        });
        let built = ChangeGraph { graph };
        if let Err(cycle) = petgraph::algo::toposort(&built.graph, None) {
            let i = built.graph[cycle.node_id()];
            return Err(CycleError {
                address: changes[i].address.clone(),
            });
        }
        Ok(built)
    }

    /// Indices of the changes that must finish before change `i`.
    pub fn dependencies(&self, i: usize) -> Vec<usize> {
        self.graph
            .neighbors_directed(NodeIndex::new(i), Direction::Incoming)
            .map(|n| self.graph[n])
            .collect()
    }

    /// Indices of the changes that wait for change `i`.
    pub fn dependents(&self, i: usize) -> Vec<usize> {
        self.graph
            .neighbors_directed(NodeIndex::new(i), Direction::Outgoing)
            .map(|n| self.graph[n])
            .collect()
    }
}

/// Pass: dependency edges. A create/update/replace runs after the non-delete
/// changes of what it depends on; a delete runs before the deletes of what it
/// depended on.
fn dependency_edges(
    changes: &[Change],
    by_address: &BTreeMap<&Address, Vec<usize>>,
    mut edge: impl FnMut(usize, usize),
) {
    for (i, change) in changes.iter().enumerate() {
        for dep in &change.depends_on {
            for &j in by_address.get(dep).map(Vec::as_slice).unwrap_or_default() {
                let dep_is_delete = changes[j].action == Action::Delete;
                match (change.action == Action::Delete, dep_is_delete) {
                    (false, false) => edge(j, i),
                    (true, true) => edge(i, j),
                    _ => {}
                }
            }
        }
    }
}

/// Pass: `--target`. Keeps the changes of the targets (deletes included) and of
/// everything they depend on, transitively.
pub fn filter_targets(changes: Vec<Change>, targets: &[Address]) -> Vec<Change> {
    if targets.is_empty() {
        return changes;
    }
    let mut keep: BTreeSet<Address> = targets.iter().cloned().collect();
    let mut frontier: Vec<Address> = targets.to_vec();
    while let Some(address) = frontier.pop() {
        for c in changes
            .iter()
            .filter(|c| c.address == address && c.action != Action::Delete)
        {
            for dep in &c.depends_on {
                if keep.insert(dep.clone()) {
                    frontier.push(dep.clone());
                }
            }
        }
    }
    changes.into_iter().filter(|c| keep.contains(&c.address)).collect()
}

/// Pass: `destroy --target`. Keeps the deletes of the targets and of
/// everything that depends on them, transitively: nothing is left standing on
/// what goes.
pub fn filter_destroy_targets(changes: Vec<Change>, targets: &[Address]) -> Vec<Change> {
    if targets.is_empty() {
        return changes;
    }
    let mut keep: BTreeSet<Address> = targets.iter().cloned().collect();
    loop {
        let more: Vec<Address> = changes
            .iter()
            .filter(|c| !keep.contains(&c.address) && c.depends_on.iter().any(|d| keep.contains(d)))
            .map(|c| c.address.clone())
            .collect();
        if more.is_empty() {
            break;
        }
        keep.extend(more);
    }
    changes.into_iter().filter(|c| keep.contains(&c.address)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::DriverName;

    fn change(address: &str, action: Action, deps: &[&str]) -> Change {
        Change {
            address: address.parse().expect("address"),
            action,
            id: None,
            driver: DriverName::LOCAL_WORKSPACE,
            reasons: Vec::new(),
            attributes: Vec::new(),
            depends_on: deps.iter().map(|d| d.parse().expect("address")).collect(),
            workspace: None,
            moved_from: None,
        }
    }

    #[test]
    fn creates_follow_dependencies_and_deletes_go_in_reverse() {
        let changes = vec![
            change("image.vm", Action::Replace, &[]),
            change("sandbox.app", Action::Replace, &["image.vm"]),
            change("sandbox.old", Action::Delete, &["sandbox.lib"]),
            change("sandbox.lib", Action::Delete, &[]),
        ];
        let g = ChangeGraph::build(&changes).expect("acyclic");
        assert_eq!(g.dependencies(1), [0], "app after image");
        assert_eq!(g.dependencies(3), [2], "lib deleted after old, which depended on it");
        assert!(g.dependencies(0).is_empty());
    }

    #[test]
    fn targets_bring_their_dependencies() {
        let changes = vec![
            change("image.vm", Action::Create, &[]),
            change("sandbox.app", Action::Create, &["image.vm"]),
            change("sandbox.other", Action::Create, &[]),
        ];
        let kept = filter_targets(changes, &["sandbox.app".parse().expect("address")]);
        let names: Vec<String> = kept.iter().map(|c| c.address.to_string()).collect();
        assert_eq!(names, ["image.vm", "sandbox.app"]);
    }

    #[test]
    fn a_destroy_target_takes_what_stands_on_it_and_nothing_else() {
        let changes = vec![
            change("image.img", Action::Delete, &[]),
            change("sandbox.a", Action::Delete, &["image.img"]),
            change("sandbox.b", Action::Delete, &["sandbox.a"]),
            change("sandbox.c", Action::Delete, &[]),
        ];
        let kept: Vec<String> = filter_destroy_targets(changes, &["image.img".parse().expect("address")])
            .iter()
            .map(|c| c.address.to_string())
            .collect();
        assert_eq!(kept, ["image.img", "sandbox.a", "sandbox.b"]);
    }
}
