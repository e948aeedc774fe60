//! A hand-written recursive-descent parser for the template language that ARM templates and Azure Policy share.
//!
//! Grammar (whitespace allowed between tokens):
//! ```text
//! expression := '[' expr ']'
//! expr       := primary ( '.' identifier | '[' expr ']' )*
//! primary    := string | integer | 'true' | 'false' | identifier '(' ( expr ( ',' expr )* )? ')'
//! string     := "'" ( any character but "'" | "''" )* "'"
//! integer    := '-'? digit+
//! ```
//! Function names are resolved (case-insensitively) and their argument counts checked here, so an unknown function
//! or a wrong arity is a definition error, not an evaluation error.
//!
//! Which JSON strings are expressions at all is decided by [`classify`]: ARM's rule is that a string starting with
//! `[` and ending with `]` is an expression, and `[[` at the start escapes a literal `[`
//! (<https://learn.microsoft.com/azure/azure-resource-manager/templates/template-expressions#escape-characters>).

use crate::error::PolicyError;
use crate::template::ast::{Expr, Expression};
use crate::template::functions::{Function, FunctionInfo};

/// What a JSON string in a template or policy rule stands for.
#[derive(Debug, PartialEq, Eq)]
pub enum StringKind<'a> {
    /// A plain string (with a leading `[[` already reduced to `[`).
    Literal(std::borrow::Cow<'a, str>),
    /// An expression to parse.
    Expression,
}

/// Decides whether `text` is an expression or a literal, per ARM's bracket rules.
pub fn classify(text: &str) -> StringKind<'_> {
    if let Some(rest) = text.strip_prefix("[[") {
        StringKind::Literal(format!("[{rest}").into())
    } else if text.len() >= 2 && text.starts_with('[') && text.ends_with(']') {
        StringKind::Expression
    } else {
        StringKind::Literal(text.into())
    }
}

impl Expression {
    /// Parses `text`, which must start with `[` and end with `]`; `location` (a JSON path) is kept for errors.
    pub fn parse(text: &str, location: &str) -> Result<Expression, PolicyError> {
        let chars: Vec<char> = text.chars().collect();
        let mut parser = Parser {
            chars: &chars,
            at: 1,
            end: chars.len().saturating_sub(1),
            text,
            location,
        };
        if chars.len() < 2 || chars[0] != '[' || chars[chars.len() - 1] != ']' {
            return Err(parser.error_at(1, "an expression must start with '[' and end with ']'"));
        }
        let root = parser.expr()?;
        parser.skip_whitespace();
        if parser.at < parser.end {
            return Err(parser.error_here(&format!(
                "unexpected '{}' after the expression",
                parser.chars[parser.at]
            )));
        }
        Ok(Expression {
            text: text.to_owned(),
            location: location.to_owned(),
            root,
        })
    }
}

struct Parser<'a> {
    chars: &'a [char],
    /// Index of the next character; positions reported are `at + 1`.
    at: usize,
    /// Index of the closing `]` of the whole expression: parsing stops there.
    end: usize,
    text: &'a str,
    location: &'a str,
}

impl Parser<'_> {
    fn expr(&mut self) -> Result<Expr, PolicyError> {
        let mut node = self.primary()?;
        loop {
            self.skip_whitespace();
            match self.peek() {
                Some('.') => {
                    let position = self.at + 1;
                    self.at += 1;
                    self.skip_whitespace();
                    let name = self
                        .identifier()
                        .ok_or_else(|| self.error_here("expected a property name after '.'"))?;
                    node = Expr::Property {
                        target: Box::new(node),
                        name,
                        position,
                    };
                }
                Some('[') => {
                    let position = self.at + 1;
                    self.at += 1;
                    let index = self.expr()?;
                    self.skip_whitespace();
                    if self.peek() != Some(']') {
                        return Err(self.error_here("expected ']'"));
                    }
                    self.at += 1;
                    node = Expr::Index {
                        target: Box::new(node),
                        index: Box::new(index),
                        position,
                    };
                }
                _ => return Ok(node),
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, PolicyError> {
        self.skip_whitespace();
        let start = self.at;
        match self.peek() {
            None => Err(self.error_here("expected an expression")),
            Some('\'') => self.string(),
            Some(c)
                if c.is_ascii_digit()
                    || (c == '-' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.integer()
            }
            Some(c) if c.is_alphabetic() || c == '_' => {
                let name = self.identifier().unwrap_or_default();
                self.skip_whitespace();
                if self.peek() != Some('(') {
                    return match name.to_ascii_lowercase().as_str() {
                        "true" => Ok(Expr::Boolean(true)),
                        "false" => Ok(Expr::Boolean(false)),
                        _ => Err(self.error_here(&format!("expected '(' after the function name '{name}'"))),
                    };
                }
                self.at += 1;
                let args = self.arguments()?;
                let info = FunctionInfo::lookup(&name)
                    .ok_or_else(|| self.error_at(start + 1, &format!("unknown function '{name}'")))?;
                if let Some(problem) = info.arity_problem(args.len()) {
                    return Err(self.error_at(start + 1, &problem));
                }
                Ok(Expr::Call {
                    function: info.function,
                    args,
                    position: start + 1,
                })
            }
            Some(c) => Err(self.error_here(&format!("unexpected '{c}'"))),
        }
    }

    /// After `(`: the arguments and the closing `)`.
    fn arguments(&mut self) -> Result<Vec<Expr>, PolicyError> {
        let mut args = Vec::new();
        self.skip_whitespace();
        if self.peek() == Some(')') {
            self.at += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            self.skip_whitespace();
            match self.peek() {
                Some(',') => self.at += 1,
                Some(')') => {
                    self.at += 1;
                    return Ok(args);
                }
                None => return Err(self.error_here("expected ')'")),
                Some(_) => return Err(self.error_here("expected ',' or ')'")),
            }
        }
    }

    fn string(&mut self) -> Result<Expr, PolicyError> {
        let opening = self.at;
        self.at += 1;
        let mut value = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error_at(opening + 1, "unterminated string literal")),
                Some('\'') if self.peek_at(1) == Some('\'') && self.at + 1 < self.end => {
                    value.push('\'');
                    self.at += 2;
                }
                Some('\'') => {
                    self.at += 1;
                    return Ok(Expr::String(value));
                }
                Some(c) => {
                    value.push(c);
                    self.at += 1;
                }
            }
        }
    }

    fn integer(&mut self) -> Result<Expr, PolicyError> {
        let start = self.at;
        if self.peek() == Some('-') {
            self.at += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.at += 1;
        }
        if self.peek() == Some('.') {
            return Err(self.error_here("numbers in expressions must be integers"));
        }
        let digits: String = self.chars[start..self.at].iter().collect();
        digits
            .parse::<i64>()
            .map(Expr::Integer)
            .map_err(|_| self.error_at(start + 1, "the integer does not fit in 64 bits"))
    }

    fn identifier(&mut self) -> Option<String> {
        let start = self.at;
        while self
            .peek()
            .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$')
        {
            self.at += 1;
        }
        (self.at > start).then(|| self.chars[start..self.at].iter().collect())
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.at += 1;
        }
    }

    /// The next character before the closing `]`.
    fn peek(&self) -> Option<char> {
        self.peek_at(0)
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        let index = self.at + offset;
        (index < self.end).then(|| self.chars[index])
    }

    fn error_here(&self, reason: &str) -> PolicyError {
        self.error_at(self.at + 1, reason)
    }

    fn error_at(&self, position: usize, reason: &str) -> PolicyError {
        PolicyError::InvalidExpression {
            path: self.location.to_owned(),
            expression: self.text.to_owned(),
            position,
            reason: reason.to_owned(),
        }
    }
}

/// Whether `function` may be called in `kind`; used by the definition reader to reject e.g. `field()` in a template.
pub(crate) fn check_availability(
    expression: &Expression,
    kind: crate::template::ContextKind,
) -> Result<(), PolicyError> {
    let mut problem = None;
    expression
        .root
        .for_each_call(&mut |function: Function, _, position| {
            if problem.is_none()
                && let Some(reason) = FunctionInfo::of(function).unavailable_reason(kind)
            {
                problem = Some((position, reason));
            }
        });
    match problem {
        None => Ok(()),
        Some((position, reason)) => Err(PolicyError::InvalidExpression {
            path: expression.location.clone(),
            expression: expression.text.clone(),
            position,
            reason,
        }),
    }
}
