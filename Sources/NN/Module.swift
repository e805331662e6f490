import TensorCore

/// A node of a model tree whose child and parameter names are the Hugging Face names, so that the dotted path of a
/// parameter (`model.layers.0.self_attn.q_proj.weight`) is its key in a checkpoint and the path of a module is
/// what LoRA's `target_modules` match against.
///
/// Children are looked up by name at call time, which is what lets LoRA replace `q_proj` in place with a wrapper.
open class Module {
    public private(set) var childNames: [String] = []
    private var children: [String: Module] = [:]
    public private(set) var parameterNames: [String] = []
    private var parameters: [String: Tensor] = [:]
    /// Training mode (dropout active). Set for a whole tree with `setTraining(_:)`.
    public private(set) var isTraining = false

    public init() {}

    /// Adds or replaces the child called `name`.
    public func register(_ name: String, _ module: Module) {
        if children[name] == nil { childNames.append(name) }
        children[name] = module
    }

    /// Adds or replaces the parameter called `name`.
    public func register(parameter name: String, _ tensor: Tensor) {
        if parameters[name] == nil { parameterNames.append(name) }
        parameters[name] = tensor
    }

    public func child(_ name: String) -> Module? { children[name] }

    /// Removes the child `name` if present.
    public func removeChild(_ name: String) {
        children[name] = nil
        childNames.removeAll { $0 == name }
    }

    /// The child `name` as the type the caller expects; a mismatch is a programming error in a plugin.
    public func child<T>(_ name: String, as type: T.Type = T.self) -> T {
        guard let c = children[name] else { preconditionFailure("\(Self.self) has no child '\(name)'") }
        guard let typed = c as? T else { preconditionFailure("child '\(name)' is \(Swift.type(of: c)), not \(T.self)") }
        return typed
    }

    public func parameter(_ name: String) -> Tensor? { parameters[name] }

    /// Every module of the tree with its dotted path ("" for the root), parents before children.
    public func namedModules(prefix: String = "") -> [(path: String, module: Module)] {
        var result: [(String, Module)] = [(prefix, self)]
        for name in childNames {
            result += children[name]!.namedModules(prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
        }
        return result
    }

    /// Every parameter of the tree with its dotted path, in registration order.
    public func namedParameters(prefix: String = "") -> [(path: String, tensor: Tensor)] {
        var result: [(String, Tensor)] = parameterNames.map { (prefix.isEmpty ? $0 : "\(prefix).\($0)", parameters[$0]!) }
        for name in childNames {
            result += children[name]!.namedParameters(prefix: prefix.isEmpty ? name : "\(prefix).\(name)")
        }
        return result
    }

    /// Parameters the optimizer updates.
    public func trainableParameters() -> [(path: String, tensor: Tensor)] { namedParameters().filter { $0.tensor.requiresGrad } }

    /// The module at a dotted path, or nil.
    public func module(at path: String) -> Module? {
        if path.isEmpty { return self }
        var node: Module = self
        for part in path.split(separator: ".") {
            guard let next = node.children[String(part)] else { return nil }
            node = next
        }
        return node
    }

    /// Replaces the module at a dotted path (LoRA injection, modules_to_save copies).
    public func replaceModule(at path: String, with module: Module) {
        let parts = path.split(separator: ".").map(String.init)
        guard let parent = self.module(at: parts.dropLast().joined(separator: ".")), parent.children[parts.last!] != nil else {
            preconditionFailure("no module at '\(path)'")
        }
        parent.register(parts.last!, module)
    }

    /// Replaces the tensor of the parameter at a dotted path (weight loading, merging, tying).
    public func setParameter(at path: String, _ tensor: Tensor) throws {
        let parts = path.split(separator: ".").map(String.init)
        guard let owner = module(at: parts.dropLast().joined(separator: ".")), let old = owner.parameters[parts.last!] else {
            throw ModuleError.unknownParameter(path)
        }
        guard old.shape == tensor.shape else { throw ModuleError.shapeMismatch(path, expected: old.shape, got: tensor.shape) }
        owner.parameters[parts.last!] = tensor
    }

    /// Removes the parameter at a dotted path (a declared architecture without, say, an o_proj bias).
    public func removeParameter(at path: String) {
        let parts = path.split(separator: ".").map(String.init)
        guard let owner = module(at: parts.dropLast().joined(separator: ".")) else { return }
        owner.parameters[parts.last!] = nil
        owner.parameterNames.removeAll { $0 == parts.last! }
    }

    /// Freezes (or unfreezes) every parameter of the tree.
    public func setTrainable(_ trainable: Bool) {
        for (_, t) in namedParameters() { t.requiresGrad = trainable }
    }

    public func setTraining(_ training: Bool) {
        for (_, m) in namedModules() { m.isTraining = training }
    }
}

public enum ModuleError: Error, CustomStringConvertible, Equatable {
    case unknownParameter(String)
    case shapeMismatch(String, expected: [Int], got: [Int])
    case missingWeights([String])
    case unusedWeights([String])

    public var description: String {
        switch self {
        case .unknownParameter(let p): return "the model has no parameter '\(p)'"
        case .shapeMismatch(let p, let e, let g): return "parameter '\(p)' has shape \(e), the weights give \(g)"
        case .missingWeights(let names): return "no weights for \(names.count) parameter(s): \(names.prefix(8).joined(separator: ", "))"
        case .unusedWeights(let names): return "\(names.count) weight(s) match no parameter: \(names.prefix(8).joined(separator: ", "))"
        }
    }
}
