//! Planning the transfer of one branch's commits: which streams bring a receiver up to the
//! sender. One rule serves `dm push`/`pull`/`clone` (the client runs the steps through the two
//! daemons) and replication between nodes (a daemon pulls them): the first commit goes in full
//! — or, for a branch, as a clone of the commit it grew from — and everything after the newest
//! commit both sides have goes as one increment. zrepl's replication planner is the model.

/// Where a stream starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Base {
    /// The first commit of a dot, in full.
    Full,
    /// The first commit of a branch, as a clone of the commit it grew from.
    Origin,
    /// An increment from the sender's commit at this index.
    Commit(usize),
}

/// One stream: the sender's commits `first..=last`, starting from `base`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub base: Base,
    pub first: usize,
    pub last: usize,
}

/// What a receiver needs, from the two sides' commit ids (oldest first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// How many of the sender's commits, from its oldest, go up to the newest commit both
    /// sides have (0: none in common).
    pub common: usize,
    /// The same count in the receiver's commits: they differ when either side removed older
    /// commits the other still has (`dm prune`), which no transfer needs.
    pub receiver_common: usize,
    /// Receiver commits after those: the branches diverged, and they must go before any step
    /// (a replica rolls them back; `dm push --force` resets the far branch).
    pub extra: usize,
    /// The streams, in order; none when the receiver is up to date.
    pub steps: Vec<Step>,
}

/// Plans how `receiver` (commit ids, oldest first; empty when it has none) catches up with
/// `sender`; `branched`: the sender's branch grew from another branch's commit, which the
/// receiver holds, so its first stream is a clone stream from it.
pub fn plan<S: AsRef<str>, R: AsRef<str>>(sender: &[S], receiver: &[R], branched: bool) -> Plan {
    // The newest receiver commit the sender also has: older ones either side lacks do not
    // matter, since everything after it goes as one increment.
    let index: std::collections::HashMap<&str, usize> = sender
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_ref(), i))
        .collect();
    let (common, receiver_common) = receiver
        .iter()
        .enumerate()
        .rev()
        .find_map(|(j, c)| index.get(c.as_ref()).map(|&i| (i + 1, j + 1)))
        .unwrap_or((0, 0));
    let extra = receiver.len() - receiver_common;
    let last = sender.len().saturating_sub(1);
    let mut steps = Vec::new();
    if sender.is_empty() || common == sender.len() {
        return Plan {
            common,
            receiver_common,
            extra,
            steps,
        };
    }
    if common == 0 {
        let base = if branched { Base::Origin } else { Base::Full };
        steps.push(Step {
            base,
            first: 0,
            last: 0,
        });
        if last > 0 {
            steps.push(Step {
                base: Base::Commit(0),
                first: 1,
                last,
            });
        }
    } else {
        steps.push(Step {
            base: Base::Commit(common - 1),
            first: common,
            last,
        });
    }
    Plan {
        common,
        receiver_common,
        extra,
        steps,
    }
}

/// How many of a step's commits, from its first, the receiver already holds whole from an
/// interrupted transfer (`arrived`: id and snapshot GUID, oldest first) with the sender's very
/// data (`sender_guids`, for the same commits in order). Only those may be kept instead of sent
/// again: equal ids with other GUIDs are other data.
pub fn already_arrived(step: &[&str], arrived: &[(&str, &str)], sender_guids: &[&str]) -> usize {
    step.iter()
        .zip(arrived)
        .zip(sender_guids)
        .take_while(|((id, (a_id, a_guid)), guid)| *id == a_id && a_guid == *guid)
        .count()
}

/// The ids of a step's leading commits that arrived in an interrupted transfer (before their
/// GUIDs are compared with [`already_arrived`]).
pub fn arrived_ids<'a>(step: &[&'a str], arrived: &[&str]) -> Vec<&'a str> {
    step.iter()
        .zip(arrived)
        .take_while(|(id, a)| id == a)
        .map(|(id, _)| *id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONE: [&str; 0] = [];

    #[test]
    fn a_new_receiver_gets_the_first_commit_in_full_then_one_increment() {
        let p = plan(&["a", "b", "c"], &NONE, false);
        assert_eq!((p.common, p.extra), (0, 0));
        assert_eq!(
            p.steps,
            [
                Step {
                    base: Base::Full,
                    first: 0,
                    last: 0
                },
                Step {
                    base: Base::Commit(0),
                    first: 1,
                    last: 2
                }
            ]
        );
    }

    #[test]
    fn a_single_commit_is_one_stream() {
        let p = plan(&["a"], &NONE, false);
        assert_eq!(p.steps.len(), 1);
        assert_eq!(p.steps[0].base, Base::Full);
    }

    #[test]
    fn a_branch_new_to_the_receiver_starts_as_a_clone_of_its_origin() {
        let p = plan(&["a", "b"], &NONE, true);
        assert_eq!(p.steps[0].base, Base::Origin);
        assert_eq!(p.steps[1].base, Base::Commit(0));
    }

    #[test]
    fn an_increment_starts_at_the_newest_common_commit() {
        let p = plan(&["a", "b", "c", "d"], &["a", "b"], false);
        assert_eq!((p.common, p.extra), (2, 0));
        assert_eq!(
            p.steps,
            [Step {
                base: Base::Commit(1),
                first: 2,
                last: 3
            }]
        );
    }

    #[test]
    fn an_up_to_date_receiver_needs_nothing() {
        let p = plan(&["a", "b"], &["a", "b"], false);
        assert!(p.steps.is_empty());
        assert_eq!((p.common, p.extra), (2, 0));
        assert!(plan(&NONE, &NONE, false).steps.is_empty());
    }

    #[test]
    fn receiver_commits_the_sender_lacks_are_counted_as_divergence() {
        let p = plan(&["a", "b", "c"], &["a", "x", "y"], false);
        assert_eq!((p.common, p.extra), (1, 2));
        assert_eq!(p.steps[0].base, Base::Commit(0));
        let p = plan(&["a", "b"], &["a", "b", "z"], false);
        assert_eq!((p.common, p.extra), (2, 1));
        assert!(
            p.steps.is_empty(),
            "nothing to send once the extra commit is gone"
        );
        let p = plan(&["a"], &["q"], false);
        assert_eq!((p.common, p.extra), (0, 1));
    }

    #[test]
    fn commits_pruned_on_either_side_do_not_count_as_divergence() {
        // The sender pruned b: the receiver's b is history it may keep.
        let p = plan(&["a", "c", "d"], &["a", "b", "c"], false);
        assert_eq!((p.common, p.receiver_common, p.extra), (2, 3, 0));
        assert_eq!(
            p.steps,
            [Step {
                base: Base::Commit(1),
                first: 2,
                last: 2
            }]
        );
        // The receiver pruned a and b: c is still the base.
        let p = plan(&["a", "b", "c", "d"], &["c"], false);
        assert_eq!((p.common, p.receiver_common, p.extra), (3, 1, 0));
        assert_eq!(p.steps[0].base, Base::Commit(2));
        // Divergence is what the receiver has after the newest common commit.
        let p = plan(&["a", "c"], &["a", "b", "c", "x"], false);
        assert_eq!((p.common, p.receiver_common, p.extra), (2, 3, 1));
    }

    #[test]
    fn only_commits_that_arrived_with_the_senders_data_are_kept() {
        let step = ["a", "b", "c"];
        assert_eq!(arrived_ids(&step, &["a", "b"]), ["a", "b"]);
        assert_eq!(arrived_ids(&step, &["x", "b"]), NONE);
        let arrived = [("a", "g1"), ("b", "g2")];
        assert_eq!(already_arrived(&step, &arrived, &["g1", "g2"]), 2);
        assert_eq!(already_arrived(&step, &arrived, &["g1", "other"]), 1);
        assert_eq!(already_arrived(&step, &arrived, &["other", "g2"]), 0);
    }
}
