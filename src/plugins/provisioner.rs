//! The Kubernetes dynamic provisioner `dotmesh/dotmesh-dynamic-provisioner` (`dm provisioner`):
//! for each claim that names it and has no volume yet, a PV `pvc-<uid>` whose FlexVolume source
//! names the dot (from the StorageClass parameter `dotmeshNamespace` and the claim's annotations
//! `dotmeshNamespace`, `dotmeshName`, `dotmeshSubdot`); the dot itself appears on first mount.
//! Beyond Dotmesh, which never deleted anything, it honours the reclaim policy: a released PV of
//! ours with `Delete` goes, and with it the dot once no other PV uses it; `Retain` keeps both.
//!
//! It only reconciles: every pass reads claims, classes and volumes afresh, so a restart loses
//! nothing. What to do is decided by pure functions ([`provision`], [`reclaim`]), unit-tested;
//! [`run`] applies them against the API server and the dm daemon.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{
    CSIPersistentVolumeSource, Event, FlexPersistentVolumeSource, ObjectReference,
    PersistentVolume, PersistentVolumeClaim, PersistentVolumeSpec,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{Api, DeleteParams, ListParams, PostParams};

use crate::names::{self, Kind};

/// The provisioner's name, as StorageClasses name it.
pub const NAME: &str = "dotmesh/dotmesh-dynamic-provisioner";
/// The FlexVolume driver its PVs use.
pub const DRIVER: &str = "dotmesh.io/dm";
const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
const CLAIM_PROVISIONER: [&str; 2] = [
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
];
const A_NAMESPACE: &str = "dotmeshNamespace";
const A_NAME: &str = "dotmeshName";
const A_SUBDOT: &str = "dotmeshSubdot";
/// StorageClass parameter: `csi` makes PVs for the CSI driver instead of FlexVolume.
const P_SOURCE: &str = "dotmeshVolumeSource";
/// How often the provisioner reconciles.
const PASS: Duration = Duration::from_secs(2);

/// What to do with a claim.
#[derive(Debug, Clone, PartialEq)]
pub enum Provision {
    /// Not ours, or nothing to do.
    Skip,
    /// Ours, but it cannot be served as asked; the message says what to fix.
    Refuse(String),
    Create(Box<PersistentVolume>),
}

/// The dot a claim asks for: `(namespace, name, subdot)`.
pub fn dot_of(
    claim: &PersistentVolumeClaim,
    class: Option<&StorageClass>,
) -> Result<(String, String, String), String> {
    let notes = claim.metadata.annotations.clone().unwrap_or_default();
    let param = class
        .and_then(|c| c.parameters.as_ref())
        .and_then(|p| p.get(A_NAMESPACE))
        .filter(|v| !v.is_empty());
    let ns = notes
        .get(A_NAMESPACE)
        .filter(|v| !v.is_empty())
        .or(param)
        .cloned()
        .unwrap_or_else(|| names::ADMIN.to_string());
    let name = notes
        .get(A_NAME)
        .filter(|v| !v.is_empty())
        .cloned()
        .or_else(|| claim.metadata.name.clone())
        .unwrap_or_default();
    let subdot = notes.get(A_SUBDOT).cloned().unwrap_or_default();
    let check = |kind, v: &str, what: &str| {
        names::validate(kind, v).map_err(|e| format!("{what} '{v}': {e}"))
    };
    check(Kind::Namespace, &ns, "dot namespace")?;
    check(Kind::Dot, &name, "dot name")?;
    if !subdot.is_empty() {
        check(Kind::Subdot, &subdot, "subdot")?;
    }
    Ok((ns, name, subdot))
}

/// Decides what `claim` (of class `class`) needs from provisioner `me`.
pub fn provision(
    claim: &PersistentVolumeClaim,
    class: Option<&StorageClass>,
    me: &str,
) -> Provision {
    let notes = claim.metadata.annotations.clone().unwrap_or_default();
    let ours = CLAIM_PROVISIONER
        .iter()
        .any(|k| notes.get(*k).map(String::as_str) == Some(me));
    let spec = claim.spec.clone().unwrap_or_default();
    let pending = claim
        .status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .is_none_or(|p| p == "Pending");
    if !ours
        || spec.volume_name.is_some()
        || !pending
        || claim.metadata.deletion_timestamp.is_some()
    {
        return Provision::Skip;
    }
    let Some(uid) = claim.metadata.uid.clone() else {
        return Provision::Skip;
    };
    let (ns, name, subdot) = match dot_of(claim, class) {
        Ok(d) => d,
        Err(e) => return Provision::Refuse(format!("cannot provision: {e}")),
    };
    let storage = spec
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage").cloned());
    let Some(storage) = storage else {
        return Provision::Refuse(
            "cannot provision: the claim asks for no size (spec.resources.requests.storage)".into(),
        );
    };
    let annotations = BTreeMap::from([
        (PROVISIONED_BY.to_string(), me.to_string()),
        (A_NAMESPACE.to_string(), ns.clone()),
        (A_NAME.to_string(), name.clone()),
        (A_SUBDOT.to_string(), subdot.clone()),
    ]);
    let reclaim = class
        .and_then(|c| c.reclaim_policy.clone())
        .unwrap_or_else(|| "Delete".to_string());
    let source = class
        .and_then(|c| c.parameters.as_ref())
        .and_then(|p| p.get(P_SOURCE))
        .map(String::as_str);
    let attributes = BTreeMap::from([
        ("namespace".to_string(), ns.clone()),
        ("name".to_string(), name.clone()),
        ("subdot".to_string(), subdot.clone()),
    ]);
    let (flex_volume, csi) = match source {
        None | Some("" | "flexvolume") => (
            Some(FlexPersistentVolumeSource {
                driver: DRIVER.into(),
                fs_type: Some("zfs".into()),
                options: Some(attributes),
                ..FlexPersistentVolumeSource::default()
            }),
            None,
        ),
        Some("csi") => (
            None,
            Some(CSIPersistentVolumeSource {
                driver: super::csi::DRIVER.into(),
                volume_handle: format!("{ns}/{name}"),
                volume_attributes: Some(attributes),
                ..CSIPersistentVolumeSource::default()
            }),
        ),
        Some(other) => {
            return Provision::Refuse(format!(
                "cannot provision: StorageClass parameter {P_SOURCE} is '{other}'; use 'flexvolume' (the default) or 'csi'"
            ));
        }
    };
    let pv = PersistentVolume {
        metadata: ObjectMeta {
            name: Some(format!("pvc-{uid}")),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        },
        spec: Some(PersistentVolumeSpec {
            access_modes: spec.access_modes.clone(),
            capacity: Some(BTreeMap::from([("storage".to_string(), storage)])),
            claim_ref: Some(ObjectReference {
                api_version: Some("v1".into()),
                kind: Some("PersistentVolumeClaim".into()),
                namespace: claim.metadata.namespace.clone(),
                name: claim.metadata.name.clone(),
                uid: Some(uid),
                ..ObjectReference::default()
            }),
            storage_class_name: spec.storage_class_name.clone(),
            persistent_volume_reclaim_policy: Some(reclaim),
            flex_volume,
            csi,
            ..PersistentVolumeSpec::default()
        }),
        status: None,
    };
    Provision::Create(Box::new(pv))
}

/// What to do with a volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reclaim {
    Keep,
    /// Delete the PV; the dot is still used by another PV.
    Volume,
    /// Delete the PV, then the dot `(namespace, name)`, which no other PV uses.
    VolumeAndDot(String, String),
}

/// The dot a dm FlexVolume PV mounts, if it is one.
fn pv_dot(pv: &PersistentVolume) -> Option<(String, String)> {
    let opts = attributes(pv)?;
    let ns = opts
        .get("namespace")
        .filter(|v| !v.is_empty())
        .cloned()
        .unwrap_or_else(|| names::ADMIN.to_string());
    Some((ns, opts.get("name")?.clone()))
}

/// What a dm PV's source says of its dot (`namespace`, `name`, `subdot`), FlexVolume or CSI.
fn attributes(pv: &PersistentVolume) -> Option<&BTreeMap<String, String>> {
    let spec = pv.spec.as_ref()?;
    match (&spec.flex_volume, &spec.csi) {
        (Some(f), _) if f.driver == DRIVER => f.options.as_ref(),
        (_, Some(c)) if c.driver == super::csi::DRIVER => c.volume_attributes.as_ref(),
        _ => None,
    }
}

/// Decides what becomes of `pv` (one of `all`) for provisioner `me`: only a released volume of
/// ours whose reclaim policy is `Delete` goes, and its dot with it when no other PV uses it.
pub fn reclaim(pv: &PersistentVolume, all: &[PersistentVolume], me: &str) -> Reclaim {
    let ours = pv
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(PROVISIONED_BY))
        .is_some_and(|p| p == me);
    let released = pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Released");
    let delete = pv
        .spec
        .as_ref()
        .and_then(|s| s.persistent_volume_reclaim_policy.as_deref())
        == Some("Delete");
    if !(ours && released && delete) || pv.metadata.deletion_timestamp.is_some() {
        return Reclaim::Keep;
    }
    let Some(dot) = pv_dot(pv) else {
        return Reclaim::Volume;
    };
    let shared = all
        .iter()
        .filter(|o| o.metadata.name != pv.metadata.name)
        .any(|o| pv_dot(o).as_ref() == Some(&dot));
    if shared {
        Reclaim::Volume
    } else {
        Reclaim::VolumeAndDot(dot.0, dot.1)
    }
}

/// Errors of a pass; the next pass tries again.
#[derive(Debug, thiserror::Error)]
pub enum ProvisionerError {
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    #[error("cannot reach Kubernetes: {0}")]
    Config(String),
}

/// Where the dm daemon is, for deleting reclaimed dots.
pub trait Dots {
    /// Deletes dot `ns/name`; gone already is fine.
    fn delete(&self, ns: &str, name: &str) -> Result<(), String>;
}

/// Reconciles every [`PASS`] until the process ends.
pub fn run(me: &str, dots: &dyn Dots) -> Result<(), ProvisionerError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ProvisionerError::Config(e.to_string()))?;
    rt.block_on(async {
        let client = kube::Client::try_default()
            .await
            .map_err(|e| ProvisionerError::Config(e.to_string()))?;
        let mut told = HashSet::new();
        tracing::info!(provisioner = me, "provisioner running");
        loop {
            if let Err(e) = pass(&client, me, dots, &mut told).await {
                tracing::warn!(error = %e, "provisioner pass failed; trying again");
            }
            tokio::time::sleep(PASS).await;
        }
    })
}

async fn pass(
    client: &kube::Client,
    me: &str,
    dots: &dyn Dots,
    told: &mut HashSet<(String, String)>,
) -> Result<(), ProvisionerError> {
    let claims: Api<PersistentVolumeClaim> = Api::all(client.clone());
    let classes: Api<StorageClass> = Api::all(client.clone());
    let volumes: Api<PersistentVolume> = Api::all(client.clone());
    let lp = ListParams::default();
    let class_list = classes.list(&lp).await?.items;
    let claim_list = claims.list(&lp).await?.items;
    // Only claims that still exist can be told about again.
    told.retain(|(uid, _)| {
        claim_list
            .iter()
            .any(|c| c.metadata.uid.as_deref() == Some(uid.as_str()))
    });
    for claim in claim_list {
        let class = claim
            .spec
            .as_ref()
            .and_then(|s| s.storage_class_name.as_deref())
            .and_then(|n| {
                class_list
                    .iter()
                    .find(|c| c.metadata.name.as_deref() == Some(n))
            });
        match provision(&claim, class, me) {
            Provision::Skip => {}
            Provision::Refuse(why) => {
                event(client, &claim, "Warning", "ProvisioningFailed", &why, told).await
            }
            Provision::Create(pv) => {
                let name = pv.metadata.name.clone().unwrap_or_default();
                match volumes.create(&PostParams::default(), &pv).await {
                    Ok(_) => {
                        let msg = format!("made volume {name} for dot {}", describe(&pv));
                        tracing::info!(claim = ?claim.metadata.name, volume = %name, "provisioned");
                        event(
                            client,
                            &claim,
                            "Normal",
                            "ProvisioningSucceeded",
                            &msg,
                            told,
                        )
                        .await;
                    }
                    // Made by an earlier pass (or another replica of us): done.
                    Err(kube::Error::Api(e)) if e.code == 409 => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
    }
    let all = volumes.list(&lp).await?.items;
    for pv in &all {
        let name = pv.metadata.name.clone().unwrap_or_default();
        let dot = match reclaim(pv, &all, me) {
            Reclaim::Keep => continue,
            Reclaim::Volume => None,
            Reclaim::VolumeAndDot(ns, dot) => Some((ns, dot)),
        };
        // The dot first: if it is still held (a pod on its way out), the volume stays
        // Released and the next pass tries again, so nothing is forgotten.
        if let Some((ns, dot)) = &dot {
            if let Err(e) = dots.delete(ns, dot) {
                tracing::warn!(volume = %name, %ns, %dot, error = %e, "cannot delete a reclaimed dot yet");
                continue;
            }
            tracing::info!(volume = %name, %ns, %dot, "deleted the dot of a released volume");
        }
        match volumes.delete(&name, &DeleteParams::default()).await {
            Ok(_) => tracing::info!(volume = %name, "deleted a released volume"),
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn describe(pv: &PersistentVolume) -> String {
    let get = |k: &str| {
        attributes(pv)
            .and_then(|o| o.get(k))
            .cloned()
            .unwrap_or_default()
    };
    match get("subdot").as_str() {
        "" => format!("{}/{}", get("namespace"), get("name")),
        s => format!("{}/{}.{s}", get("namespace"), get("name")),
    }
}

/// Records an event on the claim, once per claim and message.
async fn event(
    client: &kube::Client,
    claim: &PersistentVolumeClaim,
    kind: &str,
    reason: &str,
    message: &str,
    told: &mut HashSet<(String, String)>,
) {
    let uid = claim.metadata.uid.clone().unwrap_or_default();
    if !told.insert((uid.clone(), message.to_string())) {
        return;
    }
    let ns = claim.metadata.namespace.clone().unwrap_or("default".into());
    let now = chrono_now();
    let ev = Event {
        metadata: ObjectMeta {
            generate_name: Some(format!(
                "{}.",
                claim.metadata.name.clone().unwrap_or_default()
            )),
            namespace: Some(ns.clone()),
            ..ObjectMeta::default()
        },
        involved_object: ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("PersistentVolumeClaim".into()),
            namespace: Some(ns.clone()),
            name: claim.metadata.name.clone(),
            uid: Some(uid),
            ..ObjectReference::default()
        },
        reason: Some(reason.into()),
        message: Some(message.into()),
        type_: Some(kind.into()),
        source: Some(k8s_openapi::api::core::v1::EventSource {
            component: Some(NAME.into()),
            host: None,
        }),
        first_timestamp: Some(Time(now)),
        last_timestamp: Some(Time(now)),
        event_time: None::<MicroTime>,
        count: Some(1),
        ..Event::default()
    };
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    if let Err(e) = events.create(&PostParams::default(), &ev).await {
        tracing::warn!(error = %e, reason, "cannot record an event");
    }
}

fn chrono_now() -> k8s_openapi::jiff::Timestamp {
    k8s_openapi::jiff::Timestamp::now()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        PersistentVolumeClaimSpec, PersistentVolumeClaimStatus, PersistentVolumeStatus,
        VolumeResourceRequirements,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

    fn claim(notes: &[(&str, &str)]) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some("grapes".into()),
                namespace: Some("web".into()),
                uid: Some("u-1".into()),
                annotations: Some(
                    notes
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string()))
                        .collect(),
                ),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                storage_class_name: Some("dotmesh".into()),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_string(),
                        Quantity("1Gi".into()),
                    )])),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            status: Some(PersistentVolumeClaimStatus {
                phase: Some("Pending".into()),
                ..Default::default()
            }),
        }
    }

    fn class(params: &[(&str, &str)], reclaim: Option<&str>) -> StorageClass {
        StorageClass {
            metadata: ObjectMeta {
                name: Some("dotmesh".into()),
                ..ObjectMeta::default()
            },
            provisioner: NAME.into(),
            parameters: Some(
                params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            reclaim_policy: reclaim.map(str::to_string),
            ..StorageClass::default()
        }
    }

    const OURS: (&str, &str) = ("volume.beta.kubernetes.io/storage-provisioner", NAME);

    fn created(p: Provision) -> PersistentVolume {
        match p {
            Provision::Create(pv) => *pv,
            other => panic!("expected a volume, got {other:?}"),
        }
    }

    #[test]
    fn a_claim_of_ours_gets_a_flexvolume_pv_naming_its_dot() {
        let c = claim(&[OURS, (A_NAME, "dynamic-grapes"), (A_SUBDOT, "static-html")]);
        let pv = created(provision(
            &c,
            Some(&class(&[(A_NAMESPACE, "k8s")], None)),
            NAME,
        ));
        assert_eq!(pv.metadata.name.as_deref(), Some("pvc-u-1"));
        let notes = pv.metadata.annotations.unwrap();
        assert_eq!(notes[PROVISIONED_BY], NAME);
        let spec = pv.spec.unwrap();
        let flex = spec.flex_volume.unwrap();
        assert_eq!(flex.driver, "dotmesh.io/dm");
        let opts = flex.options.unwrap();
        assert_eq!(
            (
                &opts["namespace"][..],
                &opts["name"][..],
                &opts["subdot"][..]
            ),
            ("k8s", "dynamic-grapes", "static-html")
        );
        assert_eq!(
            spec.persistent_volume_reclaim_policy.as_deref(),
            Some("Delete")
        );
        assert_eq!(spec.storage_class_name.as_deref(), Some("dotmesh"));
        assert_eq!(
            spec.access_modes.unwrap(),
            vec!["ReadWriteOnce".to_string()]
        );
        assert_eq!(spec.capacity.unwrap()["storage"], Quantity("1Gi".into()));
        let r = spec.claim_ref.unwrap();
        assert_eq!(
            (r.namespace.as_deref(), r.name.as_deref(), r.uid.as_deref()),
            (Some("web"), Some("grapes"), Some("u-1"))
        );
    }

    #[test]
    fn names_come_from_the_class_then_the_claim_then_defaults() {
        let gated = ("volume.kubernetes.io/storage-provisioner", NAME);
        let pv = created(provision(&claim(&[gated]), None, NAME));
        let opts = pv.spec.unwrap().flex_volume.unwrap().options.unwrap();
        assert_eq!(
            (&opts["namespace"][..], &opts["name"][..]),
            ("admin", "grapes")
        );
        let c = claim(&[OURS, (A_NAMESPACE, "team")]);
        let pv = created(provision(
            &c,
            Some(&class(&[(A_NAMESPACE, "k8s")], Some("Retain"))),
            NAME,
        ));
        let spec = pv.spec.unwrap();
        assert_eq!(
            spec.flex_volume.unwrap().options.unwrap()["namespace"],
            "team"
        );
        assert_eq!(
            spec.persistent_volume_reclaim_policy.as_deref(),
            Some("Retain")
        );
    }

    #[test]
    fn a_class_may_ask_for_csi_volumes() {
        let c = claim(&[OURS, (A_NAME, "berries")]);
        let pv = created(provision(
            &c,
            Some(&class(&[(P_SOURCE, "csi")], None)),
            NAME,
        ));
        let spec = pv.spec.unwrap();
        assert!(spec.flex_volume.is_none());
        let csi = spec.csi.unwrap();
        assert_eq!(csi.driver, "csi.dotmesh.io");
        assert_eq!(csi.volume_handle, "admin/berries");
        assert_eq!(csi.volume_attributes.unwrap()["name"], "berries");
        match provision(&c, Some(&class(&[(P_SOURCE, "nfs")], None)), NAME) {
            Provision::Refuse(why) => assert!(why.contains("'flexvolume'"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn claims_not_ours_or_already_bound_are_left_alone() {
        let other = (
            "volume.beta.kubernetes.io/storage-provisioner",
            "someone/else",
        );
        assert_eq!(provision(&claim(&[other]), None, NAME), Provision::Skip);
        assert_eq!(provision(&claim(&[]), None, NAME), Provision::Skip);
        let mut bound = claim(&[OURS]);
        bound.spec.as_mut().unwrap().volume_name = Some("pv-1".into());
        assert_eq!(provision(&bound, None, NAME), Provision::Skip);
        let mut gone = claim(&[OURS]);
        gone.status.as_mut().unwrap().phase = Some("Lost".into());
        assert_eq!(provision(&gone, None, NAME), Provision::Skip);
    }

    #[test]
    fn bad_names_are_refused_with_what_to_fix() {
        for (k, v, says) in [
            (A_NAME, "no way!", "dot name"),
            (A_NAMESPACE, "../x", "dot namespace"),
            (A_SUBDOT, "_private", "subdot"),
        ] {
            match provision(&claim(&[OURS, (k, v)]), None, NAME) {
                Provision::Refuse(why) => assert!(why.contains(says), "{why}"),
                other => panic!("{k}={v}: {other:?}"),
            }
        }
        let mut sizeless = claim(&[OURS]);
        sizeless.spec.as_mut().unwrap().resources = None;
        assert!(
            matches!(provision(&sizeless, None, NAME), Provision::Refuse(w) if w.contains("size"))
        );
    }

    fn volume(name: &str, dot: &str, phase: &str, policy: &str, ours: bool) -> PersistentVolume {
        let mut pv = created(provision(
            &claim(&[OURS, (A_NAME, dot)]),
            Some(&class(&[], Some(policy))),
            NAME,
        ));
        pv.metadata.name = Some(name.into());
        if !ours {
            pv.metadata.annotations = None;
        }
        pv.status = Some(PersistentVolumeStatus {
            phase: Some(phase.into()),
            ..Default::default()
        });
        pv
    }

    #[test]
    fn released_volumes_go_by_their_policy_and_dots_only_when_unused() {
        let a = volume("a", "apples", "Released", "Delete", true);
        assert_eq!(
            reclaim(&a, std::slice::from_ref(&a), NAME),
            Reclaim::VolumeAndDot("admin".into(), "apples".into())
        );
        // Another PV (even a static one) still mounts the dot: only the volume goes.
        let b = volume("b", "apples", "Bound", "Retain", false);
        assert_eq!(reclaim(&a, &[a.clone(), b.clone()], NAME), Reclaim::Volume);
        assert_eq!(reclaim(&b, &[a.clone(), b.clone()], NAME), Reclaim::Keep);
        let kept = volume("c", "cherries", "Released", "Retain", true);
        assert_eq!(
            reclaim(&kept, std::slice::from_ref(&kept), NAME),
            Reclaim::Keep
        );
        let bound = volume("d", "dates", "Bound", "Delete", true);
        assert_eq!(
            reclaim(&bound, std::slice::from_ref(&bound), NAME),
            Reclaim::Keep
        );
        let theirs = volume("e", "elder", "Released", "Delete", false);
        assert_eq!(
            reclaim(&theirs, std::slice::from_ref(&theirs), NAME),
            Reclaim::Keep
        );
    }
}
