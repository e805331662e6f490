import Training

/// Reads one mapping of a recipe against its schema: typed getters whose errors name the key path, its location
/// and what was expected, and `finish()` which rejects keys the schema does not know (with a "did you mean").
struct SchemaReader {
    let path: String
    let location: RecipeLocation
    private var pairs: [(key: String, value: RecipeNode)]
    private var used: Set<String> = []

    init(_ node: RecipeNode, path: String) throws {
        self.path = path
        location = node.location
        guard case .map(let pairs, _) = node else {
            throw SchemaReader.error(node.location, path, "expected a mapping of keys to values")
        }
        var seen: Set<String> = []
        for (key, _) in pairs where !seen.insert(key).inserted {
            throw SchemaReader.error(node.location, path, "key '\(key)' appears twice")
        }
        self.pairs = pairs
    }

    static func error(_ at: RecipeLocation, _ path: String, _ message: String) -> RecipeError {
        RecipeError(file: at.file, line: at.line, column: at.column, path: path, message: message)
    }

    func keyPath(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The node for `key`, or nil when absent or null (`~`, `null`, empty).
    mutating func node(_ key: String) -> RecipeNode? {
        used.insert(key)
        guard let node = pairs.first(where: { $0.key == key })?.value else { return nil }
        if case .scalar(let s, false, _) = node, ["", "~", "null", "Null", "NULL"].contains(s) { return nil }
        return node
    }

    mutating func string(_ key: String) throws -> String? {
        guard let node = node(key) else { return nil }
        guard case .scalar(let s, _, _) = node else { throw Self.error(node.location, keyPath(key), "expected a string") }
        return s
    }

    mutating func string(_ key: String, oneOf choices: [String]) throws -> String? {
        guard let s = try string(key) else { return nil }
        guard choices.contains(s) else {
            let at = pairs.first { $0.key == key }!.value.location
            throw Self.error(at, keyPath(key), "expected one of \(choices.joined(separator: " | ")), found '\(s)'" + Self.suggestion(s, choices))
        }
        return s
    }

    mutating func int(_ key: String, minimum: Int? = nil) throws -> Int? {
        guard let node = node(key) else { return nil }
        guard case .scalar(let s, false, _) = node, let v = Int(s.replacingOccurrences(of: "_", with: "")) else {
            throw Self.error(node.location, keyPath(key), "expected an integer, found \(Self.show(node))")
        }
        if let minimum, v < minimum { throw Self.error(node.location, keyPath(key), "expected an integer ≥ \(minimum), found \(v)") }
        return v
    }

    mutating func double(_ key: String, range: ClosedRange<Double>? = nil) throws -> Double? {
        guard let node = node(key) else { return nil }
        guard case .scalar(let s, false, _) = node, let v = Double(s) else {
            throw Self.error(node.location, keyPath(key), "expected a number, found \(Self.show(node))")
        }
        if let range, !range.contains(v) {
            throw Self.error(node.location, keyPath(key), "expected a number in \(range.lowerBound)…\(range.upperBound), found \(s)")
        }
        return v
    }

    /// A number or the word `auto`.
    mutating func doubleOrAuto(_ key: String) throws -> AutoValue<Double>? {
        if case .scalar("auto", _, _)? = pairs.first(where: { $0.key == key })?.value { used.insert(key); return .auto }
        return try double(key, range: 0...1e6).map { .value($0) }
    }

    mutating func intOrAuto(_ key: String) throws -> AutoValue<Int>? {
        if case .scalar("auto", _, _)? = pairs.first(where: { $0.key == key })?.value { used.insert(key); return .auto }
        return try int(key, minimum: 1).map { .value($0) }
    }

    mutating func bool(_ key: String) throws -> Bool? {
        guard let node = node(key) else { return nil }
        if case .scalar(let s, false, _) = node {
            if ["true", "True", "yes", "on"].contains(s) { return true }
            if ["false", "False", "no", "off"].contains(s) { return false }
        }
        throw Self.error(node.location, keyPath(key), "expected true or false, found \(Self.show(node))")
    }

    mutating func stringList(_ key: String) throws -> [String]? {
        guard let node = node(key) else { return nil }
        switch node {
        case .list(let items, _):
            return try items.map {
                guard case .scalar(let s, _, _) = $0 else { throw Self.error($0.location, keyPath(key), "expected a list of strings") }
                return s
            }
        case .scalar(let s, _, _): return [s]
        case .map: throw Self.error(node.location, keyPath(key), "expected a list of strings")
        }
    }

    mutating func stringMap(_ key: String) throws -> [String: String]? {
        guard let node = node(key) else { return nil }
        guard case .map(let pairs, _) = node else { throw Self.error(node.location, keyPath(key), "expected a mapping of names to names") }
        var result: [String: String] = [:]
        for (k, v) in pairs {
            guard case .scalar(let s, _, _) = v else { throw Self.error(v.location, "\(keyPath(key)).\(k)", "expected a string") }
            result[k] = s
        }
        return result
    }

    /// Rejects keys that no getter asked for.
    func finish() throws {
        let known = Array(used)
        for (key, value) in pairs where !used.contains(key) {
            throw Self.error(value.location, keyPath(key), "unknown key '\(key)'" + Self.suggestion(key, known)
                             + "; expected one of: \(known.sorted().joined(separator: ", "))")
        }
    }

    static func show(_ node: RecipeNode) -> String {
        switch node {
        case .scalar(let s, let quoted, _): return quoted ? "the string \"\(s)\"" : "'\(s)'"
        case .list: return "a list"
        case .map: return "a mapping"
        }
    }

    /// ", did you mean 'x'?" when a known name is within edit distance 2 (or a third of the length).
    static func suggestion(_ word: String, _ candidates: [String]) -> String {
        let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }.min { $0.1 < $1.1 }
        guard let (best, d) = scored, d <= max(2, word.count / 3) else { return "" }
        return " — did you mean '\(best)'?"
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var previous = Array(0...b.count)
        for i in 1...max(a.count, 1) where !a.isEmpty {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where !b.isEmpty {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return a.isEmpty ? b.count : previous[b.count]
    }
}
