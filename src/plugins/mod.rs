//! Integrations that adapt other systems' volume protocols to dm. They sit below the daemon:
//! each defines what it needs as a trait ([`docker::Volumes`], [`flexvolume::Mounter`]) that the daemon implements, so a
//! plugin never reaches into daemon internals.

pub mod csi;
pub mod docker;
pub mod docker_api;
pub mod flexvolume;
pub mod provisioner;
