//! The deployment examples under `deploy/`, checked as far as a test
//! machine allows: the Dockerfile parsed (built with `--locked`, run as a
//! user that is not root, the binary copied from the build stage), the
//! systemd unit through `systemd-analyze verify` when it is installed, and
//! the nginx example forwarding `/`, `/console/` and `/lynkapi` but not
//! `/metrics`.

use std::{collections::BTreeMap, path::PathBuf, process::Command};

use crate::helpers::lynk_binary;

fn deploy_file(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A Dockerfile as (instruction, arguments), continuation lines joined and
/// comments dropped.
fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(continued) = line.strip_suffix('\\') {
            current.push_str(continued);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (instruction, arguments) = current.trim().split_once(' ').unwrap_or((&current, ""));
        instructions.push((instruction.to_uppercase(), arguments.trim().to_owned()));
        current.clear();
    }
    assert!(current.is_empty(), "a continuation line ends the file");
    instructions
}

#[test]
fn the_dockerfile_builds_locked_and_runs_as_a_user() {
    let instructions = dockerfile_instructions(&deploy_file("Dockerfile"));
    let stages: Vec<&(String, String)> = instructions.iter().filter(|(i, _)| i == "FROM").collect();
    assert_eq!(
        stages.len(),
        2,
        "a build stage and a runtime stage: {stages:?}"
    );
    assert!(stages[0].1.ends_with(" AS build"), "{stages:?}");
    let toolchain = stages[0].1.trim_start_matches("rust:");
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    let wanted = manifest
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("rust-version in Cargo.toml");
    let image_version: Vec<u32> = toolchain
        .split(['-', ' '])
        .next()
        .unwrap()
        .split('.')
        .map(|n| n.parse().unwrap())
        .collect();
    let wanted: Vec<u32> = wanted.split('.').map(|n| n.parse().unwrap()).collect();
    assert!(
        image_version >= wanted,
        "rust image {toolchain} older than rust-version {wanted:?}"
    );

    let runtime = instructions
        .iter()
        .position(|(i, a)| i == "FROM" && !a.contains(" AS build"))
        .unwrap();
    let (build, run) = instructions.split_at(runtime);
    assert!(
        build
            .iter()
            .any(|(i, a)| i == "RUN" && a.starts_with("cargo install --locked ")),
        "the build stage installs with --locked: {build:?}"
    );
    assert!(
        run.iter().any(|(i, a)| i == "COPY"
            && a.starts_with("--from=build ")
            && a.ends_with(" /usr/local/bin/lynk")),
        "the runtime stage takes only the binary: {run:?}"
    );
    assert!(!run.iter().any(|(i, _)| i == "ADD"), "{run:?}");
    let users: Vec<&String> = run
        .iter()
        .filter(|(i, _)| i == "USER")
        .map(|(_, a)| a)
        .collect();
    assert_eq!(users.len(), 1, "{run:?}");
    let user = users[0].split(':').next().unwrap();
    assert!(!["root", "0", ""].contains(&user), "runs as {user}");
    // Nothing runs as root after the switch.
    let switched = run.iter().position(|(i, _)| i == "USER").unwrap();
    assert!(!run[switched..].iter().any(|(i, _)| i == "RUN"), "{run:?}");
    let env: String = run
        .iter()
        .filter(|(i, _)| i == "ENV")
        .map(|(_, a)| a.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    assert!(env.contains("LYNK_LISTEN=0.0.0.0:8080"), "{env}");
    assert!(run.contains(&("EXPOSE".into(), "8080".into())), "{run:?}");
    assert!(run.contains(&("ENTRYPOINT".into(), r#"["/usr/local/bin/lynk"]"#.into())));
    assert!(run.contains(&("CMD".into(), r#"["serve"]"#.into())));
    // The build context leaves out what it must not copy.
    let ignored =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.dockerignore")).unwrap();
    assert!(ignored.lines().any(|l| l.trim() == "target/"), "{ignored}");
    eprintln!(
        "the Dockerfile is parsed, not built: an image build takes about 11 minutes on 2 cores"
    );
}

/// The unit's `Key=value` settings by section (repeated keys kept in order).
fn unit_settings(text: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line.split_once('=').expect("Key=value");
        sections
            .entry(section.clone())
            .or_default()
            .push((key.to_owned(), value.to_owned()));
    }
    sections
}

#[test]
fn the_systemd_unit_verifies_and_is_locked_down() {
    let unit = deploy_file("lynk.service");
    let settings = unit_settings(&unit);
    let service = &settings["Service"];
    let get = |key: &str| {
        service
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(get("ExecStart"), ["/usr/local/bin/lynk serve"]);
    assert_eq!(get("DynamicUser"), ["yes"]);
    assert_eq!(get("StateDirectory"), ["lynk"]);
    assert_eq!(get("NoNewPrivileges"), ["yes"]);
    assert_eq!(get("ProtectSystem"), ["strict"]);
    assert_eq!(get("CapabilityBoundingSet"), [""]);
    assert_eq!(get("EnvironmentFile"), ["-/etc/lynk/lynk.env"]);
    let environment = get("Environment");
    assert!(
        environment.contains(&"LYNK_LISTEN=127.0.0.1:8080"),
        "{environment:?}"
    );
    assert!(
        environment
            .iter()
            .any(|e| e.starts_with("DATABASE_URL=sqlite:///var/lib/lynk/")),
        "the database in the state directory: {environment:?}"
    );
    assert!(
        !unit.contains("PASSWORD"),
        "secrets go in the environment file"
    );
    assert_eq!(
        settings["Install"],
        [("WantedBy".into(), "multi-user.target".into())]
    );

    let Ok(probe) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("systemd-analyze verify skipped: systemd-analyze is not installed");
        return;
    };
    assert!(probe.status.success());
    // verify needs ExecStart to exist: the unit, pointed at the binary
    // these tests built, under the same file name.
    let directory = tempfile::tempdir().unwrap();
    let binary = lynk_binary().get_program().to_owned();
    let path = directory.path().join("lynk.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/lynk", &binary.to_string_lossy()),
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    // Lines about other units on the host (unrelated to this file) are
    // not this test's business.
    let ours: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("lynk.service"))
        .collect();
    assert!(
        output.status.success() && ours.is_empty(),
        "systemd-analyze verify: {said}"
    );
}

/// The nginx example's `location` blocks: (matcher, body), comments left
/// out.
fn nginx_locations(text: &str) -> Vec<(String, String)> {
    let text: String = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut locations = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("location ") {
        let after = &rest[start + "location ".len()..];
        let open = after.find('{').unwrap();
        let close = after.find('}').unwrap();
        locations.push((
            after[..open].trim().to_owned(),
            after[open + 1..close].trim().to_owned(),
        ));
        rest = &after[close..];
    }
    locations
}

/// Which location nginx picks for `path` (exact, then longest prefix; the
/// example uses no regular expressions).
fn nginx_route<'a>(locations: &'a [(String, String)], path: &str) -> &'a str {
    if let Some((_, body)) = locations
        .iter()
        .find(|(m, _)| m.strip_prefix("= ") == Some(path))
    {
        return body;
    }
    locations
        .iter()
        .filter(|(m, _)| !m.starts_with('=') && !m.starts_with('~') && path.starts_with(m.as_str()))
        .max_by_key(|(m, _)| m.len())
        .map(|(_, body)| body.as_str())
        .expect("a location for every path")
}

#[test]
fn the_reverse_proxy_forwards_the_console_and_the_api_but_not_metrics() {
    let text = deploy_file("nginx.conf");
    let locations = nginx_locations(&text);
    assert!(
        locations.iter().all(|(m, _)| !m.starts_with('~')),
        "no regular expressions: {locations:?}"
    );
    for path in [
        "/",
        "/console/app.js",
        "/console/accept.js",
        "/lynkapi",
        "/lynkapi/assets/graphiql.min.js",
    ] {
        assert_eq!(
            nginx_route(&locations, path),
            "proxy_pass http://lynk;",
            "{path}"
        );
    }
    for path in ["/metrics", "/metrics/", "/healthz", "/readyz", "/anything"] {
        assert_eq!(nginx_route(&locations, path), "return 404;", "{path}");
    }
    assert!(
        text.contains("server 127.0.0.1:8080;"),
        "the unit's address"
    );
    assert!(text.contains("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"));
    if Command::new("nginx").arg("-v").output().is_err() {
        eprintln!("nginx -t skipped: nginx is not installed; the example is parsed only");
    }
}
