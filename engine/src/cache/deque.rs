//! Access-ordered lists over a slab of nodes: O(1) push, unlink and move, no allocation once
//! the slab has grown to the cache's size.

/// Index of a node in the slab.
pub(crate) type NodeId = u32;
pub(crate) const NIL: NodeId = u32::MAX;

/// Which list a node is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Region {
    Window,
    Probation,
    Protected,
}

#[derive(Debug)]
pub(crate) struct Node<K> {
    pub(crate) key: K,
    pub(crate) hash: u64,
    pub(crate) weight: u64,
    pub(crate) region: Region,
    prev: NodeId,
    next: NodeId,
}

/// The slab holding every node, with a free list.
#[derive(Debug)]
pub(crate) struct Slab<K> {
    nodes: Vec<Option<Node<K>>>,
    free: Vec<NodeId>,
}

impl<K> Slab<K> {
    pub(crate) fn new() -> Self {
        Slab {
            nodes: Vec::new(),
            free: Vec::new(),
        }
    }

    pub(crate) fn insert(&mut self, key: K, hash: u64, weight: u64, region: Region) -> NodeId {
        let node = Node {
            key,
            hash,
            weight,
            region,
            prev: NIL,
            next: NIL,
        };
        match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = Some(node);
                id
            }
            None => {
                self.nodes.push(Some(node));
                (self.nodes.len() - 1) as NodeId
            }
        }
    }

    pub(crate) fn remove(&mut self, id: NodeId) -> Node<K> {
        let node = self.nodes[id as usize].take().expect("live node");
        self.free.push(id);
        node
    }

    /// The node at `id`, if that slot is live (an id noted earlier may be gone).
    pub(crate) fn try_get(&self, id: NodeId) -> Option<&Node<K>> {
        self.nodes.get(id as usize).and_then(Option::as_ref)
    }

    pub(crate) fn get(&self, id: NodeId) -> &Node<K> {
        self.nodes[id as usize].as_ref().expect("live node")
    }

    pub(crate) fn get_mut(&mut self, id: NodeId) -> &mut Node<K> {
        self.nodes[id as usize].as_mut().expect("live node")
    }
}

/// A doubly linked list threaded through slab nodes; head is least recently used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deque {
    head: NodeId,
    tail: NodeId,
    pub(crate) len: usize,
    pub(crate) weight: u64,
}

impl Deque {
    pub(crate) const fn new() -> Self {
        Deque {
            head: NIL,
            tail: NIL,
            len: 0,
            weight: 0,
        }
    }

    /// The least recently used node.
    pub(crate) fn front(&self) -> Option<NodeId> {
        (self.head != NIL).then_some(self.head)
    }

    /// The node after `id` (towards the most recently used end).
    pub(crate) fn next_of<K>(&self, slab: &Slab<K>, id: NodeId) -> Option<NodeId> {
        let next = slab.get(id).next;
        (next != NIL).then_some(next)
    }

    /// Appends `id` at the most recently used end.
    pub(crate) fn push_back<K>(&mut self, slab: &mut Slab<K>, id: NodeId) {
        let weight = {
            let node = slab.get_mut(id);
            node.prev = self.tail;
            node.next = NIL;
            node.weight
        };
        if self.tail != NIL {
            slab.get_mut(self.tail).next = id;
        } else {
            self.head = id;
        }
        self.tail = id;
        self.len += 1;
        self.weight += weight;
    }

    /// Detaches `id`, which must be on this list.
    pub(crate) fn unlink<K>(&mut self, slab: &mut Slab<K>, id: NodeId) {
        let (prev, next, weight) = {
            let node = slab.get(id);
            (node.prev, node.next, node.weight)
        };
        if prev != NIL {
            slab.get_mut(prev).next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            slab.get_mut(next).prev = prev;
        } else {
            self.tail = prev;
        }
        let node = slab.get_mut(id);
        node.prev = NIL;
        node.next = NIL;
        self.len -= 1;
        self.weight -= weight;
    }

    /// Moves `id` (on this list) to the most recently used end.
    pub(crate) fn move_to_back<K>(&mut self, slab: &mut Slab<K>, id: NodeId) {
        if self.tail != id {
            self.unlink(slab, id);
            self.push_back(slab, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_unlink_move() {
        let mut slab = Slab::new();
        let mut list = Deque::new();
        let ids: Vec<_> = (0..4)
            .map(|k| slab.insert(k, k as u64, 1, Region::Window))
            .collect();
        for &id in &ids {
            list.push_back(&mut slab, id);
        }
        list.move_to_back(&mut slab, ids[0]);
        list.unlink(&mut slab, ids[2]);
        let mut order = Vec::new();
        let mut cur = list.front();
        while let Some(id) = cur {
            order.push(slab.get(id).key);
            cur = list.next_of(&slab, id);
        }
        assert_eq!(order, vec![1, 3, 0]);
        assert_eq!((list.len, list.weight), (3, 3));
        slab.remove(ids[2]);
        assert_eq!(
            slab.insert(9, 9, 1, Region::Window),
            ids[2],
            "freed slots are reused"
        );
    }
}
