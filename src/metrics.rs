//! Prometheus metrics of this process, in the text exposition format on `/metrics`.
//!
//! Counters and histograms are counted where things happen (an API request, a `zfs` command, an
//! etcd call, a stream), into one process-wide registry: the `zfs` and registry layers have no
//! daemon to hand them to. What is a state rather than an event (pool space, uncommitted
//! bytes, replication lag, peers) is measured when scraped, into a [`Scrape`], so a scrape
//! shows now, not the last sweep. Names and units follow Prometheus' conventions: `dm_` prefix,
//! `_total` counters, `_seconds` and `_bytes` units.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use prometheus::core::Collector;
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// The exposition format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_seconds: HistogramVec,
    zfs_commands: IntCounterVec,
    zfs_seconds: HistogramVec,
    etcd_requests: IntCounterVec,
    etcd_seconds: HistogramVec,
    stream_bytes: IntCounterVec,
    streams: IntCounterVec,
    stream_seconds: HistogramVec,
    stream_rate: HistogramVec,
    replication_delay: HistogramVec,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("registered once");
    c
}

fn histogram(r: &Registry, name: &str, help: &str, labels: &[&str], b: Vec<f64>) -> HistogramVec {
    let h =
        HistogramVec::new(HistogramOpts::new(name, help).buckets(b), labels).expect("valid metric");
    r.register(Box::new(h.clone())).expect("registered once");
    h
}

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let r = Registry::new();
        // Milliseconds (a ping) to minutes (a large stream).
        let secs = || {
            vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                30.0, 60.0, 300.0,
            ]
        };
        Metrics {
            http_requests: counter(
                &r,
                "dm_http_requests_total",
                "API requests answered, by route, method and status code.",
                &["route", "method", "code"],
            ),
            http_seconds: histogram(
                &r,
                "dm_http_request_duration_seconds",
                "Time to answer an API request (to the first byte of a streamed answer).",
                &["route", "method"],
                secs(),
            ),
            zfs_commands: counter(
                &r,
                "dm_zfs_commands_total",
                "zfs and zpool commands run, by subcommand and outcome.",
                &["tool", "subcommand", "outcome"],
            ),
            zfs_seconds: histogram(
                &r,
                "dm_zfs_command_duration_seconds",
                "Run time of zfs and zpool commands (a send or receive: the whole stream).",
                &["tool", "subcommand"],
                secs(),
            ),
            etcd_requests: counter(
                &r,
                "dm_etcd_requests_total",
                "Calls to etcd, by outcome.",
                &["outcome"],
            ),
            etcd_seconds: histogram(
                &r,
                "dm_etcd_request_duration_seconds",
                "Round-trip time of calls to etcd.",
                &[],
                vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ),
            stream_bytes: counter(
                &r,
                "dm_transfer_bytes_total",
                "Bytes of commit streams sent and received (replication, handoffs, push, pull, clone).",
                &["direction"],
            ),
            streams: counter(
                &r,
                "dm_transfers_total",
                "Commit streams sent and received, by outcome.",
                &["direction", "outcome"],
            ),
            stream_seconds: histogram(
                &r,
                "dm_transfer_duration_seconds",
                "How long commit streams took.",
                &["direction"],
                secs(),
            ),
            stream_rate: histogram(
                &r,
                "dm_transfer_rate_bytes_per_second",
                "Throughput of each finished commit stream.",
                &["direction"],
                // 64 KiB/s to 512 MiB/s.
                prometheus::exponential_buckets(64.0 * 1024.0, 2.0, 14).expect("valid buckets"),
            ),
            replication_delay: histogram(
                &r,
                "dm_replication_delay_seconds",
                "Time from a commit on its branch's master to its snapshot on this node.",
                &[],
                secs(),
            ),
            registry: r,
        }
    })
}

/// One API request answered.
pub fn http_request(route: &str, method: &str, code: u16, seconds: f64) {
    let m = metrics();
    m.http_requests
        .with_label_values(&[route, method, &code.to_string()])
        .inc();
    m.http_seconds
        .with_label_values(&[route, method])
        .observe(seconds);
}

/// One `zfs`/`zpool` command finished.
pub fn zfs_command(tool: &str, subcommand: &str, ok: bool, seconds: f64) {
    let m = metrics();
    m.zfs_commands
        .with_label_values(&[tool, subcommand, outcome(ok)])
        .inc();
    m.zfs_seconds
        .with_label_values(&[tool, subcommand])
        .observe(seconds);
}

/// One etcd call answered (or failed).
pub fn etcd_call(ok: bool, seconds: f64) {
    let m = metrics();
    m.etcd_requests.with_label_values(&[outcome(ok)]).inc();
    m.etcd_seconds
        .with_label_values::<&str>(&[])
        .observe(seconds);
}

/// Which way a commit stream went.
#[derive(Clone, Copy, Debug)]
pub enum Direction {
    Sent,
    Received,
}

/// One commit stream ended: `bytes` moved in `seconds`, whole or not.
pub fn stream(direction: Direction, bytes: u64, seconds: f64, ok: bool) {
    let m = metrics();
    let d = match direction {
        Direction::Sent => "sent",
        Direction::Received => "received",
    };
    m.stream_bytes.with_label_values(&[d]).inc_by(bytes);
    m.streams.with_label_values(&[d, outcome(ok)]).inc();
    m.stream_seconds.with_label_values(&[d]).observe(seconds);
    if ok && seconds > 0.0 {
        m.stream_rate
            .with_label_values(&[d])
            .observe(bytes as f64 / seconds);
    }
}

/// A commit made `seconds` ago on its master arrived here.
pub fn replicated(seconds: f64) {
    metrics()
        .replication_delay
        .with_label_values::<&str>(&[])
        .observe(seconds);
}

fn outcome(ok: bool) -> &'static str {
    if ok { "ok" } else { "error" }
}

/// Gauges measured for one scrape: a family per name, its label names fixed by its first use.
#[derive(Default)]
pub struct Scrape {
    gauges: BTreeMap<&'static str, GaugeVec>,
}

impl Scrape {
    /// Sets gauge `name` (documented by `help`) with `labels` to `value`.
    pub fn gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let g = self.gauges.entry(name).or_insert_with(|| {
            let names: Vec<&str> = labels.iter().map(|(k, _)| *k).collect();
            GaugeVec::new(Opts::new(name, help), &names).expect("valid metric")
        });
        let values: Vec<&str> = labels.iter().map(|(_, v)| *v).collect();
        match g.get_metric_with_label_values(&values) {
            Ok(g) => g.set(value),
            Err(e) => tracing::warn!(metric = name, error = %e, "gauge not set"),
        }
    }

    /// The whole exposition: the process' counters and histograms, then these gauges.
    pub fn render(self) -> String {
        let mut families: Vec<MetricFamily> = metrics().registry.gather();
        for g in self.gauges.values() {
            families.extend(g.collect());
        }
        families.sort_by(|a, b| a.name().cmp(b.name()));
        prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .unwrap_or_else(|e| format!("# cannot encode the metrics: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_come_out_in_the_text_format() {
        http_request("/v1/ping", "GET", 200, 0.01);
        zfs_command("zfs", "snapshot", true, 0.2);
        stream(Direction::Received, 1000, 0.5, true);
        let mut s = Scrape::default();
        s.gauge("dm_test_bytes", "A test gauge.", &[("fs", "a")], 3.0);
        s.gauge("dm_test_bytes", "A test gauge.", &[("fs", "b")], 4.0);
        let text = s.render();
        let scrape =
            prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        let value = |name: &str, label: (&str, &str)| {
            scrape
                .samples
                .iter()
                .find(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
                .map(|s| s.value.clone())
        };
        assert!(matches!(
            value("dm_test_bytes", ("fs", "b")),
            Some(prometheus_parse::Value::Gauge(v)) if v == 4.0
        ));
        assert!(matches!(
            value("dm_zfs_commands_total", ("subcommand", "snapshot")),
            Some(prometheus_parse::Value::Counter(v)) if v >= 1.0
        ));
        assert!(matches!(
            value("dm_transfer_bytes_total", ("direction", "received")),
            Some(prometheus_parse::Value::Counter(v)) if v >= 1000.0
        ));
    }
}
