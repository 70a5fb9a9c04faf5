//! `tessera-vendor`: the vendor's tool. Makes a signing key pair, turns a license request into a
//! signed package, and inspects packages. Everything it writes follows LICENSE-FORMAT.md, so
//! OpenSSL or any Ed25519 library could have written it too.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use serde::Deserialize;
use serde_json::{Value, json};
use tessera::licenses::format::{CERTIFICATE_BLOCK, Envelope, PackageRefusal};
use tessera::licenses::verify::{
    Limits, TrustedKeys, armored_blocks, decode_request, key_id, key_pair_pem, sign_certificate,
    verify_package,
};

const USAGE: &str = "usage:
  tessera-vendor keygen --out PREFIX
      writes PREFIX.key (PKCS#8 private key) and PREFIX.pub (SPKI public key), prints the key id
  tessera-vendor issue --key KEY.pem --request REQUEST.tlr [--out PACKAGE.lcs]
                       (--spec SPEC.json | certificate options)
      certificate options (one group of certificates):
        --type platform|platform_unlimited_agents|agent|personal|server
        --product CODE --product-name NAME --mode subscription|buyout|test
        [--days N | --permanent] [--not-before DATE] [--not-after DATE]
        [--seats N] [--binding fixed|floating] [--feature NAME] [--tenant ID]
        [--count N] [--revokes ID,ID]
      SPEC.json: an array of such groups, with the same names in snake_case
        ([{\"type\": \"agent\", \"binding\": \"floating\", \"count\": 10, ...}])
  tessera-vendor inspect PACKAGE.lcs [--keys PUBLIC.pem]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tessera-vendor: {message}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let Some((command, rest)) = args.split_first() else {
        return Err(format!("no command\n{USAGE}"));
    };
    let opts = Options::parse(rest)?;
    match command.as_str() {
        "keygen" => keygen(&opts),
        "issue" => issue(&opts),
        "inspect" => inspect(&opts),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command {other:?}\n{USAGE}")),
    }
}

/// `--name value` pairs, `--flag`s, and positional arguments.
struct Options {
    pairs: Vec<(String, String)>,
    flags: Vec<String>,
    positional: Vec<String>,
}

const FLAGS: [&str; 1] = ["permanent"];

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            pairs: vec![],
            flags: vec![],
            positional: vec![],
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            match a.strip_prefix("--") {
                Some(name) if FLAGS.contains(&name) => o.flags.push(name.to_string()),
                Some(name) => {
                    let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
                    o.pairs.push((name.to_string(), value.clone()));
                }
                None => o.positional.push(a.clone()),
            }
        }
        Ok(o)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn need(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("--{name} is required"))
    }

    fn only(&self, allowed: &[&str]) -> Result<(), String> {
        for (k, _) in &self.pairs {
            if !allowed.contains(&k.as_str()) {
                return Err(format!("unknown option --{k}"));
            }
        }
        Ok(())
    }
}

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn keygen(o: &Options) -> Result<(), String> {
    o.only(&["out"])?;
    let prefix = o.need("out")?;
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness: {e}"))?;
    let key = SigningKey::from_bytes(&seed);
    let (private, public) = key_pair_pem(&key).map_err(|e| e.to_string())?;
    let key_path = format!("{prefix}.key");
    write_private(Path::new(&key_path), &private)?;
    let pub_path = format!("{prefix}.pub");
    std::fs::write(&pub_path, public).map_err(|e| format!("cannot write {pub_path}: {e}"))?;
    println!("{}", key_id(key.verifying_key().as_bytes()));
    eprintln!("wrote {key_path} (keep it secret) and {pub_path} (give it to customers)");
    Ok(())
}

fn write_private(path: &Path, pem: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    f.write_all(pem.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// One group of certificates, as in `--spec` or the certificate options.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    #[serde(rename = "type")]
    license_type: String,
    product: String,
    product_name: String,
    mode: String,
    #[serde(default)]
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
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    revokes: Vec<String>,
}

fn one() -> u32 {
    1
}

fn group_from_options(o: &Options) -> Result<Group, String> {
    let number = |name: &str| -> Result<Option<u32>, String> {
        o.get(name)
            .map(|v| {
                v.parse::<u32>()
                    .map_err(|_| format!("--{name} must be a whole number, not {v:?}"))
            })
            .transpose()
    };
    Ok(Group {
        license_type: o.need("type")?.to_string(),
        product: o.need("product")?.to_string(),
        product_name: o.need("product-name")?.to_string(),
        mode: o.need("mode")?.to_string(),
        days: number("days")?,
        permanent: o.flags.iter().any(|f| f == "permanent"),
        not_before: o.get("not-before").map(String::from),
        not_after: o.get("not-after").map(String::from),
        seats: number("seats")?,
        binding: o.get("binding").map(String::from),
        feature: o.get("feature").map(String::from),
        tenant: o.get("tenant").map(String::from),
        count: number("count")?.unwrap_or(1),
        revokes: o
            .get("revokes")
            .map(|r| {
                r.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
    })
}

fn check_group(g: &Group) -> Result<(), String> {
    let types = [
        "platform",
        "platform_unlimited_agents",
        "agent",
        "personal",
        "server",
    ];
    if !types.contains(&g.license_type.as_str()) {
        return Err(format!("--type must be one of {}", types.join(", ")));
    }
    if !["subscription", "buyout", "test"].contains(&g.mode.as_str()) {
        return Err("--mode must be subscription, buyout or test".into());
    }
    if g.permanent == g.days.is_some() {
        return Err("give either --days N or --permanent".into());
    }
    match g.license_type.as_str() {
        "personal" if g.seats.unwrap_or(0) == 0 => {
            Err("a personal license needs --seats (at least 1)".into())
        }
        "agent" if !matches!(g.binding.as_deref(), Some("fixed" | "floating")) => {
            Err("an agent license needs --binding fixed or floating".into())
        }
        "server" if g.feature.as_deref().is_none_or(str::is_empty) => {
            Err("a server license needs --feature".into())
        }
        _ if g.count == 0 => Err("--count must be at least 1".into()),
        _ => Ok(()),
    }
}

fn issue(o: &Options) -> Result<(), String> {
    let key_path = o.need("key")?;
    let request_path = o.need("request")?;
    let key = SigningKey::from_pkcs8_pem(&read(key_path)?)
        .map_err(|e| format!("{key_path} is not an Ed25519 PKCS#8 private key: {e}"))?;
    let request =
        decode_request(&read(request_path)?).map_err(|e| format!("{request_path}: {e}"))?;
    let groups: Vec<Group> = match o.get("spec") {
        Some(spec) => {
            o.only(&["key", "request", "out", "spec"])?;
            serde_json::from_str(&read(spec)?).map_err(|e| format!("{spec}: {e}"))?
        }
        None => vec![group_from_options(o)?],
    };
    if groups.is_empty() {
        return Err("the spec holds no certificates".into());
    }
    let issued_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut out = format!(
        "Tessera license package for installation {} ({}), issued {issued_at}.\n\n",
        request.installation_id, request.company_id
    );
    for g in &groups {
        check_group(g)?;
        for _ in 0..g.count {
            let mut cert = json!({
                "format": 1,
                "id": uuid::Uuid::new_v4().to_string(),
                "installation_id": request.installation_id,
                "company_id": request.company_id,
                "product": g.product,
                "product_name": g.product_name,
                "type": g.license_type,
                "mode": g.mode,
                "validity_days": g.days,
                "not_before": g.not_before,
                "not_after": g.not_after,
                "tenant_id": g.tenant,
                "issued_at": issued_at,
            });
            if let Some(map) = cert.as_object_mut() {
                if let Some(s) = g.seats {
                    map.insert("seats".into(), json!(s));
                }
                if let Some(b) = &g.binding {
                    map.insert("binding".into(), json!(b));
                }
                if let Some(f) = &g.feature {
                    map.insert("feature".into(), json!(f));
                }
                if !g.revokes.is_empty() {
                    map.insert("revokes".into(), json!(g.revokes));
                }
            }
            let bytes = serde_json::to_vec(&cert).map_err(|e| e.to_string())?;
            out.push_str(&sign_certificate(&key, &bytes));
        }
        println!(
            "{} × {} {} ({}, {})",
            g.count,
            g.product_name,
            g.license_type,
            g.mode,
            g.days
                .map(|d| format!("{d} days"))
                .unwrap_or_else(|| "permanent".into())
        );
    }
    let out_path = match o.get("out") {
        Some(p) => PathBuf::from(p),
        None => Path::new(request_path).with_extension("lcs"),
    };
    std::fs::write(&out_path, out)
        .map_err(|e| format!("cannot write {}: {e}", out_path.display()))?;
    eprintln!("wrote {}", out_path.display());
    Ok(())
}

fn inspect(o: &Options) -> Result<(), String> {
    o.only(&["keys"])?;
    let path = o.positional.first().ok_or("inspect needs a package file")?;
    let text = read(path)?;
    let keys = o
        .get("keys")
        .map(|k| TrustedKeys::from_pem(&read(k)?).map_err(|e| format!("{k}: {e}")))
        .transpose()?;
    let blocks = armored_blocks(&text, CERTIFICATE_BLOCK);
    if blocks.is_empty() {
        return Err(format!("{path} holds no TESSERA CERTIFICATE block"));
    }
    // The verdicts, by block, when keys were given.
    let verdict = keys.as_ref().map(|keys| {
        let installation = blocks
            .first()
            .and_then(|b| payload_of(b))
            .and_then(|p| p["installation_id"].as_str().map(String::from))
            .unwrap_or_default();
        let limits = Limits {
            max_bytes: u64::MAX,
            max_certificates: u64::MAX,
        };
        verify_package(
            text.as_bytes(),
            keys,
            &installation,
            chrono::Utc::now(),
            &limits,
        )
    });
    for (i, body) in blocks.iter().enumerate() {
        let block = i + 1;
        let Some(c) = payload_of(body) else {
            println!("block {block}: unreadable");
            continue;
        };
        let s = |k: &str| match &c[k] {
            Value::Null => "-".to_string(),
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        let extra = match s("type").as_str() {
            "personal" => format!(" seats {}", s("seats")),
            "agent" => format!(" binding {}", s("binding")),
            "server" => format!(" feature {}", s("feature")),
            _ => String::new(),
        };
        let status = match &verdict {
            None => "signature not checked (give --keys)".to_string(),
            Some(Ok(_)) => "verifies".to_string(),
            Some(Err(PackageRefusal::BadCertificates { blocks })) => {
                match blocks.iter().find(|b| b.block == block) {
                    Some(b) => format!("REFUSED: {:?}", b.refusal),
                    None => "verifies".to_string(),
                }
            }
            Some(Err(other)) => format!("REFUSED: {other:?}"),
        };
        println!(
            "block {block}: {} {} {} ({}) {} days {}{extra} tenant {} not_before {} not_after {}: {status}",
            s("id"),
            s("type"),
            s("product"),
            s("product_name"),
            s("mode"),
            s("validity_days"),
            s("tenant_id"),
            s("not_before"),
            s("not_after"),
        );
    }
    match verdict {
        Some(Err(_)) => Err("the package would be refused".into()),
        _ => Ok(()),
    }
}

fn payload_of(body: &str) -> Option<Value> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    let envelope: Envelope = serde_json::from_slice(&STANDARD.decode(body).ok()?).ok()?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(envelope.payload).ok()?).ok()
}
