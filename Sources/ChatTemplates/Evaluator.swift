import Foundation

/// Renders nodes: a stack of variable scopes (a for loop's body gets its own, as in Jinja, so `set` inside a loop
/// does not leak out — which is why templates use namespace()).
final class Evaluator {
    var scopes: [[String: Value]]
    var macros: [String: (parameters: [(String, Expr?)], body: [Node])] = [:]
    var output = ""

    enum Flow: Error { case breakLoop, continueLoop }

    init(globals: [String: Value]) { scopes = [globals] }

    func lookup(_ name: String) -> Value {
        for scope in scopes.reversed() { if let v = scope[name] { return v } }
        return .undefined
    }

    func assign(_ name: String, _ value: Value) { scopes[scopes.count - 1][name] = value }

    func render(_ nodes: [Node]) throws {
        for node in nodes {
            switch node {
            case .text(let t): output += t
            case .output(let e, let line): output += try eval(e, line).rendered
            case .set(let target, let attribute, let value, let line):
                let v = try eval(value, line)
                if let attribute {
                    guard case .namespace(let box) = lookup(target) else {
                        throw TemplateError.runtime("cannot set attribute '\(attribute)' of '\(target)', which is not a namespace", line: line)
                    }
                    box.values[attribute] = v
                } else { assign(target, v) }
            case .setBlock(let target, let body):
                let saved = output
                output = ""
                try render(body)
                let captured = output
                output = saved
                assign(target, .string(captured))
            case .macro(let name, let parameters, let body): macros[name] = (parameters, body)
            case .conditional(let branches, let otherwise, let line):
                var done = false
                for (condition, body) in branches where try eval(condition, line).isTruthy {
                    try render(body); done = true; break
                }
                if !done { try render(otherwise) }
            case .forLoop(let targets, let iterable, let filter, let body, let otherwise, let line):
                try renderFor(targets, iterable, filter, body, otherwise, line)
            case .breakLoop: throw Flow.breakLoop
            case .continueLoop: throw Flow.continueLoop
            }
        }
    }

    private func renderFor(_ targets: [String], _ iterable: Expr, _ filter: Expr?, _ body: [Node], _ otherwise: [Node], _ line: Int) throws {
        let collection = try eval(iterable, line)
        var items: [Value]
        if case .dictionary(let d) = collection { items = d.map { .string($0.0) } }
        else if let it = collection.iterated { items = it }
        else { throw TemplateError.runtime("cannot iterate over \(collection.rendered)", line: line) }
        func bind(_ item: Value) throws {
            if targets.count == 1 { assign(targets[0], item); return }
            guard case .array(let parts) = item, parts.count == targets.count else {
                throw TemplateError.runtime("cannot unpack \(item.rendered) into \(targets.count) names", line: line)
            }
            for (t, v) in zip(targets, parts) { assign(t, v) }
        }
        if let filter {
            items = try items.filter { item in
                scopes.append([:]); defer { scopes.removeLast() }
                try bind(item)
                return try eval(filter, line).isTruthy
            }
        }
        if items.isEmpty { try render(otherwise); return }
        for (i, item) in items.enumerated() {
            scopes.append([:])
            defer { scopes.removeLast() }
            try bind(item)
            assign("loop", .dictionary([
                ("index", .int(i + 1)), ("index0", .int(i)), ("first", .bool(i == 0)), ("last", .bool(i == items.count - 1)),
                ("length", .int(items.count)), ("revindex", .int(items.count - i)), ("revindex0", .int(items.count - i - 1)),
                ("previtem", i > 0 ? items[i - 1] : .undefined), ("nextitem", i + 1 < items.count ? items[i + 1] : .undefined),
            ]))
            do { try render(body) } catch Flow.continueLoop { continue } catch Flow.breakLoop { break }
        }
    }

    func eval(_ e: Expr, _ line: Int) throws -> Value {
        switch e {
        case .literal(let v): return v
        case .name(let n): return lookup(n)
        case .list(let items): return .array(try items.map { try eval($0, line) })
        case .dict(let pairs): return .dictionary(try pairs.map { (try eval($0.0, line).rendered, try eval($0.1, line)) })
        case .attribute(let base, let name):
            let b = try eval(base, line)
            let v = b[name]
            if case .undefined = v, case .array = b, name == "length" { return .int(b.iterated!.count) }
            return v
        case .subscriptAccess(let base, let index):
            let b = try eval(base, line), i = try eval(index, line)
            switch (b, i) {
            case (.array(let a), .int(let n)):
                let k = n < 0 ? a.count + n : n
                return a.indices.contains(k) ? a[k] : .undefined
            case (.string(let s), .int(let n)):
                let chars = Array(s), k = n < 0 ? chars.count + n : n
                return chars.indices.contains(k) ? .string(String(chars[k])) : .undefined
            case (_, .string(let key)): return b[key]
            default: return .undefined
            }
        case .slice(let base, let start, let stop, let step):
            let b = try eval(base, line)
            func int(_ x: Expr?) throws -> Int? { try x.map { e in
                guard case .int(let n) = try eval(e, line) else { throw TemplateError.runtime("slice bounds must be integers", line: line) }
                return n
            } }
            let (lo, hi, st) = (try int(start), try int(stop), try int(step) ?? 1)
            func sliced<T>(_ a: [T]) -> [T] { Builtins.slice(a, lo, hi, st) }
            if case .string(let s) = b { return .string(String(sliced(Array(s)))) }
            guard case .array(let a) = b else { return .undefined }
            return .array(sliced(a))
        case .call(let callee, let args, let kwargs):
            return try call(callee, try args.map { try eval($0, line) }, try kwargs.map { ($0.0, try eval($0.1, line)) }, line)
        case .filter(let base, let name, let args, let kwargs):
            return try Builtins.filter(name, try eval(base, line), try args.map { try eval($0, line) },
                                       try kwargs.map { ($0.0, try eval($0.1, line)) }, line: line)
        case .test(let base, let name, let args, let negated):
            let r = try Builtins.test(name, try eval(base, line), try args.map { try eval($0, line) }, line: line)
            return .bool(negated ? !r : r)
        case .unary(let op, let x):
            let v = try eval(x, line)
            if op == "not" { return .bool(!v.isTruthy) }
            switch v {
            case .int(let n): return .int(-n)
            case .double(let d): return .double(-d)
            default: throw TemplateError.runtime("cannot negate \(v.rendered)", line: line)
            }
        case .binary(let op, let l, let r):
            if op == "and" { let a = try eval(l, line); return a.isTruthy ? try eval(r, line) : a }
            if op == "or" { let a = try eval(l, line); return a.isTruthy ? a : try eval(r, line) }
            return try Builtins.binary(op, try eval(l, line), try eval(r, line), line: line)
        case .conditional(let then, let condition, let otherwise):
            if try eval(condition, line).isTruthy { return try eval(then, line) }
            return try otherwise.map { try eval($0, line) } ?? .undefined
        }
    }

    private func call(_ callee: Expr, _ args: [Value], _ kwargs: [(String, Value)], _ line: Int) throws -> Value {
        if case .attribute(let base, let method) = callee {
            return try Builtins.method(method, on: try eval(base, line), args, kwargs, line: line)
        }
        guard case .name(let name) = callee else { throw TemplateError.runtime("not callable", line: line) }
        if let macro = macros[name] {
            scopes.append([:])
            defer { scopes.removeLast() }
            for (i, (p, d)) in macro.parameters.enumerated() {
                assign(p, i < args.count ? args[i] : try kwargs.first { $0.0 == p }?.1 ?? d.map { try eval($0, line) } ?? .undefined)
            }
            let saved = output
            output = ""
            try render(macro.body)
            let result = output
            output = saved
            return .string(result)
        }
        switch name {
        case "raise_exception": throw TemplateError.raised(args.first?.rendered ?? "")
        case "range":
            let ints = args.compactMap { v -> Int? in if case .int(let n) = v { return n }; return nil }
            let (lo, hi, st) = ints.count == 1 ? (0, ints[0], 1) : (ints[0], ints[1], ints.count > 2 ? ints[2] : 1)
            return .array(stride(from: lo, to: hi, by: st).map { .int($0) })
        case "namespace":
            var values: [String: Value] = [:]
            if case .dictionary(let d)? = args.first { for (k, v) in d { values[k] = v } }
            for (k, v) in kwargs { values[k] = v }
            return .namespace(NamespaceBox(values))
        case "strftime_now":
            let f = DateFormatter()
            f.locale = Locale(identifier: "en_US_POSIX")
            f.dateFormat = Builtins.dateFormat(fromStrftime: args.first?.rendered ?? "%Y-%m-%d")
            return .string(f.string(from: Date()))
        case "dict":
            return .dictionary(kwargs)
        default:
            throw TemplateError.runtime("unknown function '\(name)'", line: line)
        }
    }
}
