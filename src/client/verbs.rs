//! The API's verbs as client calls: one method per route (dots, branches, commits, cluster
//! membership, transfers), built on the transport in the parent module.

use super::{Client, ClientError, Incoming, Upgraded, upgrade};
use crate::api;
use crate::routes::{At, OnBranch, Route};

/// The path of `verb` on branch `at`.
fn on(at: At<'_>, verb: OnBranch) -> String {
    Route::On(at, verb).path()
}

impl Client {
    pub fn ping(&self) -> Result<api::Ping, ClientError> {
        self.get(&Route::Ping.path())
    }

    pub fn list(&self) -> Result<Vec<api::DotInfo>, ClientError> {
        self.get(&Route::Dots.path())
    }

    pub fn create_dot(&self, ns: &str, name: &str) -> Result<api::DotInfo, ClientError> {
        let body = api::CreateDot {
            namespace: ns.into(),
            name: name.into(),
        };
        self.post(&Route::Dots.path(), &body)
    }

    pub fn show(&self, ns: &str, name: &str) -> Result<api::DotInfo, ClientError> {
        self.get(&Route::Dot { ns, dot: name }.path())
    }

    pub fn delete_dot(&self, ns: &str, name: &str) -> Result<serde_json::Value, ClientError> {
        self.delete(&Route::Dot { ns, dot: name }.path())
    }

    pub fn branches(&self, ns: &str, name: &str) -> Result<Vec<api::BranchInfo>, ClientError> {
        self.get(&Route::Branches { ns, dot: name }.path())
    }

    pub fn create_branch(
        &self,
        ns: &str,
        name: &str,
        req: &api::CreateBranch,
    ) -> Result<api::BranchInfo, ClientError> {
        self.post(&Route::Branches { ns, dot: name }.path(), req)
    }

    pub fn tags(&self, ns: &str, name: &str) -> Result<Vec<api::TagInfo>, ClientError> {
        self.get(&Route::Tags { ns, dot: name }.path())
    }

    pub fn create_tag(
        &self,
        ns: &str,
        name: &str,
        req: &api::CreateTag,
    ) -> Result<api::TagInfo, ClientError> {
        self.post(&Route::Tags { ns, dot: name }.path(), req)
    }

    pub fn delete_tag(
        &self,
        ns: &str,
        name: &str,
        tag: &str,
    ) -> Result<serde_json::Value, ClientError> {
        self.delete(&Route::Tag { ns, dot: name, tag }.path())
    }

    pub fn delete_branch(
        &self,
        ns: &str,
        name: &str,
        br: &str,
    ) -> Result<serde_json::Value, ClientError> {
        self.delete(&Route::Branch(At::new((ns, name, br))).path())
    }

    pub fn log(&self, ns: &str, name: &str, br: &str) -> Result<Vec<api::CommitInfo>, ClientError> {
        self.get(&on(At::new((ns, name, br)), OnBranch::Commits))
    }

    /// The history from `rev` back (`dm log -r REV`).
    pub fn log_from(&self, at: At<'_>, rev: &str) -> Result<Vec<api::CommitInfo>, ClientError> {
        // `^` is not for URLs; `X^` is `X~1`. The CLI lets through only URL-safe refs.
        let q = rev.replace('^', "~1");
        self.get(&format!("{}?from={q}", on(at, OnBranch::Commits)))
    }

    /// The newest commit of the branch's history (its own or, before it has any, its origin's).
    pub fn head(
        &self,
        ns: &str,
        name: &str,
        br: &str,
    ) -> Result<Option<api::CommitInfo>, ClientError> {
        let v: Vec<api::CommitInfo> = self.get(&format!(
            "{}?limit=1",
            on(At::new((ns, name, br)), OnBranch::Commits)
        ))?;
        Ok(v.into_iter().next())
    }

    pub fn commit(
        &self,
        ns: &str,
        name: &str,
        br: &str,
        req: &api::CreateCommit,
    ) -> Result<api::CommitInfo, ClientError> {
        self.post(&on(At::new((ns, name, br)), OnBranch::Commits), req)
    }

    pub fn reset(
        &self,
        ns: &str,
        name: &str,
        br: &str,
        commit: &str,
        force: bool,
    ) -> Result<api::ResetDone, ClientError> {
        let body = api::Reset {
            commit: commit.into(),
            force,
        };
        self.post(&on(At::new((ns, name, br)), OnBranch::Reset), &body)
    }

    /// Where a subdot of a branch is (`commit`: of that commit, read-only).
    pub fn subdot_path(
        &self,
        (ns, name, br): (&str, &str, &str),
        subdot: &str,
        create: bool,
        commit: Option<&str>,
    ) -> Result<api::SubdotPath, ClientError> {
        let body = api::SubdotRequest {
            subdot: subdot.into(),
            create,
            commit: commit.map(str::to_string),
        };
        self.post(&on(At::new((ns, name, br)), OnBranch::Subdots), &body)
    }

    pub fn join(&self, req: &api::JoinRequest) -> Result<api::JoinReply, ClientError> {
        self.post(&Route::ClusterMembers.path(), req)
    }

    pub fn create_token(&self, ttl_secs: u64) -> Result<api::JoinToken, ClientError> {
        self.post(&Route::ClusterTokens.path(), &api::CreateToken { ttl_secs })
    }

    pub fn tokens(&self) -> Result<Vec<api::JoinToken>, ClientError> {
        self.get(&Route::ClusterTokens.path())
    }

    pub fn revoke_token(&self, id: &str) -> Result<serde_json::Value, ClientError> {
        self.delete(&Route::ClusterToken(id).path())
    }

    pub fn create_user(&self, name: &str) -> Result<api::NewUser, ClientError> {
        self.post(
            &Route::Users.path(),
            &api::CreateUser {
                name: name.to_string(),
            },
        )
    }

    pub fn users(&self) -> Result<Vec<api::UserInfo>, ClientError> {
        self.get(&Route::Users.path())
    }

    pub fn delete_user(&self, name: &str) -> Result<(), ClientError> {
        self.delete::<serde_json::Value>(&Route::User(name).path())
            .map(|_| ())
    }

    /// `name`'s API key; this client signs in with the key or the user's password.
    pub fn user_key(&self, name: &str) -> Result<api::NewUser, ClientError> {
        self.get(&Route::UserKey(name).path())
    }

    pub fn reset_key(&self, name: &str, req: &api::KeyReset) -> Result<api::NewUser, ClientError> {
        self.post(&Route::UserKey(name).path(), req)
    }

    pub fn set_password(&self, name: &str, password: &str) -> Result<(), ClientError> {
        let req = api::SetPassword {
            password: password.to_string(),
        };
        self.post::<_, serde_json::Value>(&Route::UserPassword(name).path(), &req)
            .map(|_| ())
    }

    pub fn dot_settings(
        &self,
        ns: &str,
        dot: &str,
    ) -> Result<crate::cluster::DotSettings, ClientError> {
        self.get(&Route::Settings { ns, dot }.path())
    }

    pub fn change_settings(
        &self,
        ns: &str,
        dot: &str,
        req: &api::SettingsChange,
    ) -> Result<crate::cluster::DotSettings, ClientError> {
        self.post(&Route::Settings { ns, dot }.path(), req)
    }

    pub fn move_containers(
        &self,
        ns: &str,
        dot: &str,
        branch: &str,
    ) -> Result<api::MovedContainers, ClientError> {
        let req = api::MoveContainers {
            branch: branch.to_string(),
        };
        self.post(&Route::Containers { ns, dot }.path(), &req)
    }

    pub fn status(&self) -> Result<api::NodeStatus, ClientError> {
        self.get(&Route::ClusterStatus.path())
    }

    pub fn replication(&self) -> Result<api::Replication, ClientError> {
        self.get(&Route::ClusterReplication.path())
    }

    pub fn nodes(&self) -> Result<Vec<api::NodeInfo>, ClientError> {
        self.get(&Route::ClusterNodes.path())
    }

    pub fn leave(&self, req: &api::LeaveRequest) -> Result<api::LeaveReply, ClientError> {
        self.post(&Route::ClusterLeave.path(), req)
    }

    /// Asks for `METHOD /v1PATH` to become a raw commit stream on its connection
    /// ([`crate::wire`]). `None` for a TLS remote, whose stream must go through the body. A
    /// refusal comes back as the daemon's error.
    pub fn upgrade(&self, method: &str, path: &str) -> Result<Option<Upgraded>, ClientError> {
        self.guard()?;
        upgrade(&self.base, &self.auth, method, path)
    }

    /// Opens a stream of a branch's commits (`from`..=`to`, or `to` in full).
    pub fn send_stream(
        &self,
        at: At<'_>,
        from: Option<&str>,
        to: &str,
    ) -> Result<Incoming, ClientError> {
        self.guard()?;
        let url = format!("{}{}", self.base, send_path(at, from, to));
        let resp = self
            .bulk()
            .get(url)
            .header("Authorization", &self.auth)
            // The stream ends when the server closes the connection.
            .header("Connection", "close")
            .call()
            .map_err(|e| self.unreachable(e))?;
        if resp.status().as_u16() >= 400 {
            return Err(self.api_error(resp));
        }
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let estimate = header(api::SIZE_ESTIMATE_HEADER).and_then(|v| v.parse().ok());
        let send_id = header(api::SEND_ID_HEADER);
        let body = resp.into_body().into_with_config().limit(u64::MAX).reader();
        Ok(Incoming {
            body: Box::new(body),
            estimate,
            send_id,
        })
    }

    /// The checksum of a stream the daemon sent (see [`Client::send_stream`]).
    pub fn sent(&self, send_id: &str) -> Result<api::SentRecord, ClientError> {
        self.get(&Route::Sent(send_id).path())
    }

    /// Has the daemon run a whole push or pull of a branch with another cluster; `event`
    /// hears how it goes.
    pub fn run_transfer(
        &self,
        req: &api::TransferRun,
        event: &mut dyn FnMut(&api::RunEvent),
    ) -> Result<api::RunSummary, ClientError> {
        let mut outcome = None;
        self.events(Route::TransferRuns, req, &mut |ev| match ev {
            api::RunEvent::Done(done) => {
                outcome = Some(Ok(done));
                false
            }
            api::RunEvent::Error(f) => {
                outcome = Some(Err(f.into()));
                false
            }
            other => {
                event(&other);
                true
            }
        })?;
        outcome.unwrap_or_else(|| Err(ended_without_result()))
    }

    /// Posts `req` to `route` and hands each JSON line of the answer to `each` until it
    /// returns false or the answer ends.
    fn events<T: serde::de::DeserializeOwned>(
        &self,
        route: Route<'_>,
        req: &impl serde::Serialize,
        each: &mut dyn FnMut(T) -> bool,
    ) -> Result<(), ClientError> {
        self.guard()?;
        let resp = self
            .agent
            .post(format!("{}{}", self.base, route.path()))
            .header("Authorization", &self.auth)
            // Event lines follow until the daemon closes the connection.
            .header("Connection", "close")
            .send_json(req)
            .map_err(|e| self.unreachable(e))?;
        if resp.status().as_u16() >= 400 {
            return Err(match self.api_error(resp) {
                ClientError::Api { status: 404, code, .. } if code == "no_route" => {
                    ClientError::Api {
                        status: 404,
                        code,
                        message: "this cluster's daemon predates this kind of transfer; restart it on this dm with `dm cluster upgrade`".into(),
                    }
                }
                other => other,
            });
        }
        let body = resp.into_body().into_with_config().limit(u64::MAX).reader();
        for line in std::io::BufRead::lines(std::io::BufReader::new(body)) {
            let line = line.map_err(|e| ClientError::Protocol(format!("transfer cut off: {e}")))?;
            let ev = serde_json::from_str(&line)
                .map_err(|e| ClientError::Protocol(format!("{e}: {line}")))?;
            if !each(ev) {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Feeds a stream of commits to a branch; they stay invisible until [`Client::confirm`].
    pub fn receive(
        &self,
        at: At<'_>,
        from: Option<&str>,
        stream: &mut dyn std::io::Read,
    ) -> Result<api::Receipt, ClientError> {
        self.guard()?;
        let url = format!("{}{}", self.base, receive_path(at, from));
        let r = self
            .bulk()
            .post(url)
            .header("Authorization", &self.auth)
            .send(ureq::SendBody::from_reader(stream));
        self.finish(r)
    }

    /// Asks whether the branch would take a stream based on `from` (before sending one).
    pub fn receive_check(
        &self,
        at: At<'_>,
        from: Option<&str>,
    ) -> Result<api::Receipt, ClientError> {
        let path = format!("{}&check=1", receive_path(at, from));
        self.post(&path, &serde_json::json!({}))
    }

    /// The GUIDs of a branch's commits' snapshots, in the order asked.
    pub fn guids(
        &self,
        At {
            ns,
            dot: name,
            branch: br,
        }: At<'_>,
        commits: &[String],
    ) -> Result<Vec<String>, ClientError> {
        let body = api::GuidsRequest {
            commits: commits.to_vec(),
        };
        self.post(&on(At::new((ns, name, br)), OnBranch::Guids), &body)
    }

    /// Which files changed between two commits of a branch, or since one (see
    /// [`api::DiffRequest`]).
    pub fn diff(&self, at: At<'_>, req: &api::DiffRequest) -> Result<api::Diff, ClientError> {
        self.post(&on(at, OnBranch::Diff), req)
    }

    /// The operation log of namespace `ns`, newest first.
    pub fn op_log(&self, ns: &str) -> Result<Vec<api::OpInfo>, ClientError> {
        self.get(&Route::Ops(ns).path())
    }

    /// Records a checkout this client made, for `dm op log` and `dm undo`.
    pub fn record_checkout(&self, ns: &str, req: &api::Checkout) -> Result<(), ClientError> {
        let _: serde_json::Value = self.post(&Route::Ops(ns).path(), req)?;
        Ok(())
    }

    /// Undoes the newest operation of `ns` that can be, or every one after `to`.
    pub fn undo(&self, ns: &str, to: Option<&str>) -> Result<api::Undone, ClientError> {
        let req = api::UndoRequest {
            to: to.map(str::to_string),
        };
        self.post(&Route::Undo(ns).path(), &req)
    }

    /// Removes a branch's old commits by a keep policy, or says what would go.
    pub fn prune(&self, at: At<'_>, req: &api::Prune) -> Result<api::Pruned, ClientError> {
        self.post(&on(at, OnBranch::Prune), req)
    }

    /// Registers commits that arrived whole in an interrupted transfer (see
    /// [`api::KeepReceived`]).
    pub fn keep(
        &self,
        At {
            ns,
            dot: name,
            branch: br,
        }: At<'_>,
        req: &api::KeepReceived,
    ) -> Result<Vec<String>, ClientError> {
        self.post(&on(At::new((ns, name, br)), OnBranch::Keep), req)
    }

    pub fn confirm(
        &self,
        At {
            ns,
            dot: name,
            branch: br,
        }: At<'_>,
        req: &api::ConfirmReceive,
    ) -> Result<Vec<String>, ClientError> {
        self.post(&on(At::new((ns, name, br)), OnBranch::Confirm), req)
    }
}

/// Where a branch takes a stream of commits following `from`.
pub fn receive_path(at: At<'_>, from: Option<&str>) -> String {
    let from = from.map_or(String::new(), |f| format!("from={f}"));
    format!("{}?{from}", on(at, OnBranch::Receive))
}

/// Where a branch's commits `from`..=`to` (or `to` in full) are sent from.
pub fn send_path(at: At<'_>, from: Option<&str>, to: &str) -> String {
    let from = from.map_or(String::new(), |f| format!("&from={f}"));
    format!("{}?to={to}{from}", on(at, OnBranch::Send))
}

fn ended_without_result() -> ClientError {
    ClientError::Protocol(
        "the transfer ended without a result; the daemon may have stopped (see its log)".into(),
    )
}
