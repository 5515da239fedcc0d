//! `filter=<jq program>`: which records a read keeps, decided by a jq
//! program run on each record's JSON (the object GET returns), with the
//! `jaq` implementation of jq. A program is compiled once per request.
//!
//! A record is kept when the program's first output is neither `false` nor
//! `null`, as jq's `select` keeps it. A program that fails on a record (jq's
//! "cannot index string", say) does not keep it: a search over records of
//! mixed shapes finds those it can read, as `jq 'select(…)'` does, which
//! reports the error and goes on with the next input.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{data, Compiler, Ctx, Vars};
use jaq_json::Val;

type Compiled = jaq_core::compile::Filter<jaq_core::Native<data::JustLut<Val>>>;

/// A compiled jq program.
pub struct Filter {
    program: String,
    compiled: Compiled,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Filter").field(&self.program).finish()
    }
}

impl Filter {
    /// Compiles `program`; an error names the position (0-based character
    /// offset) and what was wrong there.
    pub fn compile(program: &str) -> Result<Filter, String> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let arena = Arena::default();
        let loader = Loader::new(defs);
        let file = File {
            code: program,
            path: (),
        };
        let position = |at: &str| {
            let byte = (at.as_ptr() as usize)
                .saturating_sub(program.as_ptr() as usize)
                .min(program.len());
            program[..byte].chars().count()
        };
        let modules = loader.load(&arena, file).map_err(|errors| {
            let mut messages = Vec::new();
            for (_, error) in errors {
                match error {
                    jaq_core::load::Error::Io(e) => {
                        messages.extend(e.into_iter().map(|(path, why)| {
                            format!(
                                "at position {}: cannot load '{path}': {why}",
                                position(path)
                            )
                        }))
                    }
                    jaq_core::load::Error::Lex(e) => {
                        messages.extend(e.into_iter().map(|(expected, at)| {
                            format!(
                                "at position {}: expected {}",
                                position(at),
                                expected.as_str()
                            )
                        }))
                    }
                    jaq_core::load::Error::Parse(e) => {
                        messages.extend(e.into_iter().map(|(expected, at)| {
                            let found = if at.is_empty() {
                                "the end of the program".to_string()
                            } else {
                                format!("'{at}'")
                            };
                            format!(
                                "at position {}: expected {}, found {found}",
                                position(at),
                                expected.as_str()
                            )
                        }))
                    }
                }
            }
            messages.join("; ")
        })?;
        let compiled = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                errors
                    .into_iter()
                    .flat_map(|(_, undefined)| undefined)
                    .map(|(name, what)| {
                        format!(
                            "at position {}: undefined {} '{name}'",
                            position(name),
                            what.as_str()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })?;
        Ok(Filter {
            program: program.to_string(),
            compiled,
        })
    }

    /// The program as given.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// Whether the record whose JSON is `json` is kept.
    #[cfg(test)]
    pub fn keeps(&self, json: &[u8]) -> bool {
        match jaq_json::read::parse_single(json) {
            Ok(input) => self.keeps_value(input),
            Err(_) => false,
        }
    }

    /// Whether the record is kept, given as the value its JSON parses to
    /// (see `View::filter_input`).
    pub fn keeps_value(&self, input: Val) -> bool {
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.compiled.lut, Vars::new([]));
        let mut outputs = self.compiled.id.run((ctx, input));
        match outputs.next() {
            Some(Ok(v)) => jaq_core::ValT::as_bool(&v),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn a_filter_can_cross_threads_with_its_request() {
        assert_send_sync::<Filter>();
    }

    #[test]
    fn records_are_kept_when_the_first_output_is_truthy() {
        let f = Filter::compile(".value.amount > 100").unwrap();
        assert!(f.keeps(br#"{"value":{"amount":101}}"#));
        assert!(!f.keeps(br#"{"value":{"amount":100}}"#));
        // Errors and null do not keep the record.
        assert!(!f.keeps(br#"{"value":"text"}"#));
        let f = Filter::compile(".key").unwrap();
        assert!(!f.keeps(br#"{"key":null}"#));
        assert!(f.keeps(br#"{"key":0}"#));
        let f = Filter::compile("empty").unwrap();
        assert!(!f.keeps(br#"{}"#));
        let f = Filter::compile(r#".headers | map(.key) | index("trace") != null"#).unwrap();
        assert!(
            f.keeps(br#"{"headers":[{"key":"a","value":null},{"key":"trace","value":"eA=="}]}"#)
        );
        let f = Filter::compile(r#".key | test("^user-[0-9]+$")"#).unwrap();
        assert!(f.keeps(br#"{"key":"user-17"}"#));
        assert!(!f.keeps(br#"{"key":"admin"}"#));
    }

    #[test]
    fn a_program_that_does_not_compile_names_the_position() {
        let e = Filter::compile(".value | select(").unwrap_err();
        assert!(e.contains("at position 16"), "{e}");
        let e = Filter::compile(".a | nosuchfunction(1)").unwrap_err();
        assert!(
            e.contains("at position 5") && e.contains("nosuchfunction"),
            "{e}"
        );
        let e = Filter::compile(".a $ 1").unwrap_err();
        assert!(e.contains("at position 4: expected identifier"), "{e}");
    }
}
