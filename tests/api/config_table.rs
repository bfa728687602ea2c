//! The README's configuration tables say what `lynk serve --help` says.
//! Defaults are written once, in `src/config.rs` (docs/DESIGN.md §6.2);
//! the README repeats them for operators, and this test holds it to them:
//! every flag `--help` shows has a row, and every row's flags, environment
//! variables and defaults are the ones `--help` prints. A default changed
//! in code fails here until the table says the same.

use std::collections::BTreeMap;

use crate::helpers::lynk_binary;

/// One option as `lynk serve --help` shows it.
#[derive(Debug)]
struct HelpOption {
    takes_value: bool,
    env: Option<String>,
    default: Option<String>,
}

/// A default as the README's tables write it.
#[derive(Debug, Clone, PartialEq)]
enum TableDefault {
    /// A value in backticks: `--help` must print it as `[default: …]`.
    Value(String),
    /// "off": a switch, with no value and no default.
    Off,
    /// "none" or "generated": a value that has no default.
    Unset,
}

/// One flag of a table row, with its column values.
#[derive(Debug)]
struct TableFlag {
    flag: String,
    env: Option<String>,
    default: Option<TableDefault>,
    line: usize,
}

/// `lynk serve --help`, run as an operator would, by option name
/// (`--listen`). The environment is cleared so that clap shows no value
/// of a variable set around the test.
fn serve_help() -> BTreeMap<String, HelpOption> {
    let output = lynk_binary()
        .env_clear()
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success(), "lynk serve --help failed");
    parse_help(&String::from_utf8(output.stdout).unwrap())
}

/// Options are lines starting `--name` (or `-h, --name`), each followed by
/// its description, which ends with `[env: NAME=]` and `[default: VALUE]`.
fn parse_help(help: &str) -> BTreeMap<String, HelpOption> {
    let mut options = BTreeMap::new();
    let mut current: Option<(String, bool, String)> = None;
    let mut finish = |current: Option<(String, bool, String)>| {
        if let Some((name, takes_value, text)) = current {
            let env = bracketed(&text, "[env: ")
                .map(|env| env.split('=').next().unwrap_or_default().to_owned());
            let default =
                bracketed(&text, "[default: ").map(|value| value.trim_matches('"').to_owned());
            options.insert(
                name,
                HelpOption {
                    takes_value,
                    env,
                    default,
                },
            );
        }
    };
    for line in help.lines() {
        let trimmed = line.trim_start();
        let option = trimmed
            .strip_prefix("-h, ")
            .unwrap_or(trimmed)
            .strip_prefix("--")
            .filter(|_| line.starts_with(' '));
        match option {
            Some(rest) => {
                finish(current.take());
                let name = rest.split_whitespace().next().unwrap_or_default();
                current = Some((format!("--{name}"), rest.contains('<'), String::new()));
            }
            None => {
                if let Some((_, _, text)) = current.as_mut() {
                    text.push(' ');
                    text.push_str(trimmed);
                }
            }
        }
    }
    finish(current);
    options
}

/// The text between `open` and the next `]`, if `open` occurs.
fn bracketed<'a>(text: &'a str, open: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = start + text[start..].find(']')?;
    Some(&text[start..end])
}

/// The README section that holds the tables.
fn configuration_section(readme: &str) -> (usize, &str) {
    let start = readme
        .find("\n## Configuration and limits\n")
        .expect("the README has a \"## Configuration and limits\" section")
        + 1;
    let end = readme[start + 3..]
        .find("\n## ")
        .map_or(readme.len(), |end| start + 3 + end);
    let first_line = readme[..start].lines().count() + 1;
    (first_line, &readme[start..end])
}

/// A table row's cells, split on the `|` that are not escaped as `\|`.
fn cells(row: &str) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut chars = row.trim().trim_matches('|').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cells.last_mut().unwrap().push('|');
                chars.next();
            }
            '|' => cells.push(String::new()),
            c => cells.last_mut().unwrap().push(c),
        }
    }
    cells.into_iter().map(|c| c.trim().to_owned()).collect()
}

/// The parts of a cell separated by `, `, each without its backticks when
/// it is all code (`` `--listen` ``).
fn code_list(cell: &str) -> Option<Vec<String>> {
    cell.split(", ")
        .map(|part| {
            part.strip_prefix('`')
                .and_then(|p| p.strip_suffix('`'))
                .filter(|p| !p.contains('`'))
                .map(str::to_owned)
        })
        .collect()
}

/// A default cell: one default per flag, separated by `, `; each a value
/// in backticks (words after it explain it), or `off`, `none`, `generated`.
fn defaults(cell: &str) -> Vec<Result<TableDefault, String>> {
    let mut segments: Vec<String> = Vec::new();
    for part in cell.split(", ") {
        let starts_default = part.starts_with('`')
            || ["off", "none", "generated"].contains(&part.split(' ').next().unwrap_or_default());
        match segments.last_mut() {
            Some(last) if !starts_default => {
                last.push_str(", ");
                last.push_str(part);
            }
            _ => segments.push(part.to_owned()),
        }
    }
    segments
        .into_iter()
        .map(|segment| {
            if let Some(rest) = segment.strip_prefix('`') {
                return rest
                    .split_once('`')
                    .map(|(value, _)| TableDefault::Value(value.to_owned()))
                    .ok_or(segment);
            }
            match segment.split(' ').next().unwrap_or_default() {
                "off" => Ok(TableDefault::Off),
                "none" | "generated" => Ok(TableDefault::Unset),
                _ => Err(segment),
            }
        })
        .collect()
}

/// Every flag row of the README's configuration tables: rows whose `flag`
/// cell is only flags (a cell such as "fixed" or "twice `--max-sbom-bytes`
/// plus 1 MiB" names no setting of its own).
fn table_flags(readme: &str) -> Result<Vec<TableFlag>, Vec<String>> {
    let (first_line, section) = configuration_section(readme);
    let mut flags = Vec::new();
    let mut problems = Vec::new();
    let mut header: Option<Vec<String>> = None;
    for (offset, line) in section.lines().enumerate() {
        let line_number = first_line + offset;
        if !line.starts_with('|') {
            header = None;
            continue;
        }
        let row = cells(line);
        let Some(columns) = &header else {
            header = Some(row);
            continue;
        };
        if row.iter().all(|c| c.chars().all(|c| c == '-' || c == ':')) {
            continue;
        }
        let column = |name: &str| {
            columns
                .iter()
                .position(|c| c == name)
                .and_then(|i| row.get(i))
                .map(String::as_str)
                .unwrap_or_default()
        };
        let Some(names) = code_list(column("flag")).filter(|names| {
            names
                .iter()
                .all(|n| n.starts_with("--") && !n.contains(' '))
        }) else {
            continue;
        };
        let envs = code_list(column("env")).unwrap_or_default();
        let row_defaults = defaults(column("default"));
        if envs.len() != names.len() || row_defaults.len() != names.len() {
            problems.push(format!(
                "README.md:{line_number}: {} flags, {} environment variables and {} defaults; \
                 write one of each per flag, separated by \", \"",
                names.len(),
                envs.len(),
                row_defaults.len()
            ));
        }
        for (i, flag) in names.into_iter().enumerate() {
            let default = match row_defaults.get(i) {
                Some(Ok(default)) => Some(default),
                Some(Err(text)) => {
                    problems.push(format!(
                        "README.md:{line_number}: the default of {flag} is {text:?}: write a value \
                         in backticks, or off, none or generated"
                    ));
                    None
                }
                None => None,
            };
            flags.push(TableFlag {
                flag,
                env: envs.get(i).cloned(),
                default: default.cloned(),
                line: line_number,
            });
        }
    }
    if problems.is_empty() {
        Ok(flags)
    } else {
        Err(problems)
    }
}

/// Where the README's tables and `--help` disagree, one line each.
fn disagreements(table: &[TableFlag], help: &BTreeMap<String, HelpOption>) -> Vec<String> {
    let mut problems = Vec::new();
    for row in table {
        let at = format!("README.md:{}: {}", row.line, row.flag);
        let Some(option) = help.get(&row.flag) else {
            problems.push(format!("{at}: `lynk serve --help` has no such flag"));
            continue;
        };
        if row.env != option.env {
            problems.push(format!(
                "{at}: the table says env {:?}, --help says {:?}",
                row.env, option.env
            ));
        }
        let expected = match (&option.default, option.takes_value) {
            (Some(value), _) => TableDefault::Value(value.clone()),
            (None, false) => TableDefault::Off,
            (None, true) => TableDefault::Unset,
        };
        if row.default.as_ref() != Some(&expected) {
            problems.push(format!(
                "{at}: the table says default {:?}, --help says {expected:?}",
                row.default
            ));
        }
    }
    for name in help.keys().filter(|name| *name != "--help") {
        if !table.iter().any(|row| &row.flag == name) {
            problems.push(format!(
                "{name}: `lynk serve --help` shows it, and the README's configuration tables \
                 have no row for it"
            ));
        }
    }
    problems
}

#[test]
fn the_readme_configuration_tables_match_lynk_serve_help() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let help = serve_help();
    assert!(
        help.contains_key("--listen") && help.contains_key("--max-query-complexity"),
        "could not read the options of `lynk serve --help`: {help:?}"
    );
    let table = table_flags(&readme).unwrap_or_else(|problems| panic!("{}", problems.join("\n")));
    assert!(
        table.len() >= 20,
        "only {} flag rows found in the README's configuration tables",
        table.len()
    );
    let problems = disagreements(&table, &help);
    assert!(
        problems.is_empty(),
        "the README's configuration tables disagree with `lynk serve --help`; update the table \
         in README.md (defaults are set in src/config.rs):\n{}",
        problems.join("\n")
    );
}

#[test]
fn a_changed_default_or_a_missing_row_is_reported() {
    let help = parse_help(
        "Options:
      --listen <LISTEN>
          Address [env: LYNK_LISTEN=] [default: 127.0.0.1:8080]
      --bootstrap-org <BOOTSTRAP_ORG>
          Organization [env: LYNK_BOOTSTRAP_ORG=] [default: \"Acme Corp\"]
      --bootstrap-password <BOOTSTRAP_PASSWORD>
          Password [env: LYNK_BOOTSTRAP_PASSWORD]
      --oidc-allow-http-issuers
          Tests only [env: LYNK_OIDC_ALLOW_HTTP_ISSUERS=]
      --session-ttl <SESSION_TTL>
          Lifetime [env: LYNK_SESSION_TTL=] [default: 12h]
  -h, --help
          Print help
",
    );
    let readme = "# lynk\n\n## Configuration and limits\n\n\
        | setting | flag | env | default |\n|---|---|---|---|\n\
        | listen | `--listen` | `LYNK_LISTEN` | `127.0.0.1:9090` |\n\
        | first | `--bootstrap-org`, `--bootstrap-password` | `LYNK_BOOTSTRAP_ORG`, `LYNK_BOOTSTRAP_PASSWORD` | `Acme Corp`, generated |\n\
        | issuers | `--oidc-allow-http-issuers` | `LYNK_OIDC_ALLOW_HTTP_ISSUERS` | off |\n\
        | body | twice `--max-sbom-bytes` plus 1 MiB | | `21 MiB` |\n\
        | log | | `RUST_LOG`, `LYNK_LOG_FORMAT=json\\|pretty` | `info`, pretty |\n\n## Deploying\n";
    let table = table_flags(readme).unwrap();
    assert_eq!(
        table
            .iter()
            .map(|row| row.flag.as_str())
            .collect::<Vec<_>>(),
        [
            "--listen",
            "--bootstrap-org",
            "--bootstrap-password",
            "--oidc-allow-http-issuers"
        ]
    );
    assert_eq!(
        disagreements(&table, &help),
        [
            "README.md:7: --listen: the table says default Some(Value(\"127.0.0.1:9090\")), \
             --help says Value(\"127.0.0.1:8080\")",
            "--session-ttl: `lynk serve --help` shows it, and the README's configuration tables \
             have no row for it",
        ]
    );
}
