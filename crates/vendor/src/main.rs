//! `tessera-vendor`: the vendor's tool. Makes a signing key pair, turns a license request into a
//! signed package, and inspects packages. Everything it writes follows LICENSE-FORMAT.md, so
//! OpenSSL or any Ed25519 library could have written it too.
//!
//! Exit codes: 0 done; 1 `inspect` found a package an installation would refuse; 2 an error (a
//! missing file, a bad key, a malformed request, a wrong option), told in one line on stderr.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use serde::Deserialize;
use serde_json::Value;
use tessera_license::{
    Binding, CERTIFICATE_BLOCK, Certificate, Envelope, FORMAT_VERSION, LicenseRequest, LicenseType,
    Limits, MAX_SEATS, MAX_VALIDITY_DAYS, Mode, PackageRefusal, REQUEST_BLOCK, TrustedKeys,
    armored_blocks, decode_request, key_id, key_pair_pem, parse_date_end, parse_date_start,
    sign_certificate, verify_package,
};

/// What `--help` adds after the commands.
const SPEC_HELP: &str =
    "SPEC.json (issue --spec): an array of certificate groups with the certificate options' names
in snake_case, e.g.
  [{\"type\": \"agent\", \"product\": \"ai-server\", \"product_name\": \"Agent\",
    \"mode\": \"subscription\", \"days\": 365, \"binding\": \"floating\", \"count\": 10}]

Exit codes: 0 done; 1 inspect found a package an installation would refuse; 2 an error, told in
one line on standard error.";

#[derive(Parser, Debug)]
#[command(
    name = "tessera-vendor",
    version,
    about = "Tessera's vendor tool: signing keys, signed license packages, their inspection",
    after_help = SPEC_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Make a signing key pair: PREFIX.key (PKCS#8 private key, mode 0600) and PREFIX.pub (SPKI
    /// public key); print the key id.
    Keygen {
        #[arg(long, value_name = "PREFIX")]
        out: String,
    },
    /// Turn a license request into a signed package: one group of identical certificates from
    /// the certificate options, or the groups of --spec.
    Issue(Box<Issue>),
    /// List a package's certificates (with --keys, whether an installation would accept each),
    /// or print a request: tenants, counts, and its usage summary.
    Inspect {
        /// The package (.lcs) or request (.tlr).
        file: String,
        /// The vendor public keys (PEM) an installation trusts.
        #[arg(long, value_name = "PUBLIC.pem")]
        keys: Option<String>,
        /// The installation to check for (default: the one the first certificate names).
        #[arg(long, value_name = "ID")]
        installation: Option<String>,
    },
}

/// `issue`'s options: where from and to, and the certificates.
#[derive(Args, Debug)]
struct Issue {
    /// The vendor's private key.
    #[arg(long, value_name = "KEY.key")]
    key: String,
    /// The customer's license request.
    #[arg(long, value_name = "REQUEST.tlr")]
    request: String,
    /// Where to write the package (default: beside the request, with the extension .lcs).
    #[arg(long, value_name = "PACKAGE.lcs")]
    out: Option<String>,
    /// The certificate groups, as JSON (instead of the certificate options).
    #[arg(long, value_name = "SPEC.json", conflicts_with = "certificate")]
    spec: Option<String>,
    #[command(flatten)]
    certificate: CertificateOptions,
}

/// One group of identical certificates.
#[derive(Args, Debug)]
#[group(id = "certificate", multiple = true)]
struct CertificateOptions {
    /// platform, platform_unlimited_agents, agent, personal or server
    #[arg(long = "type", value_name = "TYPE")]
    license_type: Option<String>,
    #[arg(long, value_name = "CODE")]
    product: Option<String>,
    #[arg(long, value_name = "NAME")]
    product_name: Option<String>,
    /// subscription, buyout or test
    #[arg(long)]
    mode: Option<String>,
    /// Days of validity, from its activation.
    #[arg(long, value_name = "N")]
    days: Option<u32>,
    /// Valid for ever (instead of --days).
    #[arg(long)]
    permanent: bool,
    /// Its first valid day, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    not_before: Option<String>,
    /// Its last valid day, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    not_after: Option<String>,
    /// Seats (personal licenses).
    #[arg(long, value_name = "N")]
    seats: Option<u32>,
    /// fixed or floating (agent licenses).
    #[arg(long)]
    binding: Option<String>,
    /// The feature a server license unlocks.
    #[arg(long, value_name = "NAME")]
    feature: Option<String>,
    /// The tenant it is for.
    #[arg(long, value_name = "ID")]
    tenant: Option<String>,
    /// How many identical certificates [default: 1]
    #[arg(long, value_name = "N")]
    count: Option<u32>,
    /// The certificates it withdraws, comma-separated.
    #[arg(long, value_name = "ID,ID", value_delimiter = ',')]
    revokes: Vec<String>,
}

/// An error for the person at the terminal: one line, exit code 2.
type Outcome = Result<ExitCode, String>;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        // clap's refusal, in this tool's one line: its first line, without "error: ".
        Err(e) => return refuse(first_line(&e.to_string())),
    };
    let outcome = match cli.command {
        Command::Keygen { out } => keygen(&out),
        Command::Issue(issue_args) => issue(&issue_args),
        Command::Inspect {
            file,
            keys,
            installation,
        } => inspect(&file, keys.as_deref(), installation.as_deref()),
    };
    match outcome {
        Ok(code) => code,
        Err(message) => refuse(message),
    }
}

/// clap's message up to its first blank line (before the usage it adds), as one line, without
/// its "error: ".
fn first_line(message: &str) -> String {
    let said: Vec<&str> = message
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let said = said.join(" ");
    said.strip_prefix("error: ").unwrap_or(&said).to_string()
}

fn refuse(message: String) -> ExitCode {
    // One line, whatever the message carries.
    eprintln!("tessera-vendor: {}", message.replace(['\n', '\r'], " "));
    ExitCode::from(2)
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn keygen(prefix: &str) -> Outcome {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    let (private, public) = key_pair_pem(&key).map_err(|e| e.to_string())?;
    let key_path = format!("{prefix}.key");
    let pub_path = format!("{prefix}.pub");
    // Overwriting a signing key would orphan every installation that trusts it.
    for path in [&key_path, &pub_path] {
        if Path::new(path).exists() {
            return Err(format!("{path} exists; not overwriting a key"));
        }
    }
    write_new(Path::new(&key_path), &private, 0o600)?;
    write_new(Path::new(&pub_path), &public, 0o644)?;
    println!("{}", key_id(key.verifying_key().as_bytes()));
    eprintln!("wrote {key_path} (keep it secret) and {pub_path} (give it to customers)");
    Ok(ExitCode::SUCCESS)
}

/// Writes a file that must not exist yet, with its mode set at creation (a private key is never
/// readable by others, not even for a moment).
fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// One group of identical certificates, as in `--spec` or the certificate options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    #[serde(rename = "type")]
    license_type: String,
    product: String,
    product_name: String,
    mode: String,
    #[serde(default, alias = "validity_days")]
    days: Option<u32>,
    #[serde(default)]
    permanent: bool,
    #[serde(default)]
    not_before: Option<String>,
    #[serde(default)]
    not_after: Option<String>,
    #[serde(default)]
    seats: Option<u32>,
    #[serde(default)]
    binding: Option<String>,
    #[serde(default)]
    feature: Option<String>,
    #[serde(default, alias = "tenant_id")]
    tenant: Option<String>,
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    revokes: Vec<String>,
}

fn one() -> u32 {
    1
}

fn group_from_options(o: &CertificateOptions) -> Result<Group, String> {
    let need = |value: &Option<String>, name: &str| {
        value
            .clone()
            .ok_or_else(|| format!("--{name} is required (or give --spec)"))
    };
    Ok(Group {
        license_type: need(&o.license_type, "type")?,
        product: need(&o.product, "product")?,
        product_name: need(&o.product_name, "product-name")?,
        mode: need(&o.mode, "mode")?,
        days: o.days,
        permanent: o.permanent,
        not_before: o.not_before.clone(),
        not_after: o.not_after.clone(),
        seats: o.seats,
        binding: o.binding.clone(),
        feature: o.feature.clone(),
        tenant: o.tenant.clone(),
        count: o.count.unwrap_or(1),
        revokes: o
            .revokes
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    })
}

/// The certificate a group describes (without its id), or what is wrong with the group: the
/// tool never writes a certificate an installation would refuse.
fn template(
    g: &Group,
    request: &LicenseRequest,
    now: DateTime<Utc>,
) -> Result<Certificate, String> {
    let names = |all: &[&str]| all.join(", ");
    let license_type = LicenseType::parse(&g.license_type).ok_or_else(|| {
        format!(
            "type {:?} is none of {}",
            g.license_type,
            names(&LicenseType::ALL.map(LicenseType::as_str))
        )
    })?;
    let mode = Mode::parse(&g.mode).ok_or_else(|| {
        format!(
            "mode {:?} is none of {}",
            g.mode,
            names(&Mode::ALL.map(Mode::as_str))
        )
    })?;
    let validity_days = match (g.days, g.permanent) {
        (Some(d), false) if (1..=MAX_VALIDITY_DAYS).contains(&u64::from(d)) => Some(d),
        (Some(_), false) => {
            return Err(format!("days must be from 1 to {MAX_VALIDITY_DAYS}"));
        }
        (None, true) => None,
        _ => return Err("give either days (--days N) or permanent (--permanent)".into()),
    };
    if g.product.trim().is_empty() || g.product_name.trim().is_empty() {
        return Err("product and product name must not be empty".into());
    }
    let needs = |what: &str, given: bool, wanted: bool, owner: &str| -> Result<(), String> {
        match (given, wanted) {
            (false, true) => Err(format!("a {owner} license needs {what}")),
            (true, false) => Err(format!("{what} is for {owner} licenses only")),
            _ => Ok(()),
        }
    };
    needs(
        "seats",
        g.seats.is_some(),
        license_type == LicenseType::Personal,
        "personal",
    )?;
    needs(
        "binding",
        g.binding.is_some(),
        license_type == LicenseType::Agent,
        "agent",
    )?;
    needs(
        "feature",
        g.feature.is_some(),
        license_type == LicenseType::Server,
        "server",
    )?;
    if let Some(seats) = g.seats
        && !(1..=MAX_SEATS).contains(&u64::from(seats))
    {
        return Err(format!("seats must be from 1 to {MAX_SEATS}"));
    }
    let binding = match g.binding.as_deref() {
        None => None,
        Some(b) => Some(
            Binding::parse(b)
                .ok_or_else(|| format!("binding {b:?} is neither fixed nor floating"))?,
        ),
    };
    if g.feature.as_deref().is_some_and(|f| f.trim().is_empty()) {
        return Err("feature must not be empty".into());
    }
    let not_before = match g.not_before.as_deref() {
        None => None,
        Some(d) => Some(parse_date_start(d).ok_or_else(|| {
            format!("not-before {d:?} is not a date (2027-01-31) or an RFC 3339 time")
        })?),
    };
    let not_after = match g.not_after.as_deref() {
        None => None,
        Some(d) => Some(parse_date_end(d).ok_or_else(|| {
            format!("not-after {d:?} is not a date (2027-01-31) or an RFC 3339 time")
        })?),
    };
    if not_after.is_some_and(|t| t < now) {
        return Err("not-after lies in the past: the certificate would be refused".into());
    }
    if let (Some(from), Some(to)) = (not_before, not_after)
        && from > to
    {
        return Err("not-before lies after not-after".into());
    }
    if g.count == 0 {
        return Err("count must be at least 1".into());
    }
    Ok(Certificate {
        format: FORMAT_VERSION,
        id: String::new(),
        installation_id: request.installation_id.clone(),
        company_id: request.company_id.clone(),
        product: g.product.clone(),
        product_name: g.product_name.clone(),
        license_type,
        mode,
        validity_days,
        not_before: g.not_before.clone(),
        not_after: g.not_after.clone(),
        seats: g.seats,
        binding,
        feature: g.feature.clone(),
        tenant_id: g.tenant.clone(),
        issued_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        revokes: g.revokes.clone(),
    })
}

/// One line about a certificate group or a certificate: what it is and what it licenses.
fn describe(c: &Certificate) -> String {
    let validity = c
        .validity_days
        .map(|d| format!("{d} days"))
        .unwrap_or_else(|| "permanent".into());
    let mut line = format!(
        "{} {} ({}) {}, {validity}",
        c.license_type.as_str(),
        c.product,
        c.product_name,
        c.mode.as_str()
    );
    if let Some(s) = c.seats {
        line += &format!(", {s} seats");
    }
    if let Some(b) = c.binding {
        line += &format!(", binding {}", b.as_str());
    }
    if let Some(f) = &c.feature {
        line += &format!(", feature {f}");
    }
    for (label, value) in [
        ("tenant", &c.tenant_id),
        ("not before", &c.not_before),
        ("not after", &c.not_after),
    ] {
        if let Some(v) = value {
            line += &format!(", {label} {v}");
        }
    }
    if !c.revokes.is_empty() {
        line += &format!(", revokes {}", c.revokes.join(","));
    }
    line
}

fn issue(o: &Issue) -> Outcome {
    let key_path = o.key.as_str();
    let request_path = o.request.as_str();
    let key = SigningKey::from_pkcs8_pem(&read(key_path)?)
        .map_err(|e| format!("{key_path} is not an Ed25519 PKCS#8 private key: {e}"))?;
    let request =
        decode_request(&read(request_path)?).map_err(|e| format!("{request_path}: {e}"))?;
    // clap refuses --spec beside certificate options.
    let groups: Vec<Group> = match &o.spec {
        Some(spec) => serde_json::from_str(&read(spec)?).map_err(|e| format!("{spec}: {e}"))?,
        None => vec![group_from_options(&o.certificate)?],
    };
    if groups.is_empty() {
        return Err("the spec holds no certificates".into());
    }
    let now = Utc::now();
    let mut templates = Vec::with_capacity(groups.len());
    for (i, g) in groups.iter().enumerate() {
        let cert = template(g, &request, now).map_err(|e| match &o.spec {
            Some(spec) => format!("{spec}, group {}: {e}", i + 1),
            None => e,
        })?;
        templates.push((cert, g.count));
    }
    let total: u64 = templates.iter().map(|(_, n)| u64::from(*n)).sum();

    let mut package = format!(
        "Tessera license package for installation {} ({}), issued {}: {total} certificate(s).\n\n",
        request.installation_id,
        request.company_id,
        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let mut summary = Vec::new();
    for (template, count) in &templates {
        for _ in 0..*count {
            let cert = Certificate {
                id: uuid::Uuid::new_v4().to_string(),
                ..template.clone()
            };
            let json = serde_json::to_vec(&cert).map_err(|e| e.to_string())?;
            package.push_str(&sign_certificate(&key, &json));
        }
        summary.push(format!("{count} × {}", describe(template)));
    }

    // What the installation will do with it, checked before anything is written.
    let (_, public) = key_pair_pem(&key).map_err(|e| e.to_string())?;
    let own = TrustedKeys::from_pem(&public).map_err(|e| e.to_string())?;
    let unlimited = Limits {
        max_bytes: u64::MAX,
        max_certificates: u64::MAX,
    };
    verify_package(
        package.as_bytes(),
        &own,
        &request.installation_id,
        now,
        &unlimited,
    )
    .map_err(|refusal| format!("the package would be refused: {refusal}"))?;

    let out_path = match &o.out {
        Some(p) => PathBuf::from(p),
        None => Path::new(request_path).with_extension("lcs"),
    };
    std::fs::write(&out_path, &package)
        .map_err(|e| format!("cannot write {}: {e}", out_path.display()))?;
    for line in summary {
        println!("{line}");
    }
    let defaults = Limits::default();
    if total > defaults.max_certificates || package.len() as u64 > defaults.max_bytes {
        eprintln!(
            "note: over an installation's default limits ({} certificates, {} bytes); it must \
             raise them to accept this package",
            defaults.max_certificates, defaults.max_bytes
        );
    }
    eprintln!("wrote {} ({total} certificates)", out_path.display());
    Ok(ExitCode::SUCCESS)
}

fn inspect(path: &str, keys: Option<&str>, installation: Option<&str>) -> Outcome {
    let text = read(path)?;
    let keys = keys
        .map(|k| TrustedKeys::from_pem(&read(k)?).map_err(|e| format!("{k}: {e}")))
        .transpose()?;
    let blocks = armored_blocks(&text, CERTIFICATE_BLOCK);
    if blocks.is_empty() {
        if !armored_blocks(&text, REQUEST_BLOCK).is_empty() {
            let request = decode_request(&text).map_err(|e| format!("{path}: {e}"))?;
            print!("{}", describe_request(&request));
            return Ok(ExitCode::SUCCESS);
        }
        return Err(format!(
            "{path} holds no TESSERA CERTIFICATE block (nor a LICENSE REQUEST)"
        ));
    }
    let read_blocks: Vec<Option<(Envelope, Value)>> = blocks.iter().map(|b| open(b)).collect();
    // What an installation would say, when keys were given.
    let verdict = keys.as_ref().map(|keys| {
        let installation = installation
            .map(String::from)
            .or_else(|| {
                read_blocks.iter().flatten().find_map(|(_, c)| {
                    c.get("installation_id")
                        .and_then(Value::as_str)
                        .map(String::from)
                })
            })
            .unwrap_or_default();
        let unlimited = Limits {
            max_bytes: u64::MAX,
            max_certificates: u64::MAX,
        };
        verify_package(text.as_bytes(), keys, &installation, Utc::now(), &unlimited)
    });
    for (i, opened) in read_blocks.iter().enumerate() {
        let block = i + 1;
        let status = match &verdict {
            None => "signature not checked: whether it verifies with its key is unknown (give \
                     --keys)"
                .to_string(),
            Some(Ok(_)) => "verifies".to_string(),
            Some(Err(PackageRefusal::BadCertificates { blocks })) => {
                match blocks.iter().find(|b| b.block == block) {
                    Some(b) => format!("REFUSED: {}", b.refusal),
                    None => "verifies".to_string(),
                }
            }
            Some(Err(other)) => format!("REFUSED: {other}"),
        };
        let Some((envelope, c)) = opened else {
            println!("block {block}: unreadable: {status}");
            continue;
        };
        let field = |k: &str| match c.get(k) {
            None | Some(Value::Null) => "-".to_string(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        };
        let validity = match c.get("validity_days") {
            Some(Value::Null) => "permanent".to_string(),
            _ => format!("{} days", field("validity_days")),
        };
        let extra = match field("type").as_str() {
            "personal" => format!(", seats {}", field("seats")),
            "agent" => format!(", binding {}", field("binding")),
            "server" => format!(", feature {}", field("feature")),
            _ => String::new(),
        };
        println!(
            "block {block}: {} {} {} ({}) {}, {validity}{extra}, tenant {}, not_before {}, \
             not_after {}, key {}: {status}",
            field("id"),
            field("type"),
            field("product"),
            field("product_name"),
            field("mode"),
            field("tenant_id"),
            field("not_before"),
            field("not_after"),
            envelope.kid,
        );
    }
    match verdict {
        Some(Err(refusal)) => {
            eprintln!("an installation would refuse this package: {refusal}");
            Ok(ExitCode::from(1))
        }
        Some(Ok(good)) => {
            eprintln!("{} certificate(s), all verify", good.len());
            Ok(ExitCode::SUCCESS)
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

/// A license request as the vendor reads it before issuing: who asks, what they run, and what
/// they used of each product (the usage summary, when the installation sent one).
fn describe_request(r: &LicenseRequest) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "request of installation {} for company {}, version {}, made {}",
        r.installation_id, r.company_id, r.target_version, r.created_at
    );
    for t in &r.tenants {
        let _ = writeln!(
            out,
            "tenant {} ({}): platform until {}",
            t.id,
            t.name,
            t.platform_expires.as_deref().unwrap_or("-")
        );
    }
    let u = &r.usage;
    let _ = writeln!(
        out,
        "agents: {} registered, {} licensed; users: {} of {} licensed; {} certificate(s) installed",
        u.agents_registered,
        u.agents_licensed,
        u.users_licensed,
        u.users_total,
        r.installed.len()
    );
    if r.usage_summary.is_empty() {
        let _ = writeln!(out, "usage summary: none (the installation sent none)");
    }
    for p in &r.usage_summary {
        let _ = writeln!(
            out,
            "usage of {} ({}): owned {}",
            p.product, p.license_kind, p.owned
        );
        for d in &p.periods {
            let _ = writeln!(
                out,
                "  last {} days: peak {}, 95th percentile {} (per {}), refusals {}{}",
                d.days,
                d.peak,
                d.p95,
                d.bucket,
                d.refusals,
                if d.complete {
                    ""
                } else {
                    " (the record covers only part of it)"
                }
            );
        }
    }
    out
}

/// The envelope and certificate of a block, where both can be read (for display only: the
/// verdict comes from `verify_package`).
fn open(body: &str) -> Option<(Envelope, Value)> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let envelope: Envelope = serde_json::from_slice(&STANDARD.decode(body).ok()?).ok()?;
    let payload = URL_SAFE_NO_PAD
        .decode(envelope.payload.trim_end_matches('='))
        .ok()?;
    let certificate = serde_json::from_slice(&payload).ok()?;
    Some((envelope, certificate))
}
