import Foundation
import ModelFormats
import TensorCore

/// How the rows of a dataset file are read (Axolotl's `type`).
public enum DatasetType: String, Sendable, Codable, CaseIterable {
    /// instruction / input / output.
    case alpaca
    /// messages: a list of {role, content}.
    case chat
    /// prompt / completion.
    case completion
    /// text: one document, every token trained.
    case text
    /// text / label, for a sequence-classification head.
    case classification

    /// The JSON fields read by default, keyed by their role; a recipe's `fields` maps roles to other names.
    public var defaultFields: [String: String] {
        switch self {
        case .alpaca: return ["instruction": "instruction", "input": "input", "output": "output"]
        case .chat: return ["messages": "messages", "role": "role", "content": "content"]
        case .completion: return ["prompt": "prompt", "completion": "completion"]
        case .text: return ["text": "text"]
        case .classification: return ["text": "text", "label": "label"]
        }
    }

    /// Roles whose field must be present in every row (alpaca's `input` may be missing or empty).
    var requiredRoles: [String] {
        switch self {
        case .alpaca: return ["instruction", "output"]
        case .chat: return ["messages"]
        case .completion: return ["prompt", "completion"]
        case .text: return ["text"]
        case .classification: return ["text", "label"]
        }
    }
}

/// One dataset of a recipe: a JSONL file, how to read it, which rows to keep and how much to hold out.
public struct DatasetSpec: Sendable {
    public var path: URL
    public var type: DatasetType
    /// Role → JSON field (dotted paths allowed); roles not given use `type.defaultFields`.
    public var fields: [String: String]
    public var filter: FilterExpression?
    public var onBadLine: BadLinePolicy
    /// Fraction of the kept rows held out for evaluation (chosen by a seeded shuffle).
    public var validationFraction: Double?
    /// A separate file of evaluation rows, read like `path`.
    public var validationPath: URL?

    public init(path: URL, type: DatasetType, fields: [String: String] = [:], filter: FilterExpression? = nil,
                onBadLine: BadLinePolicy = .error, validationFraction: Double? = nil, validationPath: URL? = nil) {
        self.path = path
        self.type = type
        self.fields = fields
        self.filter = filter
        self.onBadLine = onBadLine
        self.validationFraction = validationFraction
        self.validationPath = validationPath
    }

    public func field(_ role: String) -> String { fields[role] ?? type.defaultFields[role] ?? role }
}

/// A row that was read and kept, with where it came from.
public struct DatasetRow: Sendable {
    public var source: String
    public var line: Int
    public var value: JSONValue
    public var type: DatasetType
    public var spec: DatasetSpec

    public init(source: String, line: Int, value: JSONValue, type: DatasetType, spec: DatasetSpec) {
        self.source = source
        self.line = line
        self.value = value
        self.type = type
        self.spec = spec
    }
}

/// The rows of one or more datasets after filtering, split into training and validation, with the counts a user
/// needs to see that nothing was silently dropped.
public struct LoadedRows {
    public var train: [DatasetRow] = []
    public var validation: [DatasetRow] = []
    public var skippedBadLines: [JSONLError] = []
    public var filteredOut = 0

    public init() {}

    /// Reads every dataset; the validation split is a seeded shuffle of each dataset's kept rows.
    public static func load(_ specs: [DatasetSpec], seed: UInt64) throws -> LoadedRows {
        var result = LoadedRows()
        for (i, spec) in specs.enumerated() {
            let kept = try rows(of: spec.path, spec: spec, into: &result)
            if let validationPath = spec.validationPath {
                result.train += kept
                result.validation += try rows(of: validationPath, spec: spec, into: &result)
            } else if let fraction = spec.validationFraction, fraction > 0 {
                var generator = SeededGenerator(seed: seed &+ 0x5EED &+ UInt64(i))
                var order = Array(kept.indices)
                order.shuffle(using: &generator)
                let held = max(1, Int((Double(kept.count) * fraction).rounded()))
                let heldSet = Set(order.prefix(held))
                // Keep file order inside each part so that preprocessing output is easy to match to the file.
                result.validation += kept.indices.filter { heldSet.contains($0) }.map { kept[$0] }
                result.train += kept.indices.filter { !heldSet.contains($0) }.map { kept[$0] }
            } else {
                result.train += kept
            }
        }
        return result
    }

    static func rows(of url: URL, spec: DatasetSpec, into result: inout LoadedRows) throws -> [DatasetRow] {
        let contents = try JSONLReader.read(url, onBadLine: spec.onBadLine)
        result.skippedBadLines += contents.skipped
        var kept: [DatasetRow] = []
        for (line, value) in contents.rows {
            if let filter = spec.filter, !filter.matches(value) { result.filteredOut += 1; continue }
            kept.append(DatasetRow(source: url.path, line: line, value: value, type: spec.type, spec: spec))
        }
        return kept
    }
}
