//! Counters through `proxy_define_metric` / `proxy_increment_metric`.

use std::collections::HashMap;

use proxy_wasm::types::LogLevel;

/// Counters through `proxy_define_metric`, defined on first use. A host that refuses them
/// turns metrics off for this VM (logged once); requests carry on.
#[derive(Default)]
pub struct Metrics {
    ids: HashMap<String, u32>,
    disabled: bool,
}

impl Metrics {
    pub fn increment(&mut self, prefix: &str, name: &str) {
        if self.disabled {
            return;
        }
        let full = format!("{prefix}.{name}");
        let id = match self.ids.get(&full) {
            Some(id) => *id,
            None => match abi::define_counter(&full) {
                Ok(id) => {
                    self.ids.insert(full, id);
                    id
                }
                Err(status) => return self.disable(status),
            },
        };
        if let Err(status) = abi::increment(id) {
            self.disable(status);
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
    }

    const OK: u32 = 0;

    pub fn define_counter(name: &str) -> Result<u32, u32> {
        let mut id = 0u32;
        // SAFETY: name points at name.len() readable bytes; id is a valid out pointer.
        let status =
            unsafe { proxy_define_metric(MetricType::Counter, name.as_ptr(), name.len(), &mut id) };
        if status == OK {
            Ok(id)
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
