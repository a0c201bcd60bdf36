//! Names that call different functions from different places in one class.
//!
//! Inside a module's function, Rhai looks a name up in that module first, then in the class
//! script, then among the host and standard functions; inside the class script the module is
//! not searched. So a name a module defines that the class, another module or a native
//! function also has (same name, same number of parameters) means one function here and
//! another there. Rhai's resolution cache keys a name by itself, not by where it was resolved:
//! once cached from one place it is used from the other too. Rhai does this within one call
//! already; caches kept warm between tasks (`vu::caches`) would do it across calls. A class
//! with such a name therefore runs each task on fresh caches, and is warned about.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use rhai::{Engine, FnAccess, Module};

use super::decl::fn_lines;

/// Who defines a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Owner {
    /// The class script itself.
    Class(String),
    /// A module, by its id (the file it was read from), and the line of the definition.
    Module(String, usize),
    /// A host or standard-library function.
    Native,
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Class(file) => write!(f, "the class script {file}"),
            Owner::Module(file, line) => write!(f, "{file}:{line}"),
            Owner::Native => write!(f, "the host and standard functions"),
        }
    }
}

/// One name that resolves differently by place: `name` with `params` parameters, defined by
/// the module `file` on `line`, and by the others in `owners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    pub name: String,
    pub params: usize,
    pub file: String,
    pub line: usize,
    owners: Vec<Owner>,
}

impl std::fmt::Display for Clash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let others: Vec<String> = self.owners.iter().map(ToString::to_string).collect();
        write!(
            f,
            "{}() with {} parameter(s) is also defined in {}: Rhai may call one where another \
             is meant, so this class's tasks run without warm function caches (rename one)",
            self.name,
            self.params,
            others.join(" and ")
        )
    }
}

/// The names of `class` (the module its top level made, with its imports as sub-modules) that
/// clash, on `engine` (which holds the native functions), sorted by name. `file_of` finds the
/// file an import name was read from. `None` when a module's file cannot be read again (it
/// changed since it was loaded): its private functions are unknown.
pub fn clashes(
    engine: &Engine,
    class: &Module,
    class_file: &str,
    file_of: impl Fn(&str) -> Option<PathBuf>,
) -> Option<Vec<Clash>> {
    let mut owners: HashMap<(String, usize), HashSet<Owner>> = HashMap::new();
    let mut define = |name: &str, params: usize, owner: Owner| {
        owners
            .entry((name.to_string(), params))
            .or_default()
            .insert(owner);
    };
    for (_, _, name, params, _) in class.iter_script_fn_info() {
        define(name, params, Owner::Class(class_file.to_string()));
    }
    let mut seen = HashSet::new();
    let mut stack: Vec<&Module> = class.iter_sub_modules().map(|(_, m)| &**m).collect();
    while let Some(module) = stack.pop() {
        // A module's private functions are not in the module (only in the environment of its
        // functions), so its file is parsed again. Its id is the name it was imported by.
        let file = file_of(module.id()?)?;
        if seen.insert(file.clone()) {
            let text = std::fs::read_to_string(&file).ok()?;
            let ast = engine.compile(&text).ok()?;
            let id = file.display().to_string();
            for f in ast.iter_functions() {
                let line = fn_lines(&text, f.name).0;
                define(f.name, f.params.len(), Owner::Module(id.to_string(), line));
            }
            stack.extend(module.iter_sub_modules().map(|(_, m)| &**m));
        }
    }
    // Only names some module defines can clash; natives are looked up for those alone.
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
    let mut found: Vec<Clash> = owners
        .into_iter()
        .filter_map(|((name, params), set)| {
            let mut owners: Vec<Owner> = set.into_iter().collect();
            owners.sort_by_key(ToString::to_string);
            // A method call passes its object as one more parameter to a native function.
            if natives.contains(&(name.clone(), params))
                || natives.contains(&(name.clone(), params + 1))
            {
                owners.push(Owner::Native);
            }
            let at = owners.iter().position(|o| matches!(o, Owner::Module(..)))?;
            let Owner::Module(file, line) = owners.remove(at) else {
                unreachable!("found as a module")
            };
            (!owners.is_empty()).then_some(Clash {
                name,
                params,
                file,
                line,
                owners,
            })
        })
        .collect();
    found.sort_by(|a, b| (&a.name, a.params).cmp(&(&b.name, b.params)));
    Some(found)
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
                .starts_with("pick() with 1 parameter(s) is also defined in the host and"),
            "{warning}"
        );
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
