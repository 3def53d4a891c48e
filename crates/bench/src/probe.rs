//! The server's own costs: CPU time and resident memory, read from `/proc/<pid>` when the
//! server runs on this machine (`--server-pid`), else from its `/metrics`
//! (`process_resident_memory_bytes`; CPU time is not exported there).

use serde::Serialize;

use crate::conn::Http;

/// One reading of the server process.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Sample {
    /// User + system CPU time of every thread, in seconds (`None`: not known).
    pub cpu_seconds: Option<f64>,
    /// Resident set size, in bytes.
    pub rss_bytes: Option<u64>,
}

/// Where to read the server's costs from.
#[derive(Debug, Clone)]
pub enum Probe {
    Proc(u32),
    Metrics(Http),
    None,
}

/// Clock ticks per second for `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on Linux).
const CLK_TCK: f64 = 100.0;

impl Probe {
    pub async fn sample(&self) -> Sample {
        match self {
            Probe::Proc(pid) => proc_sample(*pid),
            Probe::Metrics(http) => match http.metrics().await {
                Ok(text) => Sample {
                    cpu_seconds: metric(&text, "process_cpu_seconds_total"),
                    rss_bytes: metric(&text, "process_resident_memory_bytes").map(|v| v as u64),
                },
                Err(_) => Sample::default(),
            },
            Probe::None => Sample::default(),
        }
    }
}

fn proc_sample(pid: u32) -> Sample {
    let cpu_seconds = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which is in parentheses and may hold spaces).
            let rest = &stat[stat.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / CLK_TCK)
        });
    let rss_bytes = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        });
    Sample {
        cpu_seconds,
        rss_bytes,
    }
}

/// The value of an unlabelled metric in Prometheus text.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_unlabelled_metric() {
        let text = "# TYPE x gauge\nprocess_resident_memory_bytes 1234\nother{a=\"b\"} 5\n";
        assert_eq!(metric(text, "process_resident_memory_bytes"), Some(1234.0));
        assert_eq!(metric(text, "missing"), None);
    }

    #[test]
    fn reads_this_process_from_proc() {
        let s = proc_sample(std::process::id());
        assert!(s.rss_bytes.unwrap() > 0);
        assert!(s.cpu_seconds.is_some());
    }
}
