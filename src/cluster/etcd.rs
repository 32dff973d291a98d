//! [`Kv`] on etcd v3 (etcd-client over gRPC).
//!
//! The daemon is built on plain threads; this module owns a one-worker tokio runtime and exposes
//! blocking calls, so async stays inside the registry. Every call has a timeout, so a dead etcd
//! becomes a clear [`RegistryError::Unavailable`] rather than a hang.

use std::sync::Arc;
use std::sync::mpsc::Sender;
use std::time::Duration;

use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, PutOptions, Txn, TxnOp,
    WatchOptions,
};
use tokio::runtime::Runtime;

use super::{Kv, Outage, RegistryError, Result};

/// How long a call waits for etcd to elect a leader before reporting it.
const ELECTION_WAIT: Duration = Duration::from_secs(10);

const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// One etcd cluster member.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: u64,
    /// Empty until the member has started.
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

/// The client side of etcd's TLS: the cluster CA that signed etcd's certificate, and this
/// node's certificate and key, which etcd requires of every client (PEM).
#[derive(Clone, Debug)]
pub struct EtcdTls {
    pub ca: String,
    pub cert: String,
    pub key: String,
}

/// How to connect: a 2 s connect timeout, `timeout` per call, and the cluster's TLS.
fn options(tls: Option<&EtcdTls>, timeout: Duration) -> ConnectOptions {
    let opts = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(timeout);
    match tls {
        Some(t) => opts.with_tls(
            etcd_client::TlsOptions::new()
                .ca_certificate(etcd_client::Certificate::from_pem(&t.ca))
                .identity(etcd_client::Identity::from_pem(&t.cert, &t.key)),
        ),
        None => opts,
    }
}

#[derive(Clone)]
pub struct EtcdKv {
    rt: Arc<Runtime>,
    client: Client,
    endpoints: String,
}

impl EtcdKv {
    /// Connects to `endpoints` (e.g. `https://127.0.0.1:42379`, with `tls`) and checks that
    /// etcd answers.
    pub fn connect(endpoints: &[String], tls: Option<&EtcdTls>) -> Result<EtcdKv> {
        let joined = endpoints.join(",");
        let unavailable =
            |e: etcd_client::Error| RegistryError::unavailable(&joined, &e.to_string());
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("etcd")
            .enable_all()
            .build()
            .map_err(|e| RegistryError::Etcd(e.to_string()))?;
        let opts = options(tls, CALL_TIMEOUT);
        let client = rt
            .block_on(Client::connect(endpoints, Some(opts)))
            .map_err(unavailable)?;
        let kv = EtcdKv {
            rt: Arc::new(rt),
            client,
            endpoints: joined,
        };
        kv.get("dm/ping")?;
        Ok(kv)
    }

    /// Asks etcd at `endpoint` alone for its status: its round-trip time, and whether it knows a
    /// leader (a member cut off from the majority answers, but knows none).
    pub fn probe(
        &self,
        endpoint: &str,
        tls: Option<&EtcdTls>,
    ) -> std::result::Result<(Duration, bool), String> {
        let opts = options(tls, Duration::from_secs(2));
        let started = std::time::Instant::now();
        let asked = self.rt.block_on(async {
            let mut c = Client::connect([endpoint], Some(opts)).await?;
            c.status().await
        });
        match asked {
            Ok(s) => Ok((started.elapsed(), s.leader() != 0)),
            Err(e) => Err(e.to_string()),
        }
    }

    fn members_of(list: &[etcd_client::Member]) -> Vec<Member> {
        list.iter()
            .map(|m| Member {
                id: m.id(),
                name: m.name().to_string(),
                peer_urls: m.peer_urls().to_vec(),
                client_urls: m.client_urls().to_vec(),
            })
            .collect()
    }

    pub fn members(&self) -> Result<Vec<Member>> {
        let resp = self.call(|mut c| async move { c.member_list().await })?;
        Ok(Self::members_of(resp.members()))
    }

    /// Adds a member that will start at `peer_url`; returns the members including it.
    pub fn add_member(&self, peer_url: &str) -> Result<Vec<Member>> {
        let mut c = self.client.clone();
        let resp = self
            .rt
            .block_on(c.member_add([peer_url], None))
            .map_err(|e| self.err(e))?;
        Ok(Self::members_of(resp.member_list()))
    }

    /// Switches on etcd's own authentication with `user` (the common name of the nodes'
    /// certificates) as its only user, holding the root role; `root` must exist for that and
    /// gets no password, so nobody logs in as it. Safe to repeat.
    pub fn enable_auth(&self, user: &str) -> Result<()> {
        let mut c = self.client.clone();
        let no_pwd = || Some(etcd_client::UserAddOptions::new().with_no_pwd());
        let exists = |e: &etcd_client::Error| e.to_string().contains("already exists");
        self.rt
            .block_on(async {
                for name in ["root", user] {
                    match c.user_add(name, "", no_pwd()).await {
                        Err(e) if !exists(&e) => return Err(e),
                        _ => {}
                    }
                    c.user_grant_role(name, "root").await?;
                }
                c.auth_enable().await.map(|_| ())
            })
            .map_err(|e| self.err(e))
    }

    /// Changes the peer URLs other members reach member `id` at.
    pub fn update_member(&self, id: u64, peer_url: &str) -> Result<()> {
        let mut c = self.client.clone();
        self.rt
            .block_on(c.member_update(id, [peer_url.to_string()]))
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    pub fn remove_member(&self, id: u64) -> Result<()> {
        self.call(|mut c| async move { c.member_remove(id).await })
            .map(|_| ())
    }

    /// Sends every key changed (put or deleted) under `prefixes` to `tx`, for as long as `tx`
    /// has a receiver; re-watches after etcd restarts. Missed changes are the caller's to catch
    /// up on (the replicator also sweeps periodically).
    pub fn watch(&self, prefixes: &[&str], tx: Sender<String>) {
        for prefix in prefixes {
            let (client, prefix, tx) = (self.client.clone(), prefix.to_string(), tx.clone());
            self.rt.spawn(watch_loop(client, prefix, tx));
        }
    }

    /// Every key under `prefix`, with values unless `keys_only`.
    fn range(&self, prefix: &str, keys_only: bool) -> Result<etcd_client::GetResponse> {
        let mut opts = GetOptions::new().with_prefix();
        if keys_only {
            opts = opts.with_keys_only();
        }
        self.call(|mut c| {
            let opts = opts.clone();
            async move { c.get(prefix, Some(opts)).await }
        })
    }

    /// Runs one etcd call; again, for up to [`ELECTION_WAIT`], while etcd is electing a leader
    /// (it dropped the proposal, so trying again cannot apply anything twice).
    fn call<T, Fut>(&self, f: impl Fn(Client) -> Fut) -> Result<T>
    where
        Fut: std::future::Future<Output = std::result::Result<T, etcd_client::Error>>,
    {
        let deadline = std::time::Instant::now() + ELECTION_WAIT;
        loop {
            let started = std::time::Instant::now();
            let answer = self.rt.block_on(f(self.client.clone()));
            crate::metrics::etcd_call(answer.is_ok(), started.elapsed().as_secs_f64());
            match answer.map_err(|e| self.err(e)) {
                Err(RegistryError::Unavailable {
                    kind: Outage::Election,
                    ..
                }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(200));
                }
                other => return other,
            }
        }
    }

    /// Whether etcd answers its own status (served without a quorum) but knows no leader: it
    /// runs, and cannot reach a majority of its members.
    fn leaderless(&self) -> bool {
        let mut c = self.client.clone();
        let status = self
            .rt
            .block_on(async { tokio::time::timeout(Duration::from_millis(800), c.status()).await });
        matches!(status, Ok(Ok(s)) if s.leader() == 0)
    }

    fn err(&self, e: etcd_client::Error) -> RegistryError {
        match e {
            etcd_client::Error::GRpcStatus(s)
                if matches!(
                    s.code(),
                    // Our own call timeout shows up as Cancelled.
                    tonic::Code::Unavailable
                        | tonic::Code::DeadlineExceeded
                        | tonic::Code::Cancelled
                ) =>
            {
                let mut e = RegistryError::unavailable(&self.endpoints, s.message());
                if let RegistryError::Unavailable { kind, .. } = &mut e
                    && *kind == Outage::Unreachable
                    && self.leaderless()
                {
                    *kind = Outage::NoQuorum;
                }
                e
            }
            etcd_client::Error::TransportError(t) => {
                RegistryError::unavailable(&self.endpoints, &t.to_string())
            }
            // etcd's own refusals that mean "not now" rather than "never".
            etcd_client::Error::GRpcStatus(s) if Outage::of(s.message()) != Outage::Unreachable => {
                RegistryError::unavailable(&self.endpoints, s.message())
            }
            other => RegistryError::Etcd(other.to_string()),
        }
    }
}

impl Kv for EtcdKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let resp = self.call(|mut c| async move { c.get(key, None).await })?;
        Ok(resp.kvs().first().map(|kv| kv.value().to_vec()))
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let resp = self.range(prefix, false)?;
        Ok(resp
            .kvs()
            .iter()
            .map(|kv| {
                (
                    String::from_utf8_lossy(kv.key()).into_owned(),
                    kv.value().to_vec(),
                )
            })
            .collect())
    }

    fn list_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let resp = self.range(prefix, true)?;
        Ok(resp
            .kvs()
            .iter()
            .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
            .collect())
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<()> {
        self.call(|mut c| async move { c.put(key, value, None).await })
            .map(|_| ())
    }

    fn put_all_if_absent(&self, guard: &str, puts: &[(String, Vec<u8>)]) -> Result<bool> {
        let ops: Vec<TxnOp> = puts
            .iter()
            .map(|(k, v)| TxnOp::put(k.as_str(), v.clone(), None))
            .collect();
        let txn = Txn::new()
            .when([Compare::version(guard, CompareOp::Equal, 0)])
            .and_then(ops);
        let resp = self.call(|mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })?;
        Ok(resp.succeeded())
    }

    fn write_all(
        &self,
        puts: &[(String, Vec<u8>)],
        keys: &[String],
        prefixes: &[String],
    ) -> Result<()> {
        let mut ops: Vec<TxnOp> = puts
            .iter()
            .map(|(k, v)| TxnOp::put(k.as_str(), v.clone(), None))
            .collect();
        ops.extend(keys.iter().map(|k| TxnOp::delete(k.as_str(), None)));
        ops.extend(
            prefixes
                .iter()
                .map(|p| TxnOp::delete(p.as_str(), Some(DeleteOptions::new().with_prefix()))),
        );
        let txn = Txn::new().and_then(ops);
        self.call(|mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })
        .map(|_| ())
    }

    fn swap(&self, key: &str, expected: Option<&[u8]>, new: Option<&[u8]>) -> Result<bool> {
        let cond = match expected {
            Some(v) => Compare::value(key, CompareOp::Equal, v.to_vec()),
            None => Compare::version(key, CompareOp::Equal, 0),
        };
        let op = match new {
            Some(v) => TxnOp::put(key, v.to_vec(), None),
            None => TxnOp::delete(key, None),
        };
        let txn = Txn::new().when([cond]).and_then([op]);
        let resp = self.call(|mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })?;
        Ok(resp.succeeded())
    }

    fn put_ephemeral(&self, key: &str, value: &[u8], ttl_secs: i64) -> Result<()> {
        let mut c = self.client.clone();
        let lease = self
            .rt
            .block_on(c.lease_grant(ttl_secs, None))
            .map_err(|e| self.err(e))?
            .id();
        self.rt
            .block_on(c.put(key, value, Some(PutOptions::new().with_lease(lease))))
            .map_err(|e| self.err(e))?;
        let (key, value) = (key.to_string(), value.to_vec());
        self.rt.spawn(keep_alive(c, key, value, ttl_secs, lease));
        Ok(())
    }
}

/// Refreshes the lease every third of its TTL; if etcd forgets it (etcd restarted, long
/// partition), grants a new one and writes the key again.
async fn keep_alive(mut c: Client, key: String, value: Vec<u8>, ttl: i64, mut lease: i64) {
    let period = Duration::from_secs((ttl as u64 / 3).max(1));
    loop {
        let alive = match c.lease_keep_alive(lease).await {
            Ok((mut keeper, mut stream)) => loop {
                if keeper.keep_alive().await.is_err() {
                    break false;
                }
                match stream.message().await {
                    Ok(Some(r)) if r.ttl() > 0 => tokio::time::sleep(period).await,
                    _ => break false,
                }
            },
            Err(_) => false,
        };
        if !alive {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if let Ok(g) = c.lease_grant(ttl, None).await {
                lease = g.id();
                let opts = PutOptions::new().with_lease(lease);
                if let Err(e) = c.put(key.as_str(), value.clone(), Some(opts)).await {
                    tracing::warn!(%key, error = %e, "re-registering ephemeral key failed");
                }
            }
        }
    }
}

async fn watch_loop(mut c: Client, prefix: String, tx: Sender<String>) {
    loop {
        let opts = WatchOptions::new().with_prefix();
        if let Ok(mut stream) = c.watch(prefix.as_str(), Some(opts)).await {
            // Anything may have changed while the watch was down.
            if tx.send(String::new()).is_err() {
                return;
            }
            while let Ok(Some(resp)) = stream.message().await {
                for ev in resp.events() {
                    if let Some(kv) = ev.kv() {
                        let key = String::from_utf8_lossy(kv.key()).into_owned();
                        if tx.send(key).is_err() {
                            return;
                        }
                    }
                }
                if resp.canceled() {
                    break;
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
