//! The README's quickstart is `examples/quickstart.rs`, line for line.

#[test]
fn the_readme_quickstart_is_the_quickstart_example() {
    let readme = include_str!("../../README.md");
    let example = include_str!("../examples/quickstart.rs");
    let start = readme
        .find("## Quickstart\n\n```rust,no_run\n")
        .expect("the README has a quickstart");
    let code = &readme[start..];
    let code = &code[code.find('\n').unwrap() + 2..];
    let code = &code[code.find('\n').unwrap() + 1..];
    let code = &code[..code.find("```").expect("the quickstart block ends")];
    let body: String = example
        .lines()
        .skip_while(|line| line.starts_with("//!") || line.is_empty())
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        body, code,
        "README quickstart and examples/quickstart.rs differ"
    );
}
