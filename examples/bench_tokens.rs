//! New personal-token secrets for `bench/load.sh`'s distinct-tokens rows.
//!
//! Usage: `bench_tokens COUNT` prints `COUNT` lines of `SECRET DIGEST`, the
//! digest being the SHA-256 the database stores, in hex. The script stores
//! the digests as tokens of its organization and sends the secrets, each
//! first used in the run.

use std::io::{BufWriter, Write};

use lynk::auth::{CredentialKind, token_format};

fn main() -> std::io::Result<()> {
    let Some(Ok(count)) = std::env::args().nth(1).map(|count| count.parse::<usize>()) else {
        eprintln!("usage: bench_tokens COUNT");
        std::process::exit(2);
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    for _ in 0..count {
        let generated = token_format::generate(CredentialKind::Personal);
        write!(out, "{} ", generated.secret.expose())?;
        for byte in generated.digest.0 {
            write!(out, "{byte:02x}")?;
        }
        writeln!(out)?;
    }
    out.flush()
}
