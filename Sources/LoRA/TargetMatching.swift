import Foundation
import NN

/// Which module paths a LoRA config targets, with PEFT's rules (tuners_utils.check_target_module_exists and
/// _maybe_include_all_linear_layers).
extension LoRAConfig {
    /// Whether the module at `path` gets LoRA, in PEFT's order of checks:
    /// 1. exclude_modules (regex string: full match; list: the path or a "." + entry suffix) → no;
    /// 2. a module inside a modules_to_save entry → no (the head is trained whole, an adapter on it would conflict);
    /// 3. "all-linear" → yes unless it is one of `outputHeads` (PEFT expands it to the full paths of every linear
    ///    layer except the output embedding / classification head);
    /// 4. a regex string → yes if it matches the whole path;
    /// 5. a list → yes if the path is an entry; else if it ends with "." + entry, and then only inside the layers of
    ///    layers_to_transform when that is set (the index is the number after `<layers_pattern>.`, or after the first
    ///    "<name>.<digits>." segment when no pattern is given).
    /// `path` must be a path of the model tree (HF names); `defaultTargets` stand in for an unset target_modules.
    public func targets(_ path: String, defaultTargets: [String], outputHeads: [String]) -> Bool {
        if let excluded = excludeModules, Self.matchesExclusion(excluded, path) { return false }
        for saved in modulesToSave ?? [] where path.range(of: "(^|.*\\.)\(saved)($|\\..*)", options: .regularExpression) != nil {
            return false
        }
        switch targetModules ?? .names(defaultTargets) {
        case .allLinear:
            return !outputHeads.contains { path == $0 || path.hasSuffix("." + $0) }
        case .regex(let pattern):
            return Self.fullMatch(pattern, path)
        case .names(let names):
            if names.contains(path) { return true }
            guard names.contains(where: { path.hasSuffix("." + $0) }) else { return false }
            guard let layers = layersToTransform, !layers.isEmpty else { return true }
            guard let index = layerIndex(of: path) else { return false }
            return layers.contains(index)
        }
    }

    /// The transformer-block index in `path`, found as PEFT finds it (lazy match: the first numbered segment, so an
    /// expert index deeper in the path is not mistaken for the layer).
    func layerIndex(of path: String) -> Int? {
        let patterns = (layersPattern ?? []).isEmpty ? ["[^.]*"] : layersPattern!
        for pattern in patterns {
            guard let regex = try? NSRegularExpression(pattern: "^.*?\\.(?:\(pattern))\\.(\\d+)\\."),
                  let match = regex.firstMatch(in: path, range: NSRange(path.startIndex..., in: path)),
                  let range = Range(match.range(at: 1), in: path) else { continue }
            return Int(path[range])
        }
        return nil
    }

    static func matchesExclusion(_ rule: TargetModules, _ path: String) -> Bool {
        switch rule {
        case .names(let names): return names.contains { path == $0 || path.hasSuffix("." + $0) }
        case .regex(let pattern): return fullMatch(pattern, path)
        // PEFT treats an exclude_modules string as a regex; "all-linear" there would exclude everything.
        case .allLinear: return fullMatch("all-linear", path)
        }
    }

    /// Python's re.fullmatch.
    static func fullMatch(_ pattern: String, _ path: String) -> Bool {
        path.range(of: "^(?:\(pattern))$", options: .regularExpression) != nil
    }
}
