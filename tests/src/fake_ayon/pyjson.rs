//! A JSON reader that accepts, rejects and locates errors like CPython's `json.loads`.
//!
//! ayon-backend answers a malformed body with Python's decoder message and the
//! character offset where it stopped (`"loc": ["body", 23]`, `"ctx": {"error":
//! "Expecting property name enclosed in double quotes"}`), and clients such as
//! conformance.py check both. serde_json's errors differ in wording and position,
//! so this module follows the C scanner of CPython 3.11 (`Modules/_json.c`) step by
//! step: same token order, same messages, same offsets (in characters, not bytes).
//! It also keeps what Python keeps and JSON does not: `NaN`, `Infinity`, integers of
//! any size, and "last duplicate key wins" objects.
//!
//! It only reads; what the values mean is validate.rs' job.

use serde_json::{Number, Value};

/// A decoded JSON document as Python holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum Py {
    Null,
    Bool(bool),
    /// The integer's decimal text: Python integers have no size limit.
    Int(String),
    Float(f64),
    Str(String),
    List(Vec<Py>),
    /// Keys in first-seen order; a repeated key replaces the value in place, as a dict does.
    Dict(Vec<(String, Py)>),
}

/// Why a body could not be read as JSON.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadError {
    /// A `json.JSONDecodeError`: its `msg` and `pos`.
    Decode { msg: &'static str, pos: usize },
    /// Nested deeper than Python's recursion limit allows (a `RecursionError`, which
    /// the server reports differently from a decode error).
    TooDeep,
}

/// Deeper than this, CPython's scanner raises RecursionError (its limit is 1000 frames,
/// some of which the server itself uses).
const MAX_DEPTH: usize = 900;

/// `json.loads(text)`.
pub fn loads(text: &str) -> Result<Py, LoadError> {
    let mut scanner = Scanner {
        s: text.chars().collect(),
        depth: 0,
    };
    let start = scanner.skip_ws(0);
    match scanner.scan_once(start) {
        Ok((value, end)) => {
            let end = scanner.skip_ws(end);
            if end == scanner.s.len() {
                Ok(value)
            } else {
                Err(LoadError::Decode {
                    msg: "Extra data",
                    pos: end,
                })
            }
        }
        Err(Stop::Iteration(pos)) => Err(LoadError::Decode {
            msg: "Expecting value",
            pos,
        }),
        Err(Stop::Error(msg, pos)) => Err(LoadError::Decode { msg, pos }),
        Err(Stop::TooDeep) => Err(LoadError::TooDeep),
    }
}

/// How scanning stopped. `Iteration` is the scanner's StopIteration: "no value starts
/// here", which becomes "Expecting value" at that offset wherever it surfaces.
enum Stop {
    Iteration(usize),
    Error(&'static str, usize),
    TooDeep,
}

type Scan<T> = Result<(T, usize), Stop>;

struct Scanner {
    s: Vec<char>,
    depth: usize,
}

impl Scanner {
    fn at(&self, idx: usize) -> Option<char> {
        self.s.get(idx).copied()
    }

    /// JSON whitespace only: Python does not skip other Unicode spaces.
    fn skip_ws(&self, mut idx: usize) -> usize {
        while matches!(self.at(idx), Some(' ' | '\t' | '\n' | '\r')) {
            idx += 1;
        }
        idx
    }

    fn starts_with(&self, idx: usize, word: &str) -> bool {
        let len = word.chars().count();
        self.s
            .get(idx..idx + len)
            .is_some_and(|here| here.iter().copied().eq(word.chars()))
    }

    fn scan_once(&mut self, idx: usize) -> Scan<Py> {
        let Some(c) = self.at(idx) else {
            return Err(Stop::Iteration(idx));
        };
        let constant = match c {
            '"' => {
                let (text, next) = self.scan_string(idx + 1)?;
                return Ok((Py::Str(text), next));
            }
            '{' => return self.nested(|me| me.scan_object(idx + 1)),
            '[' => return self.nested(|me| me.scan_array(idx + 1)),
            'n' => Some(("null", Py::Null)),
            't' => Some(("true", Py::Bool(true))),
            'f' => Some(("false", Py::Bool(false))),
            'N' => Some(("NaN", Py::Float(f64::NAN))),
            'I' => Some(("Infinity", Py::Float(f64::INFINITY))),
            '-' => Some(("-Infinity", Py::Float(f64::NEG_INFINITY))),
            _ => None,
        };
        if let Some((word, value)) = constant {
            if self.starts_with(idx, word) {
                return Ok((value, idx + word.len()));
            }
            // Not the constant: like the C scanner, fall through to a number, which
            // fails with "Expecting value" at idx unless it really is one ("-1").
        }
        self.scan_number(idx)
    }

    /// Guards the recursion of objects and arrays.
    fn nested(&mut self, scan: impl FnOnce(&mut Self) -> Scan<Py>) -> Scan<Py> {
        if self.depth >= MAX_DEPTH {
            return Err(Stop::TooDeep);
        }
        self.depth += 1;
        let result = scan(self);
        self.depth -= 1;
        result
    }

    fn scan_number(&self, start: usize) -> Scan<Py> {
        let len = self.s.len();
        let digit = |i: usize| matches!(self.at(i), Some('0'..='9'));
        let mut idx = start;
        if self.at(idx) == Some('-') {
            idx += 1;
            if idx >= len {
                return Err(Stop::Iteration(start));
            }
        }
        match self.at(idx) {
            Some('1'..='9') => {
                idx += 1;
                while digit(idx) {
                    idx += 1;
                }
            }
            Some('0') => idx += 1,
            _ => return Err(Stop::Iteration(start)),
        }
        let mut is_float = false;
        // A fraction needs a digit after the dot; "1." is the number 1 then extra data.
        if idx + 1 < len && self.at(idx) == Some('.') && digit(idx + 1) {
            is_float = true;
            idx += 2;
            while digit(idx) {
                idx += 1;
            }
        }
        // An exponent without digits is backtracked, not an error.
        if idx + 1 < len && matches!(self.at(idx), Some('e' | 'E')) {
            let e_start = idx;
            idx += 1;
            if idx + 1 < len && matches!(self.at(idx), Some('-' | '+')) {
                idx += 1;
            }
            while digit(idx) {
                idx += 1;
            }
            if digit(idx - 1) {
                is_float = true;
            } else {
                idx = e_start;
            }
        }
        let text: String = self.s[start..idx].iter().collect();
        let value = if is_float {
            // Rust parses an overflowing exponent to infinity, as float() does.
            Py::Float(text.parse().expect("a scanned JSON float parses"))
        } else if text == "-0" {
            Py::Int("0".into())
        } else {
            Py::Int(text)
        };
        Ok((value, idx))
    }

    /// `end` is just past the opening quote; returns the text and the index past the
    /// closing quote.
    fn scan_string(&self, mut end: usize) -> Scan<String> {
        let len = self.s.len();
        let begin = end - 1;
        let mut out = String::new();
        loop {
            // Copy up to the closing quote or the next escape.
            let mut next = end;
            let mut stop = None;
            while next < len {
                let c = self.s[next];
                if c == '"' || c == '\\' {
                    stop = Some(c);
                    break;
                }
                if u32::from(c) <= 0x1f {
                    return Err(Stop::Error("Invalid control character at", next));
                }
                next += 1;
            }
            let Some(stop) = stop else {
                return Err(Stop::Error("Unterminated string starting at", begin));
            };
            out.extend(&self.s[end..next]);
            next += 1;
            if stop == '"' {
                return Ok((out, next));
            }
            if next == len {
                return Err(Stop::Error("Unterminated string starting at", begin));
            }
            let escape = self.s[next];
            if escape != 'u' {
                end = next + 1;
                out.push(match escape {
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    _ => return Err(Stop::Error("Invalid \\escape", end - 2)),
                });
                continue;
            }
            // \uXXXX, which must leave room for at least the closing quote.
            next += 1;
            end = next + 4;
            if end >= len {
                return Err(Stop::Error("Invalid \\uXXXX escape", next - 1));
            }
            let high = self
                .hex4(next)
                .ok_or(Stop::Error("Invalid \\uXXXX escape", end - 5))?;
            let mut code = high;
            if (0xd800..0xdc00).contains(&high)
                && end + 6 < len
                && self.s[end] == '\\'
                && self.s[end + 1] == 'u'
            {
                let low = self
                    .hex4(end + 2)
                    .ok_or(Stop::Error("Invalid \\uXXXX escape", end + 1))?;
                if (0xdc00..0xe000).contains(&low) {
                    code = 0x10000 + ((high - 0xd800) << 10) + (low - 0xdc00);
                    end += 6;
                }
            }
            // Python keeps a lone surrogate; a Rust string cannot, so it becomes U+FFFD.
            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
        }
    }

    fn hex4(&self, idx: usize) -> Option<u32> {
        let mut code = 0;
        for i in idx..idx + 4 {
            code = code * 16 + self.at(i)?.to_digit(16)?;
        }
        Some(code)
    }

    /// `idx` is just past `{`.
    fn scan_object(&mut self, idx: usize) -> Scan<Py> {
        let mut pairs: Vec<(String, Py)> = Vec::new();
        let mut idx = self.skip_ws(idx);
        if self.at(idx) == Some('}') {
            return Ok((Py::Dict(pairs), idx + 1));
        }
        loop {
            if self.at(idx) != Some('"') {
                return Err(Stop::Error(
                    "Expecting property name enclosed in double quotes",
                    idx,
                ));
            }
            let (key, next) = self.scan_string(idx + 1)?;
            idx = self.skip_ws(next);
            if self.at(idx) != Some(':') {
                return Err(Stop::Error("Expecting ':' delimiter", idx));
            }
            idx = self.skip_ws(idx + 1);
            let (value, next) = self.scan_once(idx)?;
            match pairs.iter_mut().find(|(k, _)| *k == key) {
                Some(pair) => pair.1 = value,
                None => pairs.push((key, value)),
            }
            idx = self.skip_ws(next);
            match self.at(idx) {
                Some('}') => return Ok((Py::Dict(pairs), idx + 1)),
                Some(',') => idx = self.skip_ws(idx + 1),
                _ => return Err(Stop::Error("Expecting ',' delimiter", idx)),
            }
        }
    }

    /// `idx` is just past `[`.
    fn scan_array(&mut self, idx: usize) -> Scan<Py> {
        let mut items = Vec::new();
        let mut idx = self.skip_ws(idx);
        if self.at(idx) == Some(']') {
            return Ok((Py::List(items), idx + 1));
        }
        loop {
            let (value, next) = self.scan_once(idx)?;
            items.push(value);
            idx = self.skip_ws(next);
            match self.at(idx) {
                Some(']') => return Ok((Py::List(items), idx + 1)),
                Some(',') => idx = self.skip_ws(idx + 1),
                _ => return Err(Stop::Error("Expecting ',' delimiter", idx)),
            }
        }
    }
}

impl Py {
    /// The JSON value a Python server would store and send back for this one.
    /// Non-finite floats become null (they have no JSON form); integers too large
    /// for 64 bits become floats.
    pub fn to_json(&self) -> Value {
        match self {
            Py::Null => Value::Null,
            Py::Bool(b) => Value::Bool(*b),
            Py::Int(text) => text
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| text.parse::<u64>().map(Value::from))
                .unwrap_or_else(|_| float_json(text.parse().unwrap_or(f64::NAN))),
            Py::Float(f) => float_json(*f),
            Py::Str(s) => Value::String(s.clone()),
            Py::List(items) => Value::Array(items.iter().map(Py::to_json).collect()),
            Py::Dict(pairs) => Value::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// Python's `str(value)` for the numbers pydantic coerces into string fields.
    pub fn number_text(&self) -> Option<String> {
        match self {
            Py::Int(text) => Some(text.clone()),
            Py::Float(f) => Some(python_float_repr(*f)),
            _ => None,
        }
    }
}

impl From<&Value> for Py {
    /// For requests made through the Rust handle instead of HTTP.
    fn from(value: &Value) -> Py {
        match value {
            Value::Null => Py::Null,
            Value::Bool(b) => Py::Bool(*b),
            Value::Number(n) if n.is_f64() => Py::Float(n.as_f64().unwrap_or(f64::NAN)),
            Value::Number(n) => Py::Int(n.to_string()),
            Value::String(s) => Py::Str(s.clone()),
            Value::Array(items) => Py::List(items.iter().map(Py::from).collect()),
            Value::Object(map) => {
                Py::Dict(map.iter().map(|(k, v)| (k.clone(), v.into())).collect())
            }
        }
    }
}

fn float_json(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// Python's `repr(float)`: the shortest digits that round-trip, positional notation
/// for exponents -4..16, scientific (`1e+16`, `1.5e-05`) outside, and always a `.0`
/// or exponent so it reads back as a float.
pub fn python_float_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` already gives the shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if !(-4..16).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let fraction = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{first}{fraction}e{exp_sign}{:02}", exp.abs());
    }
    // Position of the decimal point counted from the first digit.
    let point = exp + 1;
    let n = digits.len() as i32;
    let body = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point >= n {
        format!("{digits}{}.0", "0".repeat((point - n) as usize))
    } else {
        let (int, frac) = digits.split_at(point as usize);
        format!("{int}.{frac}")
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> (usize, &'static str) {
        match loads(text) {
            Err(LoadError::Decode { msg, pos }) => (pos, msg),
            other => panic!("{text:?} should fail to decode, got {other:?}"),
        }
    }

    #[test]
    fn decode_errors_match_cpython_offsets_and_messages() {
        // Expected values produced by CPython 3.11's json.loads.
        let cases: &[(&str, usize, &str)] = &[
            ("", 0, "Expecting value"),
            (" ", 1, "Expecting value"),
            (
                "{\"hostname\": \"x\", ",
                18,
                "Expecting property name enclosed in double quotes",
            ),
            (
                "{\"hostname\": \"host-a\", ",
                23,
                "Expecting property name enclosed in double quotes",
            ),
            (
                "{'a':1}",
                1,
                "Expecting property name enclosed in double quotes",
            ),
            ("{", 1, "Expecting property name enclosed in double quotes"),
            ("[", 1, "Expecting value"),
            ("[1,", 3, "Expecting value"),
            ("[1,]", 3, "Expecting value"),
            (
                "{\"a\":1,}",
                7,
                "Expecting property name enclosed in double quotes",
            ),
            ("{\"a\" 1}", 5, "Expecting ':' delimiter"),
            ("{\"a\":}", 5, "Expecting value"),
            ("{\"a\":1 \"b\":2}", 7, "Expecting ',' delimiter"),
            ("[1 2]", 3, "Expecting ',' delimiter"),
            ("\"abc", 0, "Unterminated string starting at"),
            ("\"a\\qb\"", 2, "Invalid \\escape"),
            ("\"\\u12\"", 2, "Invalid \\uXXXX escape"),
            ("\"\\uzzzz\"", 2, "Invalid \\uXXXX escape"),
            ("\"\\ud83d\\uzzzz\"", 8, "Invalid \\uXXXX escape"),
            ("\"a\nb\"", 2, "Invalid control character at"),
            ("nul", 0, "Expecting value"),
            ("null x", 5, "Extra data"),
            ("-", 0, "Expecting value"),
            ("-a", 0, "Expecting value"),
            ("01", 1, "Extra data"),
            ("1.", 1, "Extra data"),
            ("1.e5", 1, "Extra data"),
            ("1e", 1, "Extra data"),
            ("1e+", 1, "Extra data"),
            ("1e5x", 3, "Extra data"),
            ("{\"a\":1}}", 7, "Extra data"),
            ("\"\\", 0, "Unterminated string starting at"),
            ("\"\\u0041", 2, "Invalid \\uXXXX escape"),
            ("{\"é\":\"\\x\"}", 6, "Invalid \\escape"),
            ("tru", 0, "Expecting value"),
            ("[-]", 1, "Expecting value"),
            ("{\"a\":[1,{\"b\":}]}", 13, "Expecting value"),
            ("{\"a\"", 4, "Expecting ':' delimiter"),
            ("{\"a\":", 5, "Expecting value"),
            ("{\"a\":1", 6, "Expecting ',' delimiter"),
            ("[1", 2, "Expecting ',' delimiter"),
            ("\"\\u004\"", 2, "Invalid \\uXXXX escape"),
        ];
        for (text, pos, msg) in cases {
            assert_eq!(err(text), (*pos, *msg), "json.loads({text:?})");
        }
    }

    #[test]
    fn accepts_what_python_accepts() {
        assert_eq!(loads("\t\n{}\r ").unwrap(), Py::Dict(vec![]));
        assert_eq!(loads("-0").unwrap(), Py::Int("0".into()));
        assert_eq!(loads("1E+2").unwrap(), Py::Float(100.0));
        assert_eq!(loads("\"\\u00e9\"").unwrap(), Py::Str("é".into()));
        assert_eq!(loads("\"\\ud83d\\ude00\"").unwrap(), Py::Str("😀".into()));
        assert_eq!(loads("-Infinity").unwrap(), Py::Float(f64::NEG_INFINITY));
        assert!(matches!(loads("NaN").unwrap(), Py::Float(f) if f.is_nan()));
        assert_eq!(
            loads("{\"a\":1,\"b\":2,\"a\":3}").unwrap(),
            Py::Dict(vec![
                ("a".into(), Py::Int("3".into())),
                ("b".into(), Py::Int("2".into()))
            ])
        );
    }

    #[test]
    fn deep_nesting_is_a_recursion_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert_eq!(loads(&deep), Err(LoadError::TooDeep));
    }

    #[test]
    fn float_repr_matches_python() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (12.5, "12.5"),
            (0.1, "0.1"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (-2.5e-300, "-2.5e-300"),
        ];
        for (f, want) in cases {
            assert_eq!(python_float_repr(*f), *want, "repr({f})");
        }
    }
}
