//! An instance's `access.allowed_cidrs` as a host firewall rule, the process driver's
//! security group: with coffer as root and nftables installed, connections to the instance's
//! address and port from outside the allowed networks are reset by the kernel, whatever the
//! datastore (PostgreSQL also keeps its pg_hba rules), and whoever the client (root too).
//! One nftables table, `inet coffer_access`: its input chain jumps through a verdict map keyed
//! by address and port to one chain per instance. Every change is one atomic `nft -f`
//! transaction; rules live in the kernel, so they outlast a coffer crash, and each prepare and
//! adoption applies them again (after a host reboot).

use super::host_error::HostError;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;

const NFT: &str = "/usr/sbin/nft";
const TABLE: &str = "inet coffer_access";

/// Whether access rules can be enforced at the host (coffer is root and nft is installed).
pub fn available() -> bool {
    super::account::isolating() && Path::new(NFT).exists()
}

/// Whether `cidrs` leaves the instance open to everyone.
pub fn open_to_all(cidrs: &[String]) -> bool {
    cidrs.is_empty() || cidrs.iter().any(|c| c == "0.0.0.0/0")
}

fn chain(address: Ipv4Addr) -> String {
    format!("i_{}", address.to_string().replace('.', "_"))
}

fn run(script: &str) -> Result<(), HostError> {
    let mut child = std::process::Command::new(NFT)
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|source| HostError::Spawn {
            program: NFT.into(),
            source,
        })?;
    if let Some(mut input) = child.stdin.take() {
        input.write_all(script.as_bytes()).map_err(|source| HostError::Spawn {
            program: NFT.into(),
            source,
        })?;
    }
    let out = child.wait_with_output().map_err(|source| HostError::Spawn {
        program: NFT.into(),
        source,
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(HostError::Failed {
            program: NFT.into(),
            args: "-f -".into(),
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Whether the instance at `address` has a rule now.
fn has_rule(address: Ipv4Addr) -> bool {
    std::process::Command::new(NFT)
        .args(["list", "chain", "inet", "coffer_access", &chain(address)])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Lets only `cidrs` reach `address:port` (everyone when they are empty or `0.0.0.0/0`).
/// Blocking: run off the async threads.
pub fn apply(address: Ipv4Addr, port: u16, cidrs: &[String]) -> Result<(), HostError> {
    if !available() {
        return Ok(());
    }
    if open_to_all(cidrs) {
        return remove(address, port);
    }
    let mut networks = Vec::new();
    for cidr in cidrs {
        let net = cidr
            .parse::<ipnet::Ipv4Net>()
            .or_else(|_| cidr.parse::<Ipv4Addr>().map(ipnet::Ipv4Net::from))
            .map_err(|_| HostError::Invalid(format!("'{cidr}' is not an IPv4 network")))?;
        // nft refuses a prefix with host bits set (`10.1.2.3/16`): the network it names.
        networks.push(net.trunc().to_string());
    }
    let chain = chain(address);
    let script = format!(
        "add table {TABLE}\n\
         add chain {TABLE} input {{ type filter hook input priority -10 ; policy accept ; }}\n\
         add map {TABLE} targets {{ type ipv4_addr . inet_service : verdict ; }}\n\
         flush chain {TABLE} input\n\
         add rule {TABLE} input ip daddr . tcp dport vmap @targets\n\
         add chain {TABLE} {chain}\n\
         flush chain {TABLE} {chain}\n\
         add rule {TABLE} {chain} ip saddr {{ {allowed} }} accept\n\
         add rule {TABLE} {chain} reject with tcp reset\n\
         add element {TABLE} targets {{ {address} . {port} : jump {chain} }}\n",
        allowed = networks.join(", "),
    );
    run(&script)
}

/// Removes the rule of the instance at `address:port`, if it has one.
pub fn remove(address: Ipv4Addr, port: u16) -> Result<(), HostError> {
    if !available() || !has_rule(address) {
        return Ok(());
    }
    let chain = chain(address);
    // The element may be gone already (a removal interrupted between the two): try both ways.
    let both = format!("delete element {TABLE} targets {{ {address} . {port} }}\ndelete chain {TABLE} {chain}\n");
    run(&both).or_else(|_| run(&format!("delete chain {TABLE} {chain}\n")))
}
