import Foundation

/// What the post-processor adds around encoded sequences: `TemplateProcessing`, `BertProcessing`,
/// `RobertaProcessing` in tokenizer.json, or BOS/EOS flags from GGUF metadata.
public struct PostProcessor: Sendable, Equatable {
    /// One element of a template: special-token ids, or the place of sequence A or B, each with a token type id.
    public enum Piece: Sendable, Equatable {
        case special([Int], typeID: Int)
        case sequenceA(typeID: Int)
        case sequenceB(typeID: Int)
    }

    public var single: [Piece]
    public var pair: [Piece]

    /// Adds nothing.
    public static let none = PostProcessor(single: [.sequenceA(typeID: 0)],
                                           pair: [.sequenceA(typeID: 0), .sequenceB(typeID: 1)])

    public init(single: [Piece], pair: [Piece]) {
        self.single = single
        self.pair = pair
    }

    /// BERT's `[CLS] A [SEP]` and `[CLS] A [SEP] B [SEP]` with B's part typed 1.
    public static func bert(cls: Int, sep: Int) -> PostProcessor {
        PostProcessor(single: [.special([cls], typeID: 0), .sequenceA(typeID: 0), .special([sep], typeID: 0)],
                      pair: [.special([cls], typeID: 0), .sequenceA(typeID: 0), .special([sep], typeID: 0),
                             .sequenceB(typeID: 1), .special([sep], typeID: 1)])
    }

    /// BOS and/or EOS around every sequence, as llama.cpp's `add_bos_token` / `add_eos_token` ask.
    public static func bosEos(bos: Int?, eos: Int?) -> PostProcessor {
        func wrap(_ sequence: Piece) -> [Piece] {
            (bos.map { [.special([$0], typeID: 0)] } ?? []) + [sequence] + (eos.map { [.special([$0], typeID: 0)] } ?? [])
        }
        return PostProcessor(single: wrap(.sequenceA(typeID: 0)),
                             pair: wrap(.sequenceA(typeID: 0)) + wrap(.sequenceB(typeID: 1)))
    }

    /// Ids and token type ids of `a` (and `b`) laid out by the template.
    public func apply(_ a: [Int], _ b: [Int]? = nil) -> (ids: [Int], typeIDs: [Int]) {
        var ids: [Int] = []
        var typeIDs: [Int] = []
        for piece in b == nil ? single : pair {
            switch piece {
            case let .special(special, typeID):
                ids += special
                typeIDs += Array(repeating: typeID, count: special.count)
            case let .sequenceA(typeID):
                ids += a
                typeIDs += Array(repeating: typeID, count: a.count)
            case let .sequenceB(typeID):
                ids += b ?? []
                typeIDs += Array(repeating: typeID, count: b?.count ?? 0)
            }
        }
        return (ids, typeIDs)
    }
}

extension PostProcessor {
    /// Reads the `post_processor` object of a tokenizer.json; `idOf` resolves token strings.
    init(json: JSONObject?, idOf: (String) -> Int?) throws {
        guard let json else {
            self = .none
            return
        }
        let type = try json.string("type")
        switch type {
        case "TemplateProcessing":
            let specials = try json.optionalObject("special_tokens")
            func pieces(_ key: String) throws -> [Piece] {
                let list: [Any] = try json.value(key)
                return try list.enumerated().map { index, element in
                    let path = "\(json.fieldPath(key))[\(index)]"
                    guard let wrapper = element as? [String: Any] else {
                        throw TokenizerError.invalidField(path, reason: "expected an object")
                    }
                    let entry = JSONObject(wrapper, path: path)
                    if entry.has("Sequence") {
                        let sequence = try entry.object("Sequence")
                        let typeID = try sequence.has("type_id") ? sequence.int("type_id") : 0
                        return try sequence.string("id") == "B" ? .sequenceB(typeID: typeID) : .sequenceA(typeID: typeID)
                    }
                    let special = try entry.object("SpecialToken")
                    let name = try special.string("id")
                    let typeID = try special.has("type_id") ? special.int("type_id") : 0
                    if let definition = try specials?.optionalObject(name) {
                        let ids: [NSNumber] = try definition.value("ids")
                        return .special(ids.map(\.intValue), typeID: typeID)
                    }
                    guard let id = idOf(name) else {
                        throw TokenizerError.invalidField(path, reason: "special token \(name) is not in the vocabulary")
                    }
                    return .special([id], typeID: typeID)
                }
            }
            self.init(single: try pieces("single"), pair: try json.has("pair") ? pieces("pair") : PostProcessor.none.pair)
        case "BertProcessing", "RobertaProcessing":
            func token(_ key: String) throws -> Int {
                let pair: [Any] = try json.value(key)
                guard pair.count == 2, let id = (pair[1] as? NSNumber)?.intValue else {
                    throw TokenizerError.invalidField(json.fieldPath(key), reason: "expected [token, id]")
                }
                return id
            }
            let cls = try token("cls"), sep = try token("sep")
            if type == "BertProcessing" {
                self = .bert(cls: cls, sep: sep)
            } else {
                self.init(single: [.special([cls], typeID: 0), .sequenceA(typeID: 0), .special([sep], typeID: 0)],
                          pair: [.special([cls], typeID: 0), .sequenceA(typeID: 0), .special([sep, sep], typeID: 0),
                                 .sequenceB(typeID: 0), .special([sep], typeID: 0)])
            }
        case "ByteLevel":
            // Only adjusts offsets, which this library does not report.
            self = .none
        case "Sequence":
            // A sequence is in practice ByteLevel (no ids) plus one template; the last id-adding step wins.
            var result = PostProcessor.none
            for step in try json.objects("processors") {
                let processor = try PostProcessor(json: step, idOf: idOf)
                if processor != .none { result = processor }
            }
            self = result
        default:
            throw TokenizerError.unsupported(json.fieldPath("type"), type: type)
        }
    }
}
