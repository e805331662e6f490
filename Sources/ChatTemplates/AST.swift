/// Statement tree of a parsed template. Each node that can fail keeps the location of its tag.
indirect enum Node {
    case text(String)
    case output(Expr, SourceLocation)
    /// `{% for a, b in iterable if filter %}body{% else %}otherwise{% endfor %}`
    case forLoop(targets: [String], iterable: Expr, filter: Expr?, body: [Node], otherwise: [Node], SourceLocation)
    /// if / elif branches in order, then the else body.
    case conditional([(condition: Expr, body: [Node])], otherwise: [Node], SourceLocation)
    /// `{% set a = … %}`, `{% set a, b = … %}`, or `{% set ns.attr = … %}` (attribute set).
    case set(targets: [String], attribute: String?, value: Expr, SourceLocation)
    /// `{% set name %}body{% endset %}`
    case setBlock(target: String, body: [Node])
    case macro(name: String, parameters: [(name: String, defaultValue: Expr?)], body: [Node])
    case breakLoop, continueLoop
}

/// Expression tree, with Jinja2's operators.
indirect enum Expr {
    case literal(Value)
    case name(String)
    case list([Expr])
    case dict([(key: Expr, value: Expr)])
    case attribute(Expr, String)
    case subscriptAccess(Expr, Expr)
    case slice(Expr, start: Expr?, stop: Expr?, step: Expr?)
    case call(Expr, arguments: [Expr], keywords: [(String, Expr)])
    case filter(Expr, name: String, arguments: [Expr], keywords: [(String, Expr)])
    case test(Expr, name: String, arguments: [Expr], negated: Bool)
    case unary(String, Expr)
    case binary(String, Expr, Expr)
    /// `then if condition else otherwise`; without `else` the result is undefined when the condition is false.
    case conditional(then: Expr, condition: Expr, otherwise: Expr?)
}
