import Foundation
import ArchitectureKit
import NN
import TensorCore

public enum LoRAError: Error, CustomStringConvertible {
    case noTargets(String)
    case notLinear(String)
    case unknownAdapter(String)
    case adapterFile(String)

    public var description: String {
        switch self {
        case .noTargets(let s), .notLinear(let s), .adapterFile(let s): return s
        case .unknownAdapter(let n): return "no adapter named '\(n)'"
        }
    }
}

/// PEFT's PeftModel/LoraModel over a model tree: injects LoRA layers by HF path, freezes the base, manages named
/// adapters, and maps parameters to PEFT's file keys (`base_model.model.<path>` without the adapter name).
public final class LoRAModel {
    public let model: any ArchitectureModel
    public let plugin: any ArchitecturePlugin.Type
    public private(set) var configs: [String: LoRAConfig] = [:]
    /// In order of addition.
    public private(set) var adapterNames: [String] = []
    public private(set) var activeAdapter: String

    /// Wraps `model` with adapter `name` built from `config` (A/B initialised from `seed`).
    public init(model: any ArchitectureModel, plugin: any ArchitecturePlugin.Type, config: LoRAConfig,
                adapterName: String = "default", seed: UInt64 = 0) throws {
        self.model = model
        self.plugin = plugin
        activeAdapter = adapterName
        model.setTrainable(false)
        try addAdapter(adapterName, config: config, seed: seed)
    }

    /// Every LoRA layer with its path.
    public var loraLayers: [(path: String, layer: LoRALinear)] {
        model.namedModules().compactMap { entry in (entry.module as? LoRALinear).map { (entry.path, $0) } }
    }

    public var savedModules: [(path: String, wrapper: ModulesToSaveWrapper)] {
        model.namedModules().compactMap { entry in (entry.module as? ModulesToSaveWrapper).map { (entry.path, $0) } }
    }

    /// Adds another adapter (PEFT's add_adapter); it becomes trainable only when made active.
    public func addAdapter(_ name: String, config: LoRAConfig, seed: UInt64 = 0) throws {
        precondition(configs[name] == nil, "adapter '\(name)' exists")
        var generator = SeededGenerator(seed: seed)
        var matched: [String] = []
        for (path, module) in model.namedModules() where !path.isEmpty {
            if Self.isInternal(path) { continue }
            guard config.targets(path, defaultTargets: plugin.defaultTargetModules, outputHeads: plugin.outputHeadModules) else { continue }
            let wrapper: LoRALinear
            if let existing = module as? LoRALinear { wrapper = existing }
            else if let linear = module as? any LinearLayer, !(module is ModulesToSaveWrapper) {
                wrapper = LoRALinear(wrapping: linear)
                model.replaceModule(at: path, with: wrapper)
            } else {
                if case .names = config.targetModules ?? .names([]) {
                    throw LoRAError.notLinear("target module '\(path)' is a \(type(of: module)), not a linear layer; LoRA wraps linear layers only")
                }
                continue
            }
            try wrapper.addAdapter(name, rank: config.rank(for: path), scaling: config.scaling(for: path),
                                   dropout: config.loraDropout, useDoRA: config.useDoRA,
                                   initialization: config.initLoRAWeights, generator: &generator)
            matched.append(path)
        }
        guard !matched.isEmpty else {
            throw LoRAError.noTargets("target modules \(config.targetModules.map { "\($0)" } ?? "\(plugin.defaultTargetModules)") match no linear layer of the \(plugin.name) model")
        }
        for target in config.modulesToSave ?? [] {
            for (path, module) in model.namedModules() where !Self.isInternal(path) && (path == target || path.hasSuffix("." + target)) {
                let wrapper: ModulesToSaveWrapper
                if let existing = module as? ModulesToSaveWrapper { wrapper = existing }
                else if let linear = module as? any LinearLayer, !(module is LoRALinear) {
                    wrapper = ModulesToSaveWrapper(wrapping: linear)
                    model.replaceModule(at: path, with: wrapper)
                } else { throw LoRAError.notLinear("modules_to_save '\(path)' is a \(type(of: module)); only linear heads are supported") }
                try wrapper.addAdapter(name)
            }
        }
        configs[name] = config
        adapterNames.append(name)
        setActiveAdapter(activeAdapter)
    }

    /// Paths inside LoRA / modules_to_save wrappers are never targets themselves.
    static func isInternal(_ path: String) -> Bool {
        [".base_layer", ".lora_A", ".lora_B", ".lora_magnitude_vector", ".original_module", ".modules_to_save"]
            .contains { path.contains($0 + ".") || path.hasSuffix($0) }
    }

    func setConfig(_ config: LoRAConfig, for name: String) { configs[name] = config }

    /// Makes `name` the adapter used in forward and the only trainable one (PEFT's set_adapter).
    public func setActiveAdapter(_ name: String) {
        activeAdapter = name
        model.setTrainable(false)
        let config = configs[name]
        for (_, layer) in loraLayers {
            layer.activeAdapters = layer.adapters[name] != nil ? [name] : []
            guard layer.adapters[name] != nil else { continue }
            layer.loraA(name).setTrainable(true)
            layer.loraB(name).setTrainable(true)
            layer.magnitude(name)?.requiresGrad = true
            if config?.bias != Bias.none { layer.base.parameter("bias")?.requiresGrad = true }
        }
        for (_, wrapper) in savedModules where wrapper.copy(name) != nil {
            wrapper.activeAdapter = name
            wrapper.copy(name)?.setTrainable(true)
        }
        if config?.bias == .all {
            for (path, t) in model.namedParameters() where path.hasSuffix(".bias") { t.requiresGrad = true }
        }
    }

    typealias Bias = LoRAConfig.Bias

    /// Runs `body` with every adapter off (PEFT's disable_adapter()).
    public func withAdaptersDisabled<T>(_ body: () throws -> T) rethrows -> T {
        for (_, l) in loraLayers { l.disabled = true }
        for (_, w) in savedModules { w.disabled = true }
        defer {
            for (_, l) in loraLayers { l.disabled = false }
            for (_, w) in savedModules { w.disabled = false }
        }
        return try body()
    }

    public func deleteAdapter(_ name: String) throws {
        guard configs[name] != nil else { throw LoRAError.unknownAdapter(name) }
        for (_, l) in loraLayers { l.deleteAdapter(name) }
        for (_, w) in savedModules {
            w.child("modules_to_save")?.removeChild(name)
            if w.activeAdapter == name { w.activeAdapter = nil }
        }
        configs[name] = nil
        adapterNames.removeAll { $0 == name }
        if activeAdapter == name, let first = adapterNames.first { setActiveAdapter(first) }
    }

    /// PEFT's print_trainable_parameters line. Tied parameters count once.
    public func trainableParametersSummary() -> String {
        var seen = Set<ObjectIdentifier>()
        var (trainable, all) = (0, 0)
        for (_, t) in model.namedParameters() where seen.insert(ObjectIdentifier(t)).inserted {
            all += t.count
            if t.requiresGrad { trainable += t.count }
        }
        let f = NumberFormatter()
        f.numberStyle = .decimal
        f.groupingSeparator = ","
        f.usesGroupingSeparator = true
        func n(_ x: Int) -> String { f.string(from: NSNumber(value: x)) ?? "\(x)" }
        return "trainable params: \(n(trainable)) || all params: \(n(all)) || trainable%: \(String(format: "%.4f", 100 * Double(trainable) / Double(max(all, 1))))"
    }
}
