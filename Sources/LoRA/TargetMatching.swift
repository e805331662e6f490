import Foundation
import NN

/// Which module paths a LoRA config targets, with PEFT's rules (tuners_utils.check_target_module_exists).
extension LoRAConfig {
    /// Layer-list names PEFT tries when layers_pattern is unset.
    static let defaultLayerPatterns = ["layers", "h", "block", "blocks", "layer"]

    /// Whether the module at `path` gets LoRA. `outputHeads` are excluded from "all-linear".
    public func targets(_ path: String, defaultTargets: [String], outputHeads: [String]) -> Bool {
        if let excluded = excludeModules, Self.matches(excluded, path, outputHeads: []) { return false }
        let rule = targetModules ?? .names(defaultTargets)
        if case .allLinear = rule {
            if outputHeads.contains(where: { path == $0 || path.hasSuffix("." + $0) }) { return false }
        } else if !Self.matches(rule, path, outputHeads: outputHeads) {
            return false
        }
        guard let layers = layersToTransform else { return true }
        // Only modules inside the listed layer indices: "<prefix>.<pattern>.<index>.<rest>".
        for pattern in layersPattern ?? Self.defaultLayerPatterns {
            if let r = path.range(of: "(^|\\.)\(NSRegularExpression.escapedPattern(for: pattern))\\.(\\d+)\\.", options: .regularExpression) {
                let digits = path[r].split(separator: ".").compactMap { Int($0) }.last
                return digits.map { layers.contains($0) } ?? false
            }
        }
        return false
    }

    static func matches(_ rule: TargetModules, _ path: String, outputHeads: [String]) -> Bool {
        switch rule {
        case .names(let names): return names.contains { path == $0 || path.hasSuffix("." + $0) }
        case .regex(let pattern): return path.range(of: "^(?:\(pattern))$", options: .regularExpression) != nil
        case .allLinear: return true
        }
    }
}
