//! The node: the services of one `dm serve`, wired once over a shared [`Core`]. Dependencies
//! point one way — each service takes the core and only the services below it:
//!
//! ```text
//! Diffs ──▶ Transfers, Dots, Core
//! Subdots ──▶ Handoff ───▶ Replicator ──▶ Core
//!    │           └──▶ Inventory ─────────▶ Core
//!    └──▶ Transfers ──▶ Dots ──▶ Inventory, Replicator, Core
//!             └───────▶ Inventory, Replicator, Core
//! ```
//!
//! Each service is built with the `Arc`s of the services it uses, bottom-up in [`Node::new`],
//! so a cycle could not even be constructed.
//!
//! `Dots` (dots, branches, commits, history, reset), `Inventory` (listings, sizes, containers),
//! `Replicator` (every commit on every node), `Handoff` (moving a branch's master),
//! `Transfers` (other clusters), `Subdots` (what containers mount) and `Diffs` (which files
//! changed). What spans them — the
//! sweep's tidying and rebuilding the registry at start-up (`recovery`) — is the node's.

use std::sync::Arc;

pub use super::core::{Core, DockerLink};
use super::diff::Diffs;
use super::dots::Dots;
use super::handoff::Handoff;
use super::inventory::Inventory;
use super::replicate::Replicator;
use super::subdots::Subdots;
use super::transfer::Transfers;

pub struct Node {
    pub core: Arc<Core>,
    pub inventory: Arc<Inventory>,
    pub replicator: Arc<Replicator>,
    pub handoff: Arc<Handoff>,
    pub dots: Arc<Dots>,
    pub transfers: Arc<Transfers>,
    pub subdots: Subdots,
    pub diffs: Diffs,
}

impl Node {
    pub fn new(core: Core, docker: Option<DockerLink>) -> Node {
        let core = Arc::new(core);
        let inventory = Arc::new(Inventory::new(core.clone(), docker));
        let replicator = Arc::new(Replicator::new(core.clone()));
        let handoff = Arc::new(Handoff::new(
            core.clone(),
            inventory.clone(),
            replicator.clone(),
        ));
        let dots = Arc::new(Dots::new(
            core.clone(),
            inventory.clone(),
            replicator.clone(),
        ));
        let transfers = Arc::new(Transfers::new(
            core.clone(),
            dots.clone(),
            inventory.clone(),
            replicator.clone(),
        ));
        let subdots = Subdots::new(
            core.clone(),
            handoff.clone(),
            transfers.clone(),
            dots.clone(),
        );
        let diffs = Diffs::new(core.clone(), dots.clone(), transfers.clone());
        Node {
            core,
            inventory,
            replicator,
            handoff,
            dots,
            transfers,
            subdots,
            diffs,
        }
    }

    /// What every full sweep settles before replicating: operations a failed undo left (see
    /// `recovery`), branches hidden for a stream whose client went quiet (`transfer`),
    /// handoffs whose end was never heard of (`handoff`), and hidden branches whose grace
    /// period ended (`ops`).
    pub(super) fn tidy(&self) {
        self.core.settle_pending();
        self.transfers.show_overdue();
        self.handoff.settle_moves();
        self.dots.reclaim_hidden();
        self.dots.reclaim_hidden_dots();
        self.subdots.sweep_views();
        if let Err(e) = self.core.store.trim_ops() {
            tracing::warn!(error = %e, "cannot trim the operation log");
        }
    }
}
