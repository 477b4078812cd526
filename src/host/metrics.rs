//! Counters and gauges through `proxy_define_metric` / `proxy_increment_metric`.

use std::collections::HashMap;

use proxy_wasm::types::{LogLevel, MetricType};

/// Counters through `proxy_define_metric`, defined on first use. A host that refuses them
/// turns metrics off for this VM (logged once); requests carry on.
#[derive(Default)]
pub struct Metrics {
    ids: HashMap<String, u32>,
    disabled: bool,
}

impl Metrics {
    pub fn increment(&mut self, prefix: &str, name: &str) {
        if let Some(id) = self.id(prefix, name, MetricType::Counter) {
            if let Err(status) = abi::increment(id) {
                self.disable(status);
            }
        }
    }

    /// Sets a gauge (e.g. the number of keys a remote JWKS holds).
    pub fn set_gauge(&mut self, prefix: &str, name: &str, value: u64) {
        if let Some(id) = self.id(prefix, name, MetricType::Gauge) {
            if let Err(status) = abi::record(id, value) {
                self.disable(status);
            }
        }
    }

    /// Records a value into a histogram (e.g. callout latency in ms).
    pub fn record_histogram(&mut self, prefix: &str, name: &str, value: u64) {
        if let Some(id) = self.id(prefix, name, MetricType::Histogram) {
            if let Err(status) = abi::record(id, value) {
                self.disable(status);
            }
        }
    }

    fn id(&mut self, prefix: &str, name: &str, kind: MetricType) -> Option<u32> {
        if self.disabled {
            return None;
        }
        let full = format!("{prefix}.{name}");
        if let Some(id) = self.ids.get(&full) {
            return Some(*id);
        }
        match abi::define(kind, &full) {
            Ok(id) => {
                self.ids.insert(full, id);
                Some(id)
            }
            Err(status) => {
                self.disable(status);
                None
            }
        }
    }

    fn disable(&mut self, status: u32) {
        self.disabled = true;
        let line = format!(
            "jwtgate: metrics unavailable on this host (status {status}); continuing without them"
        );
        proxy_wasm::hostcalls::log(LogLevel::Warn, &line).ok();
    }
}

/// The metric calls, straight to the ABI: the SDK's wrappers panic (a trap, so an outage on
/// Envoy) when a host answers anything but OK, and a host without metrics must not break us.
mod abi {
    use proxy_wasm::types::MetricType;

    #[link(wasm_import_module = "env")]
    extern "C" {
        fn proxy_define_metric(
            metric_type: MetricType,
            name_data: *const u8,
            name_size: usize,
            return_id: *mut u32,
        ) -> u32;
        fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
        fn proxy_record_metric(metric_id: u32, value: u64) -> u32;
    }

    const OK: u32 = 0;

    pub fn define(kind: MetricType, name: &str) -> Result<u32, u32> {
        let mut id = 0u32;
        // SAFETY: name points at name.len() readable bytes; id is a valid out pointer.
        let status = unsafe { proxy_define_metric(kind, name.as_ptr(), name.len(), &mut id) };
        if status == OK {
            Ok(id)
        } else {
            Err(status)
        }
    }

    pub fn record(id: u32, value: u64) -> Result<(), u32> {
        // SAFETY: plain values.
        let status = unsafe { proxy_record_metric(id, value) };
        if status == OK {
            Ok(())
        } else {
            Err(status)
        }
    }

    pub fn increment(id: u32) -> Result<(), u32> {
        // SAFETY: plain values.
        let status = unsafe { proxy_increment_metric(id, 1) };
        if status == OK {
            Ok(())
        } else {
            Err(status)
        }
    }
}
