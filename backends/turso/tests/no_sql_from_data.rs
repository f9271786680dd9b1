//! Guards against SQL assembled from data: scans this crate's source and fails on any
//! statement text that is not built from the constants of `src/sql.rs`.

use std::path::Path;

/// Problems found in one file's source.
fn problems(file: &str, source: &str) -> Vec<String> {
    const SQL_WORDS: [&str; 7] = [
        "SELECT", "INSERT", "UPDATE", "DELETE", "WHERE", "CREATE", "VALUES",
    ];
    let mut found = Vec::new();
    // The arguments a statement may be run with: a constant of `sql`, or a statement built
    // by `sql::` helpers and held in `statement`.
    const RUN_ARGS: [&str; 4] = ["sql::", "&statement", "statement", "&sql::"];
    // Only these may be appended when building statement text in sql.rs.
    const FRAGMENTS: [&str; 8] = [
        "LIST_SEP",
        "fragment",
        "&placeholders(n, PLACEHOLDER)",
        "GET_MANY_SUFFIX",
        "&placeholders(rows, UPSERT_ROW)",
        "UPSERT_SUFFIX",
        "RETURNING",
        "PUSH_SUFFIX",
    ];
    for (n, line) in source.lines().enumerate() {
        let at = format!("{file}:{}", n + 1);
        let code = line.split("//").next().unwrap_or("");
        if code.contains("format!(")
            && SQL_WORDS
                .iter()
                .any(|w| code.to_ascii_uppercase().contains(w))
        {
            found.push(format!("{at}: format! near SQL: {}", line.trim()));
        }
        for call in [".execute(", ".query(", ".execute_batch(", ".prepare("] {
            if let Some(pos) = code.find(call) {
                let arg = code[pos + call.len()..].trim_start();
                if !arg.is_empty() && !RUN_ARGS.iter().any(|a| arg.starts_with(a)) {
                    found.push(format!("{at}: statement not from sql.rs: {}", line.trim()));
                }
            }
        }
        if let Some(pos) = code.find("push_str(") {
            let rest = code[pos + "push_str(".len()..].trim_end();
            let rest = rest.strip_suffix(';').unwrap_or(rest);
            let arg = rest.strip_suffix(')').unwrap_or(rest);
            if file.ends_with("sql.rs") && !FRAGMENTS.contains(&arg) {
                found.push(format!(
                    "{at}: statement text from a non-constant: {}",
                    line.trim()
                ));
            }
        }
    }
    found
}

#[test]
fn no_statement_is_assembled_from_data() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    let mut files = 0;
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            // A statement spread over lines: join each call with its first argument.
            let joined = text.replace("(\n", "(").replace(".query(\n", ".query(");
            let joined: String = joined
                .lines()
                .map(|l| l.trim_start().to_string() + "\n")
                .collect::<String>()
                .replace("\n.", ".");
            all.extend(problems(
                path.file_name().unwrap().to_str().unwrap(),
                &joined,
            ));
        }
    }
    assert!(files >= 5, "scanned only {files} files");
    assert!(
        all.is_empty(),
        "SQL assembled from data:\n{}",
        all.join("\n")
    );
}

#[test]
fn the_scanner_catches_what_it_must() {
    let bad = [
        r#"let s = format!("SELECT value FROM strata_kv WHERE key = '{k}'");"#,
        r#"conn.execute(&format!("DELETE FROM t WHERE k = {k}"), ()).await"#,
        r#"conn.query(user_sql, ()).await"#,
    ];
    for line in bad {
        assert!(!problems("backend.rs", line).is_empty(), "missed: {line}");
    }
    assert!(!problems("sql.rs", "sql.push_str(&key_text);").is_empty());
    assert!(problems("backend.rs", "conn.query(sql::GET, params).await").is_empty());
}
