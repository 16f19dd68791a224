//! The machine itself: CPU, memory, temperature, disk, uptime, and durable private files.
//!
//! Read straight from `/proc` and `/sys` (what a Pi exposes: `thermal_zone0` is the SoC) and from
//! `statvfs`. A sampler keeps a short history so the web page can draw live graphs and
//! `get_system_status`/`get_metrics` answer without waiting for a fresh CPU measurement.

use serde::Serialize;
use std::collections::VecDeque;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Arc, RwLock};

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct Sample {
    pub at_ms: i64,
    /// Whole-machine CPU use since the previous sample, percent (0-100).
    pub cpu_percent: f64,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    pub memory_percent: f64,
    /// SoC temperature, when the machine reports one.
    pub temperature_c: Option<f64>,
    pub load1: f64,
    pub uptime_secs: f64,
    /// This process's resident memory.
    pub process_rss_bytes: u64,
}

/// Disk figures for the file system holding `path`.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq)]
pub struct DiskUsage {
    pub total_bytes: u64,
    pub available_bytes: u64,
    pub used_bytes: u64,
    pub usage_percent: f64,
}

pub fn disk_usage(path: &Path) -> std::io::Result<DiskUsage> {
    let st = nix::sys::statvfs::statvfs(path).map_err(std::io::Error::from)?;
    let frag = st.fragment_size() as u64;
    let total = st.blocks() as u64 * frag;
    let available = st.blocks_available() as u64 * frag;
    let free = st.blocks_free() as u64 * frag;
    let used = total.saturating_sub(free);
    let usage_percent = if total == 0 {
        0.0
    } else {
        // Percent of the space usable by unprivileged writers, as df reports it.
        100.0 * used as f64 / (used + available).max(1) as f64
    };
    Ok(DiskUsage {
        total_bytes: total,
        available_bytes: available,
        used_bytes: used,
        usage_percent,
    })
}

/// Writes a file readable only by its owner (0600), atomically: a power cut leaves either no file
/// or the whole file, never a truncated key.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(tmp, path)?;
    if let Some(dir) = path.parent() {
        // Make the rename itself durable.
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Busy and total jiffies from the first line of `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let nums: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|n| n.parse().ok())
        .collect();
    if nums.len() < 4 {
        return None;
    }
    let idle = nums[3] + nums.get(4).copied().unwrap_or(0); // idle + iowait
    let total: u64 = nums.iter().take(8).sum(); // guest time is already in user
    Some((total - idle, total))
}

/// (total, available) bytes from `/proc/meminfo`.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    Some((field("MemTotal:")?, field("MemAvailable:")?))
}

/// Tunes the C allocator so that memory freed comes back to the system:
/// - two arenas: glibc gives each new thread that allocates an arena of its own (up to 8 per
///   core) and keeps what is freed in it; GStreamer starts streaming threads for every
///   pipeline, so cameras, recorders and clients that come and go left RSS ~1 MB higher per
///   cycle, for good;
/// - a fixed mmap threshold of 4 MiB: glibc otherwise raises it after the first large free,
///   and each password check's 19 MiB argon2 buffer then stays in the heap.
///
/// Call first thing in `main`, before any thread starts.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

/// Gives memory the allocator holds free back to the system (after a pipeline ends).
pub fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free pages of the allocator's heaps.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Resident set size from `/proc/self/status`.
pub fn process_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// A system file's text; none when it is not there (another kind of system).
fn read(path: impl AsRef<Path>) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Collects samples and keeps the last `capacity`.
#[derive(Debug, Clone)]
pub struct SystemMonitor {
    inner: Arc<RwLock<MonitorState>>,
}

#[derive(Debug)]
struct MonitorState {
    history: VecDeque<Sample>,
    capacity: usize,
    last_cpu: Option<(u64, u64)>,
}

impl SystemMonitor {
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(RwLock::new(MonitorState {
                history: VecDeque::with_capacity(capacity),
                capacity: capacity.max(1),
                last_cpu: None,
            })),
        }
    }

    /// Takes one sample now.
    pub fn sample(&self, now_ms: i64) -> Sample {
        let cpu = read("/proc/stat").and_then(|t| parse_proc_stat(&t));
        let (mem_total, mem_avail) = read("/proc/meminfo")
            .and_then(|t| parse_meminfo(&t))
            .unwrap_or((0, 0));
        let temperature_c = read("/sys/class/thermal/thermal_zone0/temp")
            .and_then(|t| t.trim().parse::<f64>().ok())
            .map(|m| m / 1000.0);
        let load1 = read("/proc/loadavg")
            .and_then(|t| t.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0.0);
        let uptime_secs = read("/proc/uptime")
            .and_then(|t| t.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0.0);
        let mut st = match self.inner.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let cpu_percent = match (st.last_cpu, cpu) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                100.0 * (b1.saturating_sub(b0)) as f64 / (t1 - t0) as f64
            }
            _ => 0.0,
        };
        st.last_cpu = cpu.or(st.last_cpu);
        let s = Sample {
            at_ms: now_ms,
            cpu_percent,
            memory_total_bytes: mem_total,
            memory_available_bytes: mem_avail,
            memory_percent: if mem_total == 0 {
                0.0
            } else {
                100.0 * mem_total.saturating_sub(mem_avail) as f64 / mem_total as f64
            },
            temperature_c,
            load1,
            uptime_secs,
            process_rss_bytes: process_rss_bytes(),
        };
        if st.history.len() == st.capacity {
            st.history.pop_front();
        }
        st.history.push_back(s);
        s
    }

    pub fn latest(&self) -> Option<Sample> {
        self.inner
            .read()
            .ok()
            .and_then(|s| s.history.back().copied())
    }

    pub fn history(&self) -> Vec<Sample> {
        self.inner
            .read()
            .map(|s| s.history.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3 4\n";
        assert_eq!(parse_proc_stat(stat), Some((200, 1000)));
        assert_eq!(parse_proc_stat("garbage"), None);
        let mem = "MemTotal:        1000 kB\nMemFree: 10 kB\nMemAvailable:     250 kB\n";
        assert_eq!(parse_meminfo(mem), Some((1_024_000, 256_000)));
        assert_eq!(parse_meminfo("MemTotal: x"), None);
    }

    #[test]
    fn samples_this_machine() {
        let m = SystemMonitor::new(2);
        m.sample(1);
        m.sample(2);
        let s = m.sample(3);
        assert!(s.memory_total_bytes > 0);
        assert!(s.process_rss_bytes > 0);
        assert!((0.0..=100.0).contains(&s.cpu_percent));
        assert_eq!(m.history().len(), 2);
        let d = disk_usage(Path::new("/")).expect("statvfs");
        assert!(d.total_bytes > 0);
    }
}

/// An IPv4 address of a network interface that is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Interface {
    pub name: String,
    pub addr: std::net::Ipv4Addr,
    pub prefix_len: u8,
    /// `aa:bb:cc:dd:ee:ff`, when the interface has one.
    pub mac: Option<String>,
    pub loopback: bool,
}

/// Every IPv4 address on an interface that is up (where multicast is joined and announced, and
/// what ONVIF's `GetNetworkInterfaces` reports).
pub fn ipv4_interfaces() -> Vec<Ipv4Interface> {
    use nix::net::if_::InterfaceFlags;
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in addrs {
        if !a.flags.contains(InterfaceFlags::IFF_UP) {
            continue;
        }
        let Some(ip) = a.address.as_ref().and_then(|s| s.as_sockaddr_in()) else {
            continue;
        };
        let prefix_len = a
            .netmask
            .as_ref()
            .and_then(|m| m.as_sockaddr_in())
            .map(|m| u32::from(m.ip()).count_ones() as u8)
            .unwrap_or(32);
        let mac = std::fs::read_to_string(format!("/sys/class/net/{}/address", a.interface_name))
            .ok()
            .map(|m| m.trim().to_string())
            .filter(|m| m.len() == 17 && m != "00:00:00:00:00:00");
        out.push(Ipv4Interface {
            name: a.interface_name.clone(),
            addr: ip.ip(),
            prefix_len,
            mac,
            loopback: a.flags.contains(InterfaceFlags::IFF_LOOPBACK),
        });
    }
    out
}

#[cfg(test)]
mod interface_tests {
    #[test]
    fn the_loopback_interface_is_listed() {
        let list = super::ipv4_interfaces();
        let lo = list.iter().find(|i| i.loopback).expect("lo");
        assert_eq!(lo.addr, std::net::Ipv4Addr::LOCALHOST);
        assert_eq!(lo.prefix_len, 8);
    }
}

/// Where the machine routes what is not on its own networks: the gateways of its default
/// routes (`/proc/net/route` and `/proc/net/ipv6_route`).
pub fn default_gateways() -> Vec<std::net::IpAddr> {
    let v4 = parse_ipv4_default_gateways(&read("/proc/net/route").unwrap_or_default());
    let v6 = parse_ipv6_default_gateways(&read("/proc/net/ipv6_route").unwrap_or_default());
    v4.into_iter()
        .map(std::net::IpAddr::from)
        .chain(v6.into_iter().map(std::net::IpAddr::from))
        .collect()
}

/// The gateways of the default routes in `/proc/net/route` (addresses in the kernel's
/// little-endian hex).
pub fn parse_ipv4_default_gateways(text: &str) -> Vec<std::net::Ipv4Addr> {
    const RTF_GATEWAY: u32 = 0x2;
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(dest), Some(gw), Some(flags)) = (f.get(1), f.get(2), f.get(3)) else {
            continue;
        };
        let hex = |s: &str| u32::from_str_radix(s, 16).ok();
        if let (Some(0), Some(gw), Some(flags)) = (hex(dest), hex(gw), hex(flags))
            && flags & RTF_GATEWAY != 0
            && gw != 0
        {
            let ip = std::net::Ipv4Addr::from(gw.to_le_bytes());
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

/// The next hops of the default routes (`::/0`) in `/proc/net/ipv6_route`.
pub fn parse_ipv6_default_gateways(text: &str) -> Vec<std::net::Ipv6Addr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(dest), Some(len), Some(hop)) = (f.first(), f.get(1), f.get(4)) else {
            continue;
        };
        let Some(hop) = u128::from_str_radix(hop, 16).ok().filter(|h| *h != 0) else {
            continue;
        };
        if dest.len() == 32 && dest.bytes().all(|b| b == b'0') && *len == "00" {
            let ip = std::net::Ipv6Addr::from(hop);
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    out
}

/// The name servers the machine asks, and its search domains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameServers {
    pub servers: Vec<std::net::IpAddr>,
    pub search: Vec<String>,
    /// The servers came with a DHCP lease (systemd-networkd's, as the appliance image runs).
    pub from_dhcp: bool,
}

/// The name servers of `/etc/resolv.conf`; when it points at systemd-resolved's local stub,
/// those resolved forwards to. They count as from DHCP when a lease of systemd-networkd gave
/// them.
pub fn name_servers() -> NameServers {
    let mut found = parse_resolv_conf(&read("/etc/resolv.conf").unwrap_or_default());
    let stub = std::net::IpAddr::from([127, 0, 0, 53]);
    if found.servers == [stub] {
        let upstream =
            parse_resolv_conf(&read("/run/systemd/resolve/resolv.conf").unwrap_or_default());
        if !upstream.servers.is_empty() {
            found = upstream;
        }
    }
    let leased: Vec<std::net::IpAddr> = std::fs::read_dir("/run/systemd/netif/leases")
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|e| parse_lease_name_servers(&read(e.path()).unwrap_or_default()))
        .collect();
    found.from_dhcp = !found.servers.is_empty() && found.servers.iter().all(|s| leased.contains(s));
    found
}

/// `nameserver` and `search` (or `domain`) lines of a resolv.conf.
pub fn parse_resolv_conf(text: &str) -> NameServers {
    let mut out = NameServers::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                // A link-local IPv6 server may carry its interface (`fe80::1%eth0`).
                if let Some(ip) = words
                    .next()
                    .and_then(|w| w.split('%').next())
                    .and_then(|w| w.parse().ok())
                    && !out.servers.contains(&ip)
                {
                    out.servers.push(ip);
                }
            }
            Some("search" | "domain") => {
                out.search = words.map(str::to_string).collect();
            }
            _ => {}
        }
    }
    out
}

/// The `DNS=` servers of a systemd-networkd DHCP lease file.
pub fn parse_lease_name_servers(text: &str) -> Vec<std::net::IpAddr> {
    text.lines()
        .filter_map(|l| l.strip_prefix("DNS="))
        .flat_map(|v| v.split_whitespace())
        .filter_map(|w| w.parse().ok())
        .collect()
}

#[cfg(test)]
mod network_settings_tests {
    use super::*;

    #[test]
    fn default_gateways_are_read_from_the_kernels_route_tables() {
        // A Pi on DHCP: the default route via 192.168.1.1, its own network without a gateway.
        let v4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                  eth0\t00000000\t0101A8C0\t0003\t0\t0\t1024\t00000000\t0\t0\t0\n\
                  eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                  short line\n";
        assert_eq!(
            parse_ipv4_default_gateways(v4),
            [std::net::Ipv4Addr::new(192, 168, 1, 1)]
        );
        let v6 = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000000 00000000 00000003 eth0\n\
                  fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n\
                  00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n";
        assert_eq!(
            parse_ipv6_default_gateways(v6),
            ["fe80::1".parse::<std::net::Ipv6Addr>().expect("ip")]
        );
        assert!(parse_ipv4_default_gateways("").is_empty());
        assert!(parse_ipv6_default_gateways("zz 00 zz").is_empty());
        // This machine's own tables read without a panic.
        let _ = default_gateways();
    }

    #[test]
    fn name_servers_are_read_from_resolv_conf_and_a_lease() {
        let r = parse_resolv_conf(
            "# Generated\nnameserver 192.168.1.1\nnameserver fe80::1%eth0\nnameserver nonsense\n\
             nameserver 192.168.1.1\nsearch lan home.arpa\noptions edns0\n",
        );
        assert_eq!(
            r.servers,
            [
                "192.168.1.1".parse::<std::net::IpAddr>().expect("ip"),
                "fe80::1".parse().expect("ip")
            ]
        );
        assert_eq!(r.search, ["lan", "home.arpa"]);
        assert!(!r.from_dhcp);
        assert_eq!(
            parse_lease_name_servers("# lease\nADDRESS=192.168.1.20\nDNS=192.168.1.1 1.1.1.1\n"),
            [
                "192.168.1.1".parse::<std::net::IpAddr>().expect("ip"),
                "1.1.1.1".parse().expect("ip")
            ]
        );
        let _ = name_servers();
    }
}
