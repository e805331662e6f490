import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Renders a node tree. Variables live in a stack of scopes: a for loop's body and a macro call get their own, as
/// in Jinja2, so a `set` inside a loop does not leak out (which is why templates use `namespace()`).
final class Evaluator {
    private var scopes: [[String: Value]]
    private var macros: [String: (parameters: [(name: String, defaultValue: Expr?)], body: [Node])] = [:]
    private(set) var output = ""
    /// Loop iterations so far and macro calls in progress, bounded by `TemplateLimits` so that a template cannot
    /// hang the process (nested loops over large ranges) or overflow the stack (a macro that calls itself).
    private var iterations = 0
    private var macroDepth = 0

    /// break / continue unwinding to the innermost loop.
    private enum LoopControl: Error { case breakLoop, continueLoop }

    init(variables: [String: Value]) { scopes = [variables] }

    func render(_ nodes: [Node]) throws {
        do { try renderBlock(nodes) }
        catch is LoopControl { throw TemplateError.syntax("break or continue outside a loop", at: SourceLocation(line: 1, column: 1)) }
    }

    private func lookup(_ name: String) -> Value? {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return nil
    }

    private func assign(_ name: String, _ value: Value) { scopes[scopes.count - 1][name] = value }

    /// Runs `body` with its output captured instead of written.
    private func capture(_ body: () throws -> Void) rethrows -> String {
        let saved = output
        output = ""
        defer { output = saved }
        try body()
        return output
    }

    private func renderBlock(_ nodes: [Node]) throws {
        for node in nodes {
            switch node {
            case .text(let t):
                output += t
            case .output(let e, let location):
                output += try eval(e, location).rendered
            case .set(let targets, let attribute, let valueExpr, let location):
                let value = try eval(valueExpr, location)
                if let attribute {
                    guard case .namespace(let namespace)? = lookup(targets[0]) else {
                        throw TemplateError.runtime("cannot assign attribute on non-namespace object '\(targets[0])'", at: location)
                    }
                    namespace.set(attribute, value)
                } else {
                    try bind(targets, to: value, location)
                }
            case .setBlock(let target, let body):
                assign(target, .string(try capture { try renderBlock(body) }))
            case .macro(let name, let parameters, let body):
                macros[name] = (parameters, body)
            case .conditional(let branches, let otherwise, let location):
                if let taken = try branches.first(where: { try eval($0.condition, location).isTruthy }) {
                    try renderBlock(taken.body)
                } else {
                    try renderBlock(otherwise)
                }
            case .forLoop(let targets, let iterable, let filter, let body, let otherwise, let location):
                try renderLoop(targets, iterable, filter, body, otherwise, location)
            case .breakLoop: throw LoopControl.breakLoop
            case .continueLoop: throw LoopControl.continueLoop
            }
        }
    }

    /// Assigns one name, or unpacks a sequence over several (`for k, v in …`, `set a, b = …`).
    private func bind(_ targets: [String], to value: Value, _ location: SourceLocation) throws {
        if targets.count == 1 { assign(targets[0], value); return }
        guard let parts = value.iterated, parts.count == targets.count else {
            throw TemplateError.runtime("cannot unpack \(value.pythonRepr) into \(targets.count) names", at: location)
        }
        for (name, part) in zip(targets, parts) { assign(name, part) }
    }

    private func renderLoop(_ targets: [String], _ iterable: Expr, _ filter: Expr?, _ body: [Node], _ otherwise: [Node],
                            _ location: SourceLocation) throws {
        let collection = try eval(iterable, location)
        guard var items = collection.iterated else {
            throw TemplateError.runtime("'\(collection.typeName)' object is not iterable", at: location)
        }
        if let filter {
            // The filter sees each item bound, before `loop` exists; loop.length counts only the items it keeps.
            items = try items.filter { item in
                scopes.append([:])
                defer { scopes.removeLast() }
                try bind(targets, to: item, location)
                return try eval(filter, location).isTruthy
            }
        }
        if items.isEmpty { try renderBlock(otherwise); return }
        let n = items.count
        for (i, item) in items.enumerated() {
            iterations += 1
            guard iterations <= TemplateLimits.maximumIterations, output.utf8.count <= TemplateLimits.maximumProduct else {
                throw TemplateError.runtime("the template runs more than \(TemplateLimits.maximumIterations) loop "
                                            + "iterations or renders more than \(TemplateLimits.maximumProduct) bytes", at: location)
            }
            scopes.append([:])
            defer { scopes.removeLast() }
            assign("loop", [
                "index": .int(i + 1), "index0": .int(i), "first": .bool(i == 0), "last": .bool(i == n - 1),
                "length": .int(n), "revindex": .int(n - i), "revindex0": .int(n - i - 1),
                "previtem": i > 0 ? items[i - 1] : .undefined, "nextitem": i + 1 < n ? items[i + 1] : .undefined,
            ])
            try bind(targets, to: item, location)
            do { try renderBlock(body) }
            catch LoopControl.continueLoop { continue }
            catch LoopControl.breakLoop { break }
        }
    }

    func eval(_ e: Expr, _ location: SourceLocation) throws -> Value {
        switch e {
        case .literal(let v):
            return v
        case .name(let n):
            if let v = lookup(n) { return v }
            // Built-in functions are defined (templates test `strftime_now is defined`); printed, they name themselves.
            return Self.builtinFunctions.contains(n) || macros[n] != nil ? .string("<function \(n)>") : .undefined
        case .list(let items):
            return .array(try items.map { try eval($0, location) })
        case .dict(let pairs):
            return .dictionary(try pairs.map { (try eval($0.key, location).rendered, try eval($0.value, location)) })
        case .attribute(let baseExpr, let name):
            let base = try eval(baseExpr, location)
            if case .undefined = base { throw undefinedAccess(baseExpr, location) }
            return base[name]
        case .subscriptAccess(let baseExpr, let indexExpr):
            let base = try eval(baseExpr, location), index = try eval(indexExpr, location)
            switch (base, index) {
            case (.undefined, _):
                throw undefinedAccess(baseExpr, location)
            case (.array(let a), .int(let n)):
                let k = n < 0 ? a.count + n : n
                return a.indices.contains(k) ? a[k] : .undefined
            case (.string(let s), .int(let n)):
                let chars = Array(s), k = n < 0 ? chars.count + n : n
                return chars.indices.contains(k) ? .string(String(chars[k])) : .undefined
            case (_, .string(let key)):
                return base[key]
            default:
                return .undefined
            }
        case .slice(let baseExpr, let start, let stop, let step):
            let base = try eval(baseExpr, location)
            func bound(_ x: Expr?) throws -> Int? {
                guard let x else { return nil }
                switch try eval(x, location) {
                case .int(let n): return n
                case .none: return nil
                default: throw TemplateError.runtime("slice indices must be integers or None", at: location)
                }
            }
            let (lo, hi, st) = (try bound(start), try bound(stop), try bound(step) ?? 1)
            guard st != 0 else { throw TemplateError.runtime("slice step cannot be zero", at: location) }
            switch base {
            case .string(let s): return .string(String(Operators.slice(Array(s), lo, hi, st)))
            case .array(let a): return .array(Operators.slice(a, lo, hi, st))
            case .undefined: throw undefinedAccess(baseExpr, location)
            default: throw TemplateError.runtime("'\(base.typeName)' object is not subscriptable", at: location)
            }
        case .call(let callee, let arguments, let keywords):
            let args = try arguments.map { try eval($0, location) }
            let kwargs = try keywords.map { ($0.0, try eval($0.1, location)) }
            if case .attribute(let baseExpr, let method) = callee {
                let base = try eval(baseExpr, location)
                if case .undefined = base { throw undefinedAccess(baseExpr, location) }
                return try Methods.call(method, on: base, args, kwargs, at: location)
            }
            guard case .name(let name) = callee else { throw TemplateError.runtime("object is not callable", at: location) }
            return try callGlobal(name, args, kwargs, location)
        case .filter(let baseExpr, let name, let arguments, let keywords):
            return try Filters.apply(name, try eval(baseExpr, location), try arguments.map { try eval($0, location) },
                                     try keywords.map { ($0.0, try eval($0.1, location)) }, at: location)
        case .test(let baseExpr, let name, let arguments, let negated):
            let result = try Filters.test(name, try eval(baseExpr, location), try arguments.map { try eval($0, location) }, at: location)
            return .bool(result != negated)
        case .unary(let op, let operandExpr):
            let v = try eval(operandExpr, location)
            if op == "not" { return .bool(!v.isTruthy) }
            switch v {
            case .int(let n):
                // -Int.min does not fit 64 bits.
                guard n != .min else { throw TemplateError.runtime("integer overflow in unary '-' (template integers are 64-bit)", at: location) }
                return .int(-n)
            case .double(let d): return .double(-d)
            case .bool(let b): return .int(b ? -1 : 0)
            default: throw TemplateError.runtime("bad operand type for unary -: '\(v.typeName)'", at: location)
            }
        case .binary(let op, let left, let right):
            // and / or return an operand, as in Python, and short-circuit.
            if op == "and" { let a = try eval(left, location); return a.isTruthy ? try eval(right, location) : a }
            if op == "or" { let a = try eval(left, location); return a.isTruthy ? a : try eval(right, location) }
            return try Operators.binary(op, try eval(left, location), try eval(right, location), at: location)
        case .conditional(let then, let condition, let otherwise):
            if try eval(condition, location).isTruthy { return try eval(then, location) }
            return try otherwise.map { try eval($0, location) } ?? .undefined
        }
    }

    /// Jinja2's default Undefined fails when something reads from it.
    private func undefinedAccess(_ e: Expr, _ location: SourceLocation) -> TemplateError {
        if case .name(let n) = e { return .runtime("'\(n)' is undefined", at: location) }
        return .runtime("undefined value has no attributes or items", at: location)
    }

    static let builtinFunctions: Set<String> = ["raise_exception", "range", "namespace", "dict", "strftime_now"]

    private func callGlobal(_ name: String, _ args: [Value], _ kwargs: [(String, Value)], _ location: SourceLocation) throws -> Value {
        if let macro = macros[name] { return try callMacro(macro.parameters, macro.body, args, kwargs, location) }
        switch name {
        case "raise_exception":
            throw TemplateError.raised(args.first?.rendered ?? "")
        case "range":
            let bounds = try args.map { v -> Int in
                guard case .int(let n) = v else { throw TemplateError.runtime("range() takes integers", at: location) }
                return n
            }
            guard (1...3).contains(bounds.count) else { throw TemplateError.runtime("range() takes 1 to 3 arguments", at: location) }
            let (lo, hi, step) = bounds.count == 1 ? (0, bounds[0], 1) : (bounds[0], bounds[1], bounds.count > 2 ? bounds[2] : 1)
            guard step != 0 else { throw TemplateError.runtime("range() step must not be zero", at: location) }
            // The span in Double: hi - lo itself may overflow Int.
            guard (Double(hi) - Double(lo)) / Double(step) <= Double(TemplateLimits.maximumProduct) else {
                throw TemplateError.runtime("range() of more than \(TemplateLimits.maximumProduct) items", at: location)
            }
            return .array(stride(from: lo, to: hi, by: step).map { .int($0) })
        case "namespace":
            var pairs: [(String, Value)] = []
            if case .dictionary(let d)? = args.first { pairs += d }
            return .namespace(Namespace(pairs + kwargs))
        case "dict":
            var pairs: [(String, Value)] = []
            if case .dictionary(let d)? = args.first { pairs += d }
            return .dictionary(pairs + kwargs)
        case "strftime_now":
            return .string(Self.strftimeNow(args.first?.rendered ?? ""))
        default:
            if lookup(name) == nil { throw TemplateError.runtime("'\(name)' is undefined", at: location) }
            throw TemplateError.runtime("'\(name)' is not callable", at: location)
        }
    }

    private func callMacro(_ parameters: [(name: String, defaultValue: Expr?)], _ body: [Node], _ args: [Value],
                           _ kwargs: [(String, Value)], _ location: SourceLocation) throws -> Value {
        guard args.count <= parameters.count else { throw TemplateError.runtime("macro takes \(parameters.count) arguments", at: location) }
        guard macroDepth < TemplateLimits.maximumMacroDepth else {
            throw TemplateError.runtime("macros nested more than \(TemplateLimits.maximumMacroDepth) calls deep "
                                        + "(a macro that calls itself without end?)", at: location)
        }
        macroDepth += 1
        defer { macroDepth -= 1 }
        // A macro sees the template's top-level variables and its own parameters, not its caller's locals.
        let saved = scopes
        defer { scopes = saved }
        scopes = [scopes[0], [:]]
        for (i, parameter) in parameters.enumerated() {
            let value = try i < args.count ? args[i]
                : kwargs.first { $0.0 == parameter.name }?.1 ?? parameter.defaultValue.map { try eval($0, location) } ?? .undefined
            assign(parameter.name, value)
        }
        return .string(try capture { try renderBlock(body) })
    }

    /// transformers' strftime_now: datetime.now().strftime(format), local time.
    static func strftimeNow(_ format: String) -> String {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 512)
        let n = strftime(&buffer, buffer.count, format, &parts)
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
