//! Counters, gauges and histograms through `proxy_define_metric` and friends.

use std::collections::HashMap;

use super::abi::{self, LogLevel, MetricType, Status};

/// Counters through `proxy_define_metric`: the per-request ones all at once when the
/// configuration loads (then incremented by number), the rest (JWKS fetches, auth calls,
/// gauges) on first use by name. A host that refuses them turns metrics off for this VM
/// (logged once); requests carry on.
#[derive(Default)]
pub struct Metrics {
    ids: HashMap<String, u32>,
    /// The host's id of each per-request counter, by the engine's number.
    by_number: Vec<u32>,
    disabled: bool,
}

impl Metrics {
    /// Defines the per-request counters (their full names, by number).
    pub fn define_all(&mut self, names: &[String]) {
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            match self.id(name, MetricType::Counter) {
                Some(id) => ids.push(id),
                None => return, // disabled (logged)
            }
        }
        self.by_number = ids;
    }

    /// Counter number `number` += 1; `name` when it was not defined by number.
    pub fn increment_number(&mut self, number: usize, name: &str) {
        if self.disabled {
            return;
        }
        match self.by_number.get(number) {
            Some(&id) => {
                if let Err(status) = abi::increment_metric(id, 1) {
                    self.disable(status);
                }
            }
            None => self.increment(name),
        }
    }

    pub fn increment(&mut self, name: &str) {
        if let Some(id) = self.id(name, MetricType::Counter) {
            if let Err(status) = abi::increment_metric(id, 1) {
                self.disable(status);
            }
        }
    }

    /// Sets a gauge (e.g. the number of keys a remote JWKS holds).
    pub fn set_gauge(&mut self, name: &str, value: u64) {
        if let Some(id) = self.id(name, MetricType::Gauge) {
            if let Err(status) = abi::record_metric(id, value) {
                self.disable(status);
            }
        }
    }

    /// Records a value into a histogram (e.g. callout latency in ms).
    pub fn record_histogram(&mut self, name: &str, value: u64) {
        if let Some(id) = self.id(name, MetricType::Histogram) {
            if let Err(status) = abi::record_metric(id, value) {
                self.disable(status);
            }
        }
    }

    fn id(&mut self, name: &str, kind: MetricType) -> Option<u32> {
        if self.disabled {
            return None;
        }
        if let Some(id) = self.ids.get(name) {
            return Some(*id);
        }
        match abi::define_metric(kind, name) {
            Ok(id) => {
                self.ids.insert(name.to_string(), id);
                Some(id)
            }
            Err(status) => {
                self.disable(status);
                None
            }
        }
    }

    fn disable(&mut self, status: Status) {
        self.disabled = true;
        let line = format!(
            "jwtgate: metrics unavailable on this host ({status}); continuing without them"
        );
        abi::log(LogLevel::Warn, &line);
    }
}
