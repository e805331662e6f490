import Foundation
import XCTest

/// Test data lives in the repository (Tests/Fixtures/tokenizers and tokenizers/), found from this file's path;
/// tests never read the shared fixtures folder or the model cache.
enum Fixtures {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let directory = repositoryRoot.appendingPathComponent("Tests/Fixtures/tokenizers")
    static let smolLM2Vocabulary = repositoryRoot.appendingPathComponent("tokenizers/smollm2/vocabulary.json")
    static let miniLMDirectory = repositoryRoot.appendingPathComponent("tokenizers/minilm-l6")

    struct Case: Decodable {
        let text: String
        let ids: [Int]
        let decoded: String?
        let decoded_skipping_special: String?
    }

    static func cases(_ name: String) throws -> [Case] {
        try JSONDecoder().decode([Case].self, from: Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func json(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appendingPathComponent(name))) as! [String: Any]
    }
}
