//! Departments as a tree. A head of department sees the department's whole
//! subtree, so "is this department within that one" is the question every
//! visibility check asks; the tree answers it from parent links only.
//!
//! Invariant: the tree never holds a cycle. [`DepartmentTree::add`] requires
//! the parent to exist already (events replay in order, so a parent is always
//! created first) and [`DepartmentTree::move_under`] refuses a move below the
//! department itself or one of its descendants.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

voronka_core::uuid_id!(
    /// Identifies a department (sales, Moscow office, ...).
    DepartmentId
);

/// One department: ready to be the payload of a `department_created` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub id: DepartmentId,
    pub name: String,
    /// `None` for a root department (a company may have several roots).
    pub parent: Option<DepartmentId>,
}

/// Why a change to the tree was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DepartmentError {
    /// The id is taken. HTTP: 409.
    #[error("department {0} already exists")]
    AlreadyExists(DepartmentId),
    /// The named department (or parent) does not exist. HTTP: 404 for the
    /// department in the path, 422 for a parent named in the body.
    #[error("department {0} does not exist")]
    Unknown(DepartmentId),
    /// The change would make a department its own ancestor. HTTP: 422.
    #[error("placing department {department} under {parent} would create a cycle")]
    WouldCreateCycle {
        department: DepartmentId,
        parent: DepartmentId,
    },
}

impl DepartmentError {
    /// A stable code for problem+json bodies.
    pub fn code(&self) -> &'static str {
        match self {
            DepartmentError::AlreadyExists(_) => "department_exists",
            DepartmentError::Unknown(_) => "department_unknown",
            DepartmentError::WouldCreateCycle { .. } => "department_cycle",
        }
    }
}

/// All departments, by id, with their parent links.
#[derive(Debug, Clone, Default)]
pub struct DepartmentTree {
    departments: BTreeMap<DepartmentId, Department>,
}

impl DepartmentTree {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a department whose parent (if any) is already in the tree.
    pub fn add(&mut self, department: Department) -> Result<(), DepartmentError> {
        if self.departments.contains_key(&department.id) {
            return Err(DepartmentError::AlreadyExists(department.id));
        }
        if let Some(parent) = department.parent {
            if parent == department.id {
                return Err(DepartmentError::WouldCreateCycle {
                    department: department.id,
                    parent,
                });
            }
            if !self.departments.contains_key(&parent) {
                return Err(DepartmentError::Unknown(parent));
            }
        }
        self.departments.insert(department.id, department);
        Ok(())
    }

    /// Moves a department (with its subtree) under a new parent, or makes it
    /// a root with `None`. Refused when the new parent lies in its subtree.
    pub fn move_under(
        &mut self,
        department: DepartmentId,
        new_parent: Option<DepartmentId>,
    ) -> Result<(), DepartmentError> {
        if !self.departments.contains_key(&department) {
            return Err(DepartmentError::Unknown(department));
        }
        if let Some(parent) = new_parent {
            if !self.departments.contains_key(&parent) {
                return Err(DepartmentError::Unknown(parent));
            }
            if self.is_within(parent, department) {
                return Err(DepartmentError::WouldCreateCycle { department, parent });
            }
        }
        if let Some(entry) = self.departments.get_mut(&department) {
            entry.parent = new_parent;
        }
        Ok(())
    }

    pub fn get(&self, department: DepartmentId) -> Option<&Department> {
        self.departments.get(&department)
    }

    pub fn contains(&self, department: DepartmentId) -> bool {
        self.departments.contains_key(&department)
    }

    pub fn len(&self) -> usize {
        self.departments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.departments.is_empty()
    }

    /// True when `department` is `ancestor` itself or lies below it. An
    /// unknown department is within nothing (deny by default).
    pub fn is_within(&self, department: DepartmentId, ancestor: DepartmentId) -> bool {
        let mut current = Some(department);
        // The tree holds no cycle; the step bound only guards against a bug
        // ever turning this into an endless loop.
        for _ in 0..=self.departments.len() {
            let Some(id) = current else {
                return false;
            };
            let Some(entry) = self.departments.get(&id) else {
                return false;
            };
            if id == ancestor {
                return true;
            }
            current = entry.parent;
        }
        false
    }

    /// The department and everything below it; empty for an unknown one.
    pub fn subtree(&self, department: DepartmentId) -> BTreeSet<DepartmentId> {
        self.departments
            .keys()
            .copied()
            .filter(|id| self.is_within(*id, department))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> DepartmentId {
        DepartmentId::from_parts(1, [n; 10])
    }

    fn dept(n: u8, parent: Option<u8>) -> Department {
        Department {
            id: id(n),
            name: format!("d{n}"),
            parent: parent.map(id),
        }
    }

    #[test]
    fn a_department_cannot_be_its_own_parent() {
        let mut tree = DepartmentTree::new();
        assert_eq!(
            tree.add(dept(1, Some(1))),
            Err(DepartmentError::WouldCreateCycle {
                department: id(1),
                parent: id(1)
            })
        );
        assert!(tree.is_empty());
    }

    #[test]
    fn a_department_with_an_unknown_parent_is_refused() {
        let mut tree = DepartmentTree::new();
        assert_eq!(
            tree.add(dept(2, Some(1))),
            Err(DepartmentError::Unknown(id(1)))
        );
    }

    #[test]
    fn a_department_id_cannot_be_added_twice() {
        let mut tree = DepartmentTree::new();
        assert_eq!(tree.add(dept(1, None)), Ok(()));
        assert_eq!(
            tree.add(dept(1, None)),
            Err(DepartmentError::AlreadyExists(id(1)))
        );
    }

    #[test]
    fn moving_a_department_makes_its_subtree_follow() {
        let mut tree = DepartmentTree::new();
        for d in [dept(1, None), dept(2, None), dept(3, Some(2))] {
            assert_eq!(tree.add(d), Ok(()));
        }
        assert!(!tree.is_within(id(3), id(1)));
        assert_eq!(tree.move_under(id(2), Some(id(1))), Ok(()));
        assert!(tree.is_within(id(3), id(1)));
        assert_eq!(tree.subtree(id(1)).len(), 3);
        assert_eq!(tree.move_under(id(2), None), Ok(()));
        assert!(!tree.is_within(id(3), id(1)));
    }
}
