//! Which destination addresses `web_fetch` refuses, and the operator's allow-list.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is not a public destination, or `None` when it is.
pub(crate) fn classify(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(ip) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn classify_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const METADATA: &[[u8; 4]] = &[
        [169, 254, 169, 254], // AWS, GCP, Azure, OpenStack
        [169, 254, 170, 2],   // AWS ECS task metadata
        [100, 100, 100, 200], // Alibaba Cloud
        [192, 0, 0, 192],     // Oracle Cloud
    ];
    if METADATA.iter().any(|m| ip == Ipv4Addr::from(*m)) {
        return Some("a cloud metadata address");
    }
    let table: &[([u8; 4], u32, &'static str)] = &[
        ([0, 0, 0, 0], 8, "unspecified / this network (0.0.0.0/8)"),
        ([10, 0, 0, 0], 8, "private (RFC 1918, 10.0.0.0/8)"),
        (
            [100, 64, 0, 0],
            10,
            "carrier-grade NAT (RFC 6598, 100.64.0.0/10)",
        ),
        ([127, 0, 0, 0], 8, "loopback (127.0.0.0/8)"),
        ([169, 254, 0, 0], 16, "link-local (169.254.0.0/16)"),
        ([172, 16, 0, 0], 12, "private (RFC 1918, 172.16.0.0/12)"),
        (
            [192, 0, 0, 0],
            24,
            "IETF protocol assignments (192.0.0.0/24)",
        ),
        ([192, 0, 2, 0], 24, "documentation (192.0.2.0/24)"),
        ([192, 88, 99, 0], 24, "6to4 relay anycast (192.88.99.0/24)"),
        ([192, 168, 0, 0], 16, "private (RFC 1918, 192.168.0.0/16)"),
        ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
        ([198, 51, 100, 0], 24, "documentation (198.51.100.0/24)"),
        ([203, 0, 113, 0], 24, "documentation (203.0.113.0/24)"),
        ([224, 0, 0, 0], 4, "multicast (224.0.0.0/4)"),
        ([240, 0, 0, 0], 4, "reserved / broadcast (240.0.0.0/4)"),
    ];
    table
        .iter()
        .find(|(net, p, _)| in_v4(ip, *net, *p))
        .map(|(_, _, why)| *why)
}

fn embedded_v4(seg: &[u16; 8], hi: usize) -> Ipv4Addr {
    Ipv4Addr::new(
        (seg[hi] >> 8) as u8,
        seg[hi] as u8,
        (seg[hi + 1] >> 8) as u8,
        seg[hi + 1] as u8,
    )
}

fn classify_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let seg = ip.segments();
    if ip.is_unspecified() {
        return Some("unspecified (::)");
    }
    if ip.is_loopback() {
        return Some("loopback (::1)");
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    // fd00:ec2::254, the AWS metadata service over IPv6 (inside the ULA range too).
    if seg == [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] {
        return Some("a cloud metadata address");
    }
    let first = seg[0];
    if seg[..6] == [0, 0, 0, 0, 0, 0] {
        return Some("IPv4-compatible IPv6 (deprecated, ::/96)");
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64: judge the embedded IPv4 address.
        return classify_v4(embedded_v4(&seg, 6));
    }
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2] == 1 {
        return Some("local-use NAT64 (64:ff9b:1::/48)");
    }
    if first == 0x2002 {
        return classify_v4(embedded_v4(&seg, 1)).map(|_| "6to4 with a non-public IPv4 address");
    }
    if first == 0x2001 && seg[1] == 0 {
        return Some("Teredo (2001::/32)");
    }
    if first == 0x2001 && seg[1] == 0x0db8 {
        return Some("documentation (2001:db8::/32)");
    }
    if first == 0x2001 && (seg[1] & 0xfff0) == 0x0010 {
        return Some("ORCHID (2001:10::/28)");
    }
    if (first & 0xfe00) == 0xfc00 {
        return Some("unique local (fc00::/7)");
    }
    if (first & 0xffc0) == 0xfe80 {
        return Some("link-local (fe80::/10)");
    }
    if (first & 0xffc0) == 0xfec0 {
        return Some("site-local (fec0::/10, deprecated)");
    }
    if (first & 0xff00) == 0xff00 {
        return Some("multicast (ff00::/8)");
    }
    if first == 0x0100 && seg[1..4] == [0, 0, 0] {
        return Some("discard-only (100::/64)");
    }
    if (first & 0xe000) != 0x2000 {
        return Some("not global unicast (outside 2000::/3)");
    }
    None
}

/// An address range of the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `::1/128`, or a bare address.
    pub(crate) fn parse(s: &str) -> Result<Self, String> {
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{a}` is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("prefix `/{p}` must be 0..={max}"))?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => in_v4(ip, net.octets(), u32::from(self.prefix)),
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let p = u32::from(self.prefix);
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                (u128::from(ip) & mask) == (u128::from(net) & mask)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> Option<&'static str> {
        classify(s.parse().unwrap())
    }

    #[test]
    fn refuses_non_public_addresses() {
        for a in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "100.100.100.200",
            "169.254.169.254",
            "169.254.1.1",
            "0.0.0.0",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "192.0.0.192",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:0:4136:e378::1",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
        ] {
            assert!(c(a).is_some(), "{a} should be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(c(a), None, "{a} should pass");
        }
        assert_eq!(c("169.254.169.254"), Some("a cloud metadata address"));
    }

    #[test]
    fn cidr_matching() {
        let n = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(n.contains("10.1.2.3".parse().unwrap()));
        assert!(!n.contains("10.2.0.1".parse().unwrap()));
        assert!(n.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        let v6 = Cidr::parse("fd00::/8").unwrap();
        assert!(v6.contains("fd12::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
    }
}
