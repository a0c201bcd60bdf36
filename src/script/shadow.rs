//! Names that call different functions from different places in one class.
//!
//! Inside a module's function, Rhai looks a name up in that module first, then in the class
//! script, then among the host and standard functions; inside the class script the module is
//! not searched. Rhai's resolution cache keys a name by itself, not by where it was resolved,
//! and it caches "not found" too: once resolved from one place, the answer is used from the
//! other. Rhai does this within one call already; caches kept warm between tasks
//! (`vu::caches`) would do it across calls. So a class runs its tasks on warm caches only when
//! no name can mean two things:
//! - a name a module defines (private ones included) must be defined nowhere else (the class,
//!   another module, the host and standard functions) and called by bare name from nowhere
//!   else: either is a [`Clash`], reported to the user;
//! - nothing looks functions up by a name made at run time (`is_def_fn`, `Fn`, `call`,
//!   `curry`), and no `import` runs inside a function (a module not seen here): either only
//!   turns warm caches off.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use rhai::{AST, ASTNode, Engine, Expr, FnAccess, FnCallExpr, Module, Stmt};

use super::decl::fn_lines;

/// Functions that look a function up by a name made at run time.
const BY_NAME: [&str; 4] = ["is_def_fn", "Fn", "call", "curry"];

/// One name a module defines that means something else elsewhere in the class: `name` with
/// `params` parameters, defined by the module `file` on `line`; `elsewhere` says where else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    pub name: String,
    pub params: usize,
    pub file: String,
    pub line: usize,
    elsewhere: String,
}

impl std::fmt::Display for Clash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}() with {} parameter(s) {}: Rhai may call one where another is meant, so this \
             class's tasks run without warm function caches (rename it in the module)",
            self.name, self.params, self.elsewhere
        )
    }
}

/// What came of looking at a class.
#[derive(Debug, Default)]
pub struct Shadowing {
    pub clashes: Vec<Clash>,
    /// A lookup by a run-time name, or an `import` inside a function.
    pub dynamic: bool,
}

impl Shadowing {
    /// Whether tasks may run on caches earlier tasks warmed.
    pub fn warm_caches(&self) -> bool {
        self.clashes.is_empty() && !self.dynamic
    }
}

/// One script of a class (the class's own, or a module) as far as names go.
struct Script {
    /// `the class script FILE`, or the module's file as found.
    place: String,
    is_module: bool,
    /// Each function: name, parameters, line.
    defines: Vec<(String, usize, usize)>,
    /// Bare names called (a method call counts its arguments without the object).
    calls: HashSet<(String, usize)>,
    dynamic: bool,
}

impl Script {
    fn read(place: String, is_module: bool, ast: &AST, text: &str) -> Self {
        let defines = ast
            .iter_functions()
            .map(|f| (f.name.to_string(), f.params.len(), fn_lines(text, f.name).0))
            .collect();
        let mut calls = HashSet::new();
        let mut dynamic = false;
        ast.walk(&mut |path: &[ASTNode]| {
            let call: Option<&FnCallExpr> = match path.last() {
                Some(ASTNode::Expr(Expr::FnCall(x, _) | Expr::MethodCall(x, _))) => Some(x),
                Some(ASTNode::Stmt(Stmt::FnCall(x, _))) => Some(x),
                _ => None,
            };
            if let Some(x) = call {
                dynamic |= BY_NAME.contains(&x.name.as_str());
                if x.namespace.is_empty() {
                    calls.insert((x.name.to_string(), x.args.len()));
                }
            }
            true
        });
        // An import in a function body brings a module in at run time.
        ast.clone_functions_only().walk(&mut |path: &[ASTNode]| {
            dynamic |= matches!(path.last(), Some(ASTNode::Stmt(Stmt::Import(..))));
            true
        });
        Self {
            place,
            is_module,
            defines,
            calls,
            dynamic,
        }
    }
}

/// Looks at a class: `class` is the module its top level made (its imports are sub-modules),
/// `ast`, `text` and `file` its script, `engine` holds the native functions, and `file_of`
/// finds the file an import name was read from. `None` when a module's file cannot be read
/// again (it changed since it was loaded): its private functions are unknown.
pub fn look(
    engine: &Engine,
    class: &Module,
    (ast, text, file): (&AST, &str, &str),
    file_of: impl Fn(&str) -> Option<PathBuf>,
) -> Option<Shadowing> {
    let mut scripts = vec![Script::read(
        format!("the class script {file}"),
        false,
        ast,
        text,
    )];
    let mut seen = HashSet::new();
    let mut stack: Vec<&Module> = class.iter_sub_modules().map(|(_, m)| &**m).collect();
    while let Some(module) = stack.pop() {
        // A module's private functions are not in the module (only in the environment of its
        // functions), so its file is parsed again. Its id is the name it was imported by.
        let file = file_of(module.id()?)?;
        if seen.insert(std::fs::canonicalize(&file).unwrap_or_else(|_| file.clone())) {
            let text = std::fs::read_to_string(&file).ok()?;
            let ast = engine.compile(&text).ok()?;
            scripts.push(Script::read(file.display().to_string(), true, &ast, &text));
            stack.extend(module.iter_sub_modules().map(|(_, m)| &**m));
        }
    }
    Some(judge(engine, &scripts))
}

fn judge(engine: &Engine, scripts: &[Script]) -> Shadowing {
    let natives: HashSet<(String, usize)> = engine
        .collect_fn_metadata(
            None,
            |f| {
                (f.script.is_none()
                    && f.namespace.is_empty()
                    && f.metadata.access == FnAccess::Public)
                    .then(|| (f.metadata.name.to_string(), f.metadata.num_params))
            },
            true,
        )
        .into_iter()
        .collect();
    let mut definers: HashMap<(&str, usize), Vec<(usize, usize)>> = HashMap::new();
    for (i, script) in scripts.iter().enumerate() {
        for (name, params, line) in &script.defines {
            definers
                .entry((name, *params))
                .or_default()
                .push((i, *line));
        }
    }
    let mut clashes = Vec::new();
    for (m, module) in scripts.iter().enumerate().filter(|(_, s)| s.is_module) {
        for (name, params, line) in &module.defines {
            let key = (name.clone(), *params);
            let mut elsewhere: Vec<String> = definers[&(name.as_str(), *params)]
                .iter()
                .filter(|(i, _)| *i != m)
                .map(|&(i, l)| match scripts[i].is_module {
                    true => format!("is also defined in {}:{l}", scripts[i].place),
                    false => format!("is also defined in {}", scripts[i].place),
                })
                .collect();
            // A method call passes its object as one more parameter to a native function.
            if natives.contains(&key) || natives.contains(&(name.clone(), params + 1)) {
                elsewhere.push("is also a host or standard function".into());
            }
            elsewhere.extend(
                scripts
                    .iter()
                    .enumerate()
                    .filter(|&(i, s)| i != m && s.calls.contains(&key))
                    .filter(|(_, s)| !s.defines.iter().any(|(n, p, _)| (n, p) == (name, params)))
                    .map(|(_, s)| format!("is called by name from {}", s.place)),
            );
            if !elsewhere.is_empty() {
                clashes.push(Clash {
                    name: name.clone(),
                    params: *params,
                    file: module.place.clone(),
                    line: *line,
                    elsewhere: elsewhere.join(", and "),
                });
            }
        }
    }
    clashes.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Shadowing {
        clashes,
        dynamic: scripts.iter().any(|s| s.dynamic),
    }
}

/// A class of `tests/fixtures/shadow`, compiled (for tests here and in `vu::caches`).
#[cfg(test)]
pub fn fixture(name: &str) -> super::ClassScript {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shadow");
    super::compile(&dir.join(name), None, &super::Limits::default()).expect("compiles")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::fixture;
    use crate::script::{ClassScript, Limits, ScriptError, compile};

    /// The one warning of a class with one clash; such a class runs on fresh caches.
    fn the_warning(class: &ClassScript) -> &ScriptError {
        assert!(!class.warm_caches);
        match class.warnings.as_slice() {
            [warning] => warning,
            other => panic!("one warning: {other:?}"),
        }
    }

    #[test]
    fn a_module_name_the_class_also_defines_is_a_clash() {
        let class = fixture("clash.rhai");
        let warning = the_warning(&class);
        assert!(warning.file.ends_with("words.rhai"), "{warning}");
        assert_eq!(warning.line, 5, "the private helper's line");
        assert!(
            warning
                .message
                .starts_with("helper() with 0 parameter(s) is also defined in the class script")
                && warning.message.contains("clash.rhai"),
            "{warning}"
        );
    }

    #[test]
    fn a_module_name_a_native_function_has_is_a_clash() {
        let class = fixture("natives.rhai");
        let warning = the_warning(&class);
        assert!(warning.file.ends_with("first.rhai") && warning.line == 5);
        assert!(
            warning
                .message
                .starts_with("pick() with 1 parameter(s) is also a host or standard function"),
            "{warning}"
        );
    }

    #[test]
    fn a_private_function_of_the_class_clashes_too() {
        let class = fixture("private.rhai");
        let warning = the_warning(&class);
        assert!(warning.file.ends_with("words.rhai") && warning.line == 5);
        assert!(warning.message.contains("also defined in the class script"));
    }

    #[test]
    fn a_module_name_called_by_name_from_the_class_is_an_error() {
        // Once a warning (the call failed at run time); now the script does not load.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/shadow");
        let e = compile(&dir.join("caller.rhai"), None, &Limits::default()).unwrap_err();
        assert_eq!(e.line, 11, "{e}");
        // The module's helper is private: nothing outside it can call it.
        assert!(e.message.contains("no function `helper` exists"), "{e}");
    }

    #[test]
    fn lookups_by_run_time_name_and_imports_in_functions_turn_warm_caches_off_quietly() {
        for name in ["probe.rhai", "inner.rhai"] {
            let class = fixture(name);
            assert!(!class.warm_caches, "{name}");
            assert!(class.warnings.is_empty(), "{name}: {:?}", class.warnings);
        }
    }

    #[test]
    fn names_of_their_own_are_no_clash() {
        let class = fixture("calm.rhai");
        assert!(class.warm_caches && class.warnings.is_empty());
        let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        for script in ["guest", "power_user", "developer", "admin"] {
            let path = shipped.join(format!("scripts/{script}.rhai"));
            let class = compile(&path, Some(&shipped.join("stdlib")), &Limits::default())
                .expect("a shipped script compiles");
            assert!(
                class.warm_caches && class.warnings.is_empty(),
                "{script}: {:?}",
                class.warnings
            );
        }
    }
}
