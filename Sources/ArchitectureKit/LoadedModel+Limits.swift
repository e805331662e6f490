import Foundation
import NN

/// Ids or lengths that the model's tables cannot hold: refused before the forward pass, where they would trap.
public enum ModelInputError: Error, CustomStringConvertible, Equatable {
    case tokenOutOfRange(id: Int, position: Int, vocabulary: Int, source: String)
    case tooLong(tokens: Int, limit: Int, source: String)
    case empty(String)

    public var description: String {
        switch self {
        case .tokenOutOfRange(let id, let position, let vocabulary, let source):
            return "\(source): token id \(id) at position \(position) is outside the model's embedding table (ids 0..<\(vocabulary))"
        case .tooLong(let tokens, let limit, let source):
            return "\(source): \(tokens) tokens exceed the model's \(limit) positions"
        case .empty(let s): return s
        }
    }
}

extension LoadedModel {
    /// Rows of the input embedding table (config vocab_size, which strict loading matched to the weights).
    public var vocabularySize: Int? { try? config.int("vocab_size") }

    /// Positions of a learned position table (GPT-2's wpe, BERT's position_embeddings): a hard limit. nil for
    /// rotary models, which run past max_position_embeddings (with degraded quality).
    public var positionLimit: Int? {
        model.namedParameters().first { $0.path.hasSuffix("wpe.weight") || $0.path.hasSuffix("position_embeddings.weight") }?.tensor.shape.first
    }

    /// The context the model was trained for: the position table, else max_position_embeddings / n_positions.
    public var contextLength: Int? {
        positionLimit ?? (try? config.int("max_position_embeddings")) ?? (try? config.int("n_positions"))
    }

    /// Transformer blocks in the built model, as the plugin counts them (GPT-2 calls them n_layer, Llama
    /// num_hidden_layers): the size of its KV cache.
    public var layerCount: Int { model.makeCache().keys.count }

    /// Every id inside the embedding table and no more tokens than a learned position table holds.
    public func checkInput(_ ids: [Int], source: String) throws {
        guard !ids.isEmpty else { throw ModelInputError.empty("\(source): no tokens") }
        if let v = vocabularySize, let bad = ids.firstIndex(where: { $0 < 0 || $0 >= v }) {
            throw ModelInputError.tokenOutOfRange(id: ids[bad], position: bad, vocabulary: v, source: source)
        }
        if let limit = positionLimit, ids.count > limit { throw ModelInputError.tooLong(tokens: ids.count, limit: limit, source: source) }
    }
}
