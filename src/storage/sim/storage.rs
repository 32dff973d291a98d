//! The [`Storage`] trait on the simulated pool: each call checks what ZFS would refuse, records
//! itself, and changes the in-memory datasets (and a mounted filesystem's directory).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use super::*;
use crate::storage::layout::role_in_pool;

/// The branch snapshot `fs` was cloned from, as (filesystem id, snapshot).
fn branch_origin(fs: &Fs) -> Option<(crate::storage::FsId, String)> {
    let (o, s) = fs.origin.as_ref()?;
    match role_in_pool(o)? {
        Role::Branch(f) => Some((f, s.clone())),
        _ => None,
    }
}

impl Storage for SimStorage {
    fn pool_name(&self) -> &str {
        self.layout.pool()
    }

    fn mount_dir(&self) -> &std::path::Path {
        self.layout.mount_dir()
    }

    fn mountpoint(&self, fs_id: &str) -> PathBuf {
        self.layout.mountpoint(fs_id)
    }

    fn view_mountpoint(&self, id: &str) -> PathBuf {
        self.layout.view_mountpoint(id)
    }

    fn prepare(&self) -> Result<()> {
        std::fs::create_dir_all(self.layout.mount_dir())
            .map_err(|e| failed("mkdir", &e.to_string()))
    }

    fn create(
        &self,
        ds: Ds<'_>,
        origin: Option<(&crate::storage::FsId, &str)>,
        props: Props<'_>,
    ) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        self.enter(&mut st, "create", rel.clone())?;
        if st.datasets.contains_key(&rel) {
            return Err(Error::AlreadyExists(rel));
        }
        let (live, origin) = match origin {
            Some((fs, snap)) => {
                let orel = Layout::rel(Ds::Branch(fs));
                let tree = snap_of(get(&st, &orel)?, &orel, snap)?.tree.clone();
                (tree, Some((orel, snap.to_string())))
            }
            None => (Tree::new(), None),
        };
        let fs = Fs {
            props: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            origin,
            live,
            ..Fs::default()
        };
        st.datasets.insert(rel, fs);
        Ok(())
    }

    fn exists(&self, ds: Ds<'_>) -> Result<bool> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .datasets
            .contains_key(&Layout::rel(ds)))
    }

    fn destroy(&self, ds: Ds<'_>) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        let fs = get(&st, &rel)?;
        if fs.busy && fs.mounted {
            return Err(Error::Busy(rel));
        }
        if Self::has_clones(&st, &rel, None) {
            return Err(Error::HasDependents {
                target: rel,
                stderr: "filesystem has dependent clones".into(),
            });
        }
        self.enter(&mut st, "destroy", rel.clone())?;
        let fs = st.datasets.remove(&rel).expect("checked above");
        if let (true, Some(mp)) = (fs.mounted, Self::mountpoint_of(&fs)) {
            let _ = std::fs::remove_dir_all(mp);
        }
        Ok(())
    }

    fn promote(&self, ds: Ds<'_>) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        let Some((orel, snap)) = get(&st, &rel)?.origin.clone() else {
            return Err(failed("promote", "not a clone"));
        };
        self.enter(&mut st, "promote", rel.clone())?;
        let origin = get_mut(&mut st, &orel)?;
        let at = origin
            .snaps
            .iter()
            .position(|s| s.name == snap)
            .ok_or_else(|| Error::NotFound(format!("{orel}@{snap}")))?;
        let moved: Vec<_> = origin.snaps.drain(..=at).collect();
        let names: Vec<String> = moved.iter().map(|s| s.name.clone()).collect();
        let grand = origin.origin.replace((rel.clone(), snap));
        let clone = get_mut(&mut st, &rel)?;
        clone.origin = grand;
        let own = std::mem::take(&mut clone.snaps);
        clone.snaps = moved.into_iter().chain(own).collect();
        // Clones of the moved snapshots now hang off the promoted filesystem.
        for (name, f) in st.datasets.iter_mut() {
            if name == &orel {
                continue;
            }
            if let Some((o, s)) = f.origin.as_mut()
                && *o == orel
                && names.contains(s)
            {
                *o = rel.clone();
            }
        }
        Ok(())
    }

    fn rename(&self, from: Ds<'_>, to: Ds<'_>) -> Result<()> {
        let (from, to) = (Layout::rel(from), Layout::rel(to));
        let mut st = self.state.lock().unwrap();
        get(&st, &from)?;
        if st.datasets.contains_key(&to) {
            return Err(Error::AlreadyExists(to));
        }
        self.enter(&mut st, "rename", format!("{from} {to}"))?;
        let fs = st.datasets.remove(&from).expect("checked above");
        st.datasets.insert(to.clone(), fs);
        for f in st.datasets.values_mut() {
            if let Some((o, _)) = f.origin.as_mut()
                && *o == from
            {
                *o = to.clone();
            }
        }
        Ok(())
    }

    fn property(&self, ds: Ds<'_>, prop: &str) -> Result<Option<String>> {
        let st = self.state.lock().unwrap();
        let rel = Layout::rel(ds);
        let fs = get(&st, &rel)?;
        Ok(match prop {
            "mounted" => Some(if fs.mounted { "yes" } else { "no" }.into()),
            "origin" => fs
                .origin
                .as_ref()
                .map(|(o, s)| format!("{}/{o}@{s}", self.layout.pool())),
            "referenced" => Some(size(&Self::current(fs)).to_string()),
            _ => fs.props.get(prop).cloned(),
        })
    }

    fn set_properties(&self, ds: Ds<'_>, props: &[(String, String)]) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        get(&st, &rel)?;
        for (k, v) in props {
            self.enter(&mut st, "set_properties", format!("{rel} {k}={v}"))?;
            let fs = get_mut(&mut st, &rel)?;
            if k == "mountpoint" && fs.mounted {
                // ZFS remounts at the new place (or unmounts for `none`).
                let tree = Self::current(fs);
                if let Some(old) = Self::mountpoint_of(fs) {
                    let _ = std::fs::remove_dir_all(old);
                }
                fs.mounted = false;
                fs.live = tree;
                fs.props.insert(k.clone(), v.clone());
                if let Some(mp) = Self::mountpoint_of(fs) {
                    write_tree(&mp, &fs.live)?;
                    fs.mounted = true;
                }
                continue;
            }
            fs.props.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    fn origin(&self, ds: Ds<'_>) -> Result<Option<(crate::storage::FsId, String)>> {
        let st = self.state.lock().unwrap();
        let fs = get(&st, &Layout::rel(ds))?;
        Ok(branch_origin(fs))
    }

    fn referenced(&self, ds: Ds<'_>) -> Result<u64> {
        let st = self.state.lock().unwrap();
        Ok(size(&Self::current(get(&st, &Layout::rel(ds))?)))
    }

    fn is_mounted(&self, ds: Ds<'_>) -> Result<bool> {
        let st = self.state.lock().unwrap();
        match st.datasets.get(&Layout::rel(ds)) {
            Some(fs) => Ok(fs.mounted),
            None if matches!(ds, Ds::Branch(_)) => Ok(false),
            None => Err(Error::NotFound(Layout::rel(ds))),
        }
    }

    fn mount(&self, ds: Ds<'_>) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        if get(&st, &rel)?.mounted {
            return Ok(());
        }
        self.enter(&mut st, "mount", rel.clone())?;
        let fs = get_mut(&mut st, &rel)?;
        let mp = Self::mountpoint_of(fs).ok_or_else(|| failed("mount", "no mountpoint set"))?;
        write_tree(&mp, &fs.live)?;
        fs.mounted = true;
        Ok(())
    }

    fn unmount(&self, ds: Ds<'_>) -> Result<bool> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        let fs = get(&st, &rel)?;
        if !fs.mounted {
            return Ok(false);
        }
        if fs.busy {
            return Err(Error::Busy(rel));
        }
        self.enter(&mut st, "unmount", rel.clone())?;
        let fs = get_mut(&mut st, &rel)?;
        fs.live = Self::current(fs);
        if let Some(mp) = Self::mountpoint_of(fs) {
            let _ = std::fs::remove_dir_all(&mp);
            let _ = std::fs::create_dir_all(&mp);
        }
        fs.mounted = false;
        Ok(true)
    }

    fn snapshot(&self, ds: Ds<'_>, name: &str, props: Props<'_>) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        let fs = get(&st, &rel)?;
        if fs.snaps.iter().any(|s| s.name == name) {
            return Err(Error::AlreadyExists(format!("{rel}@{name}")));
        }
        self.enter(&mut st, "snapshot", format!("{rel}@{name}"))?;
        let txg = Self::txg(&mut st);
        let guid = st.guid_base | txg;
        let fs = get_mut(&mut st, &rel)?;
        let tree = Self::current(fs);
        fs.snaps.push(Snap {
            name: name.to_string(),
            guid,
            txg,
            tree,
            props: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        });
        Ok(())
    }

    fn snapshots(&self, ds: Ds<'_>) -> Result<Vec<String>> {
        let st = self.state.lock().unwrap();
        let fs = get(&st, &Layout::rel(ds))?;
        Ok(fs.snaps.iter().map(|s| s.name.clone()).collect())
    }

    fn has_snapshot(&self, ds: Ds<'_>, name: &str) -> Result<bool> {
        let st = self.state.lock().unwrap();
        Ok(st
            .datasets
            .get(&Layout::rel(ds))
            .is_some_and(|fs| fs.snaps.iter().any(|s| s.name == name)))
    }

    fn destroy_snapshot(&self, ds: Ds<'_>, name: &str) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        snap_of(get(&st, &rel)?, &rel, name)?;
        if Self::has_clones(&st, &rel, Some(name)) {
            return Err(Error::HasDependents {
                target: format!("{rel}@{name}"),
                stderr: "snapshot has dependent clones".into(),
            });
        }
        self.enter(&mut st, "destroy_snapshot", format!("{rel}@{name}"))?;
        get_mut(&mut st, &rel)?.snaps.retain(|s| s.name != name);
        Ok(())
    }

    fn set_snapshot_properties(
        &self,
        ds: Ds<'_>,
        name: &str,
        props: &[(String, String)],
    ) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        snap_of(get(&st, &rel)?, &rel, name)?;
        self.enter(&mut st, "set_snapshot_properties", format!("{rel}@{name}"))?;
        let fs = get_mut(&mut st, &rel)?;
        let snap = fs
            .snaps
            .iter_mut()
            .find(|s| s.name == name)
            .expect("checked");
        snap.props.extend(props.iter().cloned());
        Ok(())
    }

    fn guid(&self, ds: Ds<'_>, name: &str) -> Result<String> {
        let rel = Layout::rel(ds);
        let st = self.state.lock().unwrap();
        Ok(snap_of(get(&st, &rel)?, &rel, name)?.guid.to_string())
    }

    fn snapshot_referenced(&self, ds: Ds<'_>, name: &str) -> Result<u64> {
        let rel = Layout::rel(ds);
        let st = self.state.lock().unwrap();
        Ok(size(&snap_of(get(&st, &rel)?, &rel, name)?.tree))
    }

    fn snapshot_used(&self, ds: Ds<'_>, name: &str) -> Result<u64> {
        let rel = Layout::rel(ds);
        let st = self.state.lock().unwrap();
        let fs = get(&st, &rel)?;
        let at = fs
            .snaps
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| Error::NotFound(format!("{rel}@{name}")))?;
        // Files of this snapshot that neither neighbour holds the same.
        let next = match fs.snaps.get(at + 1) {
            Some(s) => s.tree.clone(),
            None => Self::current(fs),
        };
        let prev = at.checked_sub(1).map(|i| &fs.snaps[i].tree);
        Ok(fs.snaps[at]
            .tree
            .iter()
            .filter(|(k, v)| next.get(*k) != Some(*v) && prev.and_then(|p| p.get(*k)) != Some(*v))
            .map(|(_, v)| v.as_ref().map_or(0, |b| b.len() as u64))
            .sum())
    }

    fn rollback(&self, ds: Ds<'_>, name: &str, how: Rollback) -> Result<()> {
        let rel = Layout::rel(ds);
        let mut st = self.state.lock().unwrap();
        let fs = get(&st, &rel)?;
        let at = fs
            .snaps
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| Error::NotFound(format!("{rel}@{name}")))?;
        let later: Vec<String> = fs.snaps[at + 1..].iter().map(|s| s.name.clone()).collect();
        if how == Rollback::Newest && !later.is_empty() {
            return Err(failed(
                "rollback",
                "more recent snapshots exist; use '-r' to force deletion",
            ));
        }
        if let Some(l) = later.iter().find(|l| Self::has_clones(&st, &rel, Some(l))) {
            return Err(Error::HasDependents {
                target: format!("{rel}@{l}"),
                stderr: "snapshot has dependent clones".into(),
            });
        }
        self.enter(&mut st, "rollback", format!("{rel}@{name}"))?;
        let fs = get_mut(&mut st, &rel)?;
        fs.snaps.truncate(at + 1);
        let tree = fs.snaps[at].tree.clone();
        Self::put(fs, tree)
    }

    fn differs(&self, ds: Ds<'_>, newer: &str, older: (Ds<'_>, &str)) -> Result<bool> {
        let (rel, orel) = (Layout::rel(ds), Layout::rel(older.0));
        let st = self.state.lock().unwrap();
        let (fs, ofs) = (get(&st, &rel)?, get(&st, &orel)?);
        Ok(snap_of(fs, &rel, newer)?.tree != snap_of(ofs, &orel, older.1)?.tree)
    }

    fn send(
        &self,
        ds: Ds<'_>,
        to: &str,
        from: Option<(Ds<'_>, &str)>,
        intermediates: bool,
    ) -> Result<Box<dyn Sending>> {
        let rel = Layout::rel(ds);
        let st = self.state.lock().unwrap();
        let fs = get(&st, &rel)?;
        let end = fs
            .snaps
            .iter()
            .position(|s| s.name == to)
            .ok_or_else(|| Error::NotFound(format!("{rel}@{to}")))?;
        let (base, start) = match from {
            None => (None, end),
            Some((fds, fname)) => {
                let frel = Layout::rel(fds);
                let ffs = get(&st, &frel)?;
                let base = snap_of(ffs, &frel, fname)?.guid;
                let start = if frel == rel {
                    let at = fs
                        .snaps
                        .iter()
                        .position(|s| s.name == fname)
                        .expect("found");
                    if at >= end {
                        return Err(failed("send", "incremental source is not earlier"));
                    }
                    if intermediates { at + 1 } else { end }
                } else {
                    end
                };
                (Some(base), start)
            }
        };
        let stream = Stream {
            base,
            snaps: fs.snaps[start..=end].to_vec(),
        };
        let bytes = serde_json::to_vec(&stream).expect("stream serialises");
        Ok(Box::new(SimSending(std::io::Cursor::new(bytes))))
    }

    fn receive(&self, ds: Ds<'_>, existing: bool, input: Input<'_>) -> Result<u64> {
        let rel = Layout::rel(ds);
        let mut bytes = Vec::new();
        let read = match input {
            Input::Read(r) => r.read_to_end(&mut bytes),
            Input::Splice { from, progress } => from
                .try_clone_to_owned()
                .and_then(|fd| std::fs::File::from(fd).read_to_end(&mut bytes))
                .and_then(|n| progress(n as u64).map(|()| n)),
        };
        read.map_err(|e| failed("receive", &e.to_string()))?;
        let stream: Stream = serde_json::from_slice(&bytes)
            .map_err(|_| Error::BadStream("invalid or truncated stream".into()))?;
        if stream.snaps.is_empty() {
            return Err(Error::BadStream("a stream without snapshots".into()));
        }
        let mut st = self.state.lock().unwrap();
        self.enter(&mut st, "receive", rel.clone())?;
        let mut snaps = stream.snaps;
        for s in &mut snaps {
            s.txg = Self::txg(&mut st);
        }
        if existing {
            let fs = get(&st, &rel)?;
            let newest = fs.snaps.last().map(|s| s.guid);
            if stream.base.is_none() || stream.base != newest {
                return Err(failed(
                    "receive",
                    "most recent snapshot does not match incremental source",
                ));
            }
            if fs.busy {
                return Err(Error::Busy(rel));
            }
            let fs = get_mut(&mut st, &rel)?;
            let tree = snaps.last().expect("a stream has snapshots").tree.clone();
            fs.snaps.extend(snaps);
            Self::put(fs, tree)?;
        } else {
            if st.datasets.contains_key(&rel) {
                return Err(Error::AlreadyExists(rel));
            }
            let origin = match stream.base {
                None => None,
                Some(g) => Some(
                    st.datasets
                        .iter()
                        .find_map(|(k, f)| {
                            f.snaps
                                .iter()
                                .find(|s| s.guid == g)
                                .map(|s| (k.clone(), s.name.clone()))
                        })
                        .ok_or_else(|| {
                            failed("receive", "local origin for clone does not exist")
                        })?,
                ),
            };
            let live = snaps.last().expect("a stream has snapshots").tree.clone();
            st.datasets.insert(
                rel,
                Fs {
                    origin,
                    snaps,
                    live,
                    ..Fs::default()
                },
            );
        }
        Ok(bytes.len() as u64)
    }

    fn list(
        &self,
        fs_props: &[&str],
        snap_props: &[&str],
    ) -> Result<(Vec<Listed>, Vec<ListedSnapshot>)> {
        let st = self.state.lock().unwrap();
        let pick = |props: &BTreeMap<String, String>, want: &[&str]| {
            props
                .iter()
                .filter(|(k, _)| want.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        let mut filesystems = Vec::new();
        let mut snapshots = Vec::new();
        for (rel, fs) in &st.datasets {
            let Some(role) = role_in_pool(rel) else {
                continue;
            };
            let mut props = pick(&fs.props, fs_props);
            if fs_props.contains(&"readonly") && !props.contains_key("readonly") {
                props.insert("readonly".into(), "off".into());
            }
            filesystems.push(Listed {
                role: role.clone(),
                origin: branch_origin(fs),
                props,
            });
            for s in &fs.snaps {
                snapshots.push((
                    s.txg,
                    ListedSnapshot {
                        role: role.clone(),
                        name: s.name.clone(),
                        props: pick(&s.props, snap_props),
                    },
                ));
            }
        }
        // Creation order across the pool, as ZFS lists them.
        snapshots.sort_by_key(|(g, _)| *g);
        Ok((filesystems, snapshots.into_iter().map(|(_, s)| s).collect()))
    }

    fn space(&self) -> Result<(u64, u64)> {
        Ok(self.state.lock().unwrap().space.unwrap_or((0, 1 << 40)))
    }

    fn sizes(&self, fs_ids: Option<&[crate::storage::FsId]>) -> Result<Sizes> {
        let st = self.state.lock().unwrap();
        let mut out = Sizes::new();
        for (rel, fs) in &st.datasets {
            let Some(Role::Branch(id)) = role_in_pool(rel) else {
                continue;
            };
            if fs_ids.is_some_and(|ids| !ids.contains(&id)) {
                continue;
            }
            let now = Self::current(fs);
            let used = size(&now) + fs.snaps.iter().map(|s| size(&s.tree)).sum::<u64>();
            let dirty = match fs.snaps.last() {
                Some(s) if s.tree == now => 0,
                _ => size(&now),
            };
            out.insert(id, (used, dirty));
        }
        Ok(out)
    }
}
