//! Comparing the two values of a validation test.
//!
//! The rules, also in the README:
//! - Both values of a numeric SQL type (smallint, integer, bigint, numeric, real, double
//!   precision) compare as numbers, exactly: `10` equals `10.00`, a `bigint` count compares with
//!   a `numeric` average without rounding. `NaN` equals `NaN` and is greater than every other
//!   number, as in PostgreSQL; `Infinity` and `-Infinity` order as expected.
//! - Otherwise both compare as text, byte by byte (the "C" collation: independent of the
//!   database's locale). Booleans are PostgreSQL's text `t` and `f`.
//! - NULL: `equals` holds when both are NULL, `not_equal` when exactly one is; the ordering
//!   operators (`greater`, `greater_equals`, `less`, `less_equals`) never hold when either value
//!   is NULL, so the test fails. A NULL is never an error.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// The six comparison operators of the book's validator: `script_1 OPERATOR script_2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `=`
    Equals,
    /// `>=`
    GreaterEquals,
    /// `>`
    Greater,
    /// `<=`
    LessEquals,
    /// `<`
    Less,
    /// `<>`
    NotEqual,
}

/// Every operator's name, as typed.
pub const OPERATOR_NAMES: [&str; 6] = [
    "equals",
    "greater_equals",
    "greater",
    "less_equals",
    "less",
    "not_equal",
];

impl Operator {
    /// The name, as typed and stored in `comp_operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Equals => "equals",
            Operator::GreaterEquals => "greater_equals",
            Operator::Greater => "greater",
            Operator::LessEquals => "less_equals",
            Operator::Less => "less",
            Operator::NotEqual => "not_equal",
        }
    }

    /// Whether `left OPERATOR right` holds.
    pub fn holds(self, left: &Value, right: &Value) -> bool {
        match (left, right) {
            (Value::Null, Value::Null) => matches!(self, Operator::Equals),
            (Value::Null, _) | (_, Value::Null) => matches!(self, Operator::NotEqual),
            _ => {
                let ordering = compare(left, right);
                match self {
                    Operator::Equals => ordering == Ordering::Equal,
                    Operator::NotEqual => ordering != Ordering::Equal,
                    Operator::Greater => ordering == Ordering::Greater,
                    Operator::GreaterEquals => ordering != Ordering::Less,
                    Operator::Less => ordering == Ordering::Less,
                    Operator::LessEquals => ordering != Ordering::Greater,
                }
            }
        }
    }
}

impl FromStr for Operator {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "equals" => Operator::Equals,
            "greater_equals" => Operator::GreaterEquals,
            "greater" => Operator::Greater,
            "less_equals" => Operator::LessEquals,
            "less" => Operator::Less,
            "not_equal" => Operator::NotEqual,
            other => {
                return Err(format!(
                    "unknown comparison operator {other:?}: use one of {}",
                    OPERATOR_NAMES.join(", ")
                ));
            }
        })
    }
}

impl fmt::Display for Operator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A test's severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// A failure stops the calling pipeline (exit 1).
    Halt,
    /// A failure is recorded and notified; the exit status stays 0.
    Warn,
}

impl Severity {
    /// The name, as typed and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Halt => "halt",
            Severity::Warn => "warn",
        }
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "halt" => Ok(Severity::Halt),
            "warn" => Ok(Severity::Warn),
            other => Err(format!("unknown severity {other:?}: use halt or warn")),
        }
    }
}

/// One script's result value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A value of a numeric SQL type, as PostgreSQL printed it.
    Number(String),
    /// Any other value, as PostgreSQL printed it.
    Text(String),
}

impl Value {
    /// The value as stored in `script_1_value`/`script_2_value` (None for NULL).
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Null => None,
            Value::Number(s) | Value::Text(s) => Some(s),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Number(s) => f.write_str(s),
            Value::Text(s) => write!(f, "{s:?}"),
        }
    }
}

/// Orders two non-NULL values: as numbers when both are numbers, else as text.
fn compare(left: &Value, right: &Value) -> Ordering {
    if let (Value::Number(a), Value::Number(b)) = (left, right)
        && let (Some(a), Some(b)) = (Number::parse(a), Number::parse(b))
    {
        return a.cmp(&b);
    }
    left.as_text()
        .unwrap_or_default()
        .as_bytes()
        .cmp(right.as_text().unwrap_or_default().as_bytes())
}

/// An exact decimal number as PostgreSQL prints it: `-12.50`, `1e+20`, `NaN`, `Infinity`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Number {
    NegativeInfinity,
    /// Value = sign × 0.DIGITS × 10^exponent; `digits` has no leading or trailing zeros, and is
    /// empty for zero.
    Finite {
        negative: bool,
        digits: Vec<u8>,
        exponent: i64,
    },
    Infinity,
    NaN,
}

impl Number {
    fn parse(text: &str) -> Option<Number> {
        let t = text.trim();
        match t {
            "NaN" => return Some(Number::NaN),
            "Infinity" | "+Infinity" | "inf" => return Some(Number::Infinity),
            "-Infinity" | "-inf" => return Some(Number::NegativeInfinity),
            _ => {}
        }
        let (negative, unsigned) = match t.as_bytes().first()? {
            b'-' => (true, &t[1..]),
            b'+' => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, exp) = match unsigned.find(['e', 'E']) {
            Some(i) => (&unsigned[..i], unsigned[i + 1..].parse::<i64>().ok()?),
            None => (unsigned, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
        let mut exponent = exp + int.len() as i64;
        let leading = digits.iter().take_while(|&&d| d == 0).count();
        digits.drain(..leading);
        exponent -= leading as i64;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Some(Number::Finite {
                negative: false,
                digits,
                exponent: 0,
            });
        }
        Some(Number::Finite {
            negative,
            digits,
            exponent,
        })
    }

    fn rank(&self) -> i8 {
        match self {
            Number::NegativeInfinity => 0,
            Number::Finite { .. } => 1,
            Number::Infinity => 2,
            Number::NaN => 3,
        }
    }
}

impl Ord for Number {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (
                Number::Finite {
                    negative: n1,
                    digits: d1,
                    exponent: e1,
                },
                Number::Finite {
                    negative: n2,
                    digits: d2,
                    exponent: e2,
                },
            ) => {
                let sign = |n: bool, d: &Vec<u8>| {
                    if d.is_empty() {
                        0
                    } else if n {
                        -1
                    } else {
                        1
                    }
                };
                let (s1, s2) = (sign(*n1, d1), sign(*n2, d2));
                if s1 != s2 {
                    return s1.cmp(&s2);
                }
                if s1 == 0 {
                    return Ordering::Equal;
                }
                let magnitude = e1.cmp(e2).then_with(|| d1.cmp(d2));
                if s1 > 0 {
                    magnitude
                } else {
                    magnitude.reverse()
                }
            }
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Number {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> Value {
        Value::Number(s.into())
    }
    fn t(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn check(op: &str, left: Value, right: Value) -> bool {
        op.parse::<Operator>().unwrap().holds(&left, &right)
    }

    #[test]
    fn numbers_compare_exactly_across_types_and_notations() {
        assert!(check("equals", n("10"), n("10.000")));
        assert!(check("equals", n("-0"), n("0.0")));
        assert!(check("equals", n("1e+20"), n("100000000000000000000")));
        assert!(check("equals", n("1.5e-05"), n("0.000015")));
        assert!(check("greater", n("10"), n("9.999999999999999999999")));
        assert!(check("less", n("-10"), n("-9")));
        assert!(check("less", n("0.1"), n("0.10000000000000000001")));
        assert!(!check("greater", n("2"), n("10")), "not as text");
        assert!(check("greater", n("NaN"), n("Infinity")));
        assert!(check("equals", n("NaN"), n("NaN")));
        assert!(check("less", n("-Infinity"), n("-1e300")));
        assert!(check("not_equal", n("1"), n("1.0000001")));
    }

    #[test]
    fn every_operator_on_integers_decimals_text_and_null() {
        let cases: [(Value, Value, [bool; 6]); 8] = [
            // equals, greater_equals, greater, less_equals, less, not_equal
            (n("3"), n("3"), [true, true, false, true, false, false]),
            (n("4"), n("3"), [false, true, true, false, false, true]),
            (n("2"), n("3"), [false, false, false, true, true, true]),
            (n("2.50"), n("2.5"), [true, true, false, true, false, false]),
            (n("2.51"), n("2.5"), [false, true, true, false, false, true]),
            (t("abc"), t("abd"), [false, false, false, true, true, true]),
            (
                Value::Null,
                Value::Null,
                [true, false, false, false, false, false],
            ),
            (
                Value::Null,
                n("0"),
                [false, false, false, false, false, true],
            ),
        ];
        for (left, right, expected) in cases {
            for (op, want) in OPERATOR_NAMES.iter().zip(expected) {
                assert_eq!(
                    check(op, left.clone(), right.clone()),
                    want,
                    "{left} {op} {right}"
                );
            }
        }
    }

    #[test]
    fn text_compares_bytewise_and_mixed_types_compare_as_text() {
        assert!(
            check("less", t("B"), t("a")),
            "C collation: upper case first"
        );
        assert!(check("greater", t("é"), t("z")));
        assert!(check("greater", n("10"), t("1")), "\"10\" > \"1\" as text");
        assert!(check("less", n("10"), t("9")), "\"10\" < \"9\" as text");
        assert!(check("equals", t("t"), t("t")));
    }

    #[test]
    fn unknown_operators_and_severities_name_the_choices() {
        let err = "greater_than".parse::<Operator>().unwrap_err();
        assert!(err.contains("equals, greater_equals, greater, less_equals, less, not_equal"));
        assert!(
            "fatal"
                .parse::<Severity>()
                .unwrap_err()
                .contains("halt or warn")
        );
    }
}
