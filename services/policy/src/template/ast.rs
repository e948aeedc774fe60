//! The typed tree of a template-language expression (`"[concat(parameters('a'), 'b')]"`), parsed once by
//! [`crate::template::parser`] and evaluated by [`crate::template::eval`].

use crate::template::functions::Function;

/// One parsed `"[...]"` string: its text (for error messages), where it stands in the definition, and its tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub(crate) text: String,
    pub(crate) location: String,
    pub(crate) root: Expr,
}

impl Expression {
    /// The expression as written, brackets included.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The JSON path of the string this expression was read from.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The tree.
    pub fn root(&self) -> &Expr {
        &self.root
    }
}

/// A node of an expression. Positions are 1-based character positions in [`Expression::text`].
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `'text'` (with `''` standing for one `'`).
    String(String),
    /// `42`, `-1`.
    Integer(i64),
    /// Bare `true` / `false` (ARM also has the functions `true()` and `false()`).
    Boolean(bool),
    /// `name(arg, ...)`.
    Call {
        function: Function,
        args: Vec<Expr>,
        position: usize,
    },
    /// `target.name`.
    Property {
        target: Box<Expr>,
        name: String,
        position: usize,
    },
    /// `target[index]`.
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
        position: usize,
    },
}

impl Expr {
    /// Calls `visit` for every function call in this tree, outermost first.
    pub fn for_each_call(&self, visit: &mut impl FnMut(Function, &[Expr], usize)) {
        match self {
            Expr::String(_) | Expr::Integer(_) | Expr::Boolean(_) => {}
            Expr::Call {
                function,
                args,
                position,
            } => {
                visit(*function, args, *position);
                for arg in args {
                    arg.for_each_call(visit);
                }
            }
            Expr::Property { target, .. } => target.for_each_call(visit),
            Expr::Index { target, index, .. } => {
                target.for_each_call(visit);
                index.for_each_call(visit);
            }
        }
    }
}
