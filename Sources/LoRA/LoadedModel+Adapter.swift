import Foundation
import ArchitectureKit

extension LoadedModel {
    /// Loads a PEFT adapter directory into this model (for generate/forward/eval with --adapter).
    @discardableResult
    public func applyAdapter(_ directory: String) throws -> LoRAModel {
        try LoRAModel.load(from: URL(fileURLWithPath: directory), into: model, plugin: plugin)
    }
}
