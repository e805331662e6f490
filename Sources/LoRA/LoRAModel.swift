import Foundation
import ArchitectureKit
import NN
import TensorCore

public enum LoRAError: Error, CustomStringConvertible {
    case noTargets(String)
    case notLinear(String)
    case unknownAdapter(String)
    case adapterFile(String)
    case weightedAdapter(String)
    case parityCase(String)
    case badConfig(String)
    case nonFinite(String)

    public var description: String {
        switch self {
        case .noTargets(let s), .notLinear(let s), .adapterFile(let s), .weightedAdapter(let s), .parityCase(let s),
             .badConfig(let s), .nonFinite(let s): return s
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

    /// PEFT's get_peft_model: injects adapter `adapterName` into `model` (the base is frozen) and returns the handle.
    public static func inject(into model: any ArchitectureModel, config: LoRAConfig, adapterName: String = "default",
                              plugin: any ArchitecturePlugin.Type, seed: UInt64 = 0) throws -> LoRAModel {
        try LoRAModel(model: model, plugin: plugin, config: config, adapterName: adapterName, seed: seed)
    }

    /// Adds another adapter (PEFT's add_adapter); it becomes trainable only when made active.
    public func addAdapter(_ name: String, config: LoRAConfig, seed: UInt64 = 0) throws {
        guard configs[name] == nil else {
            throw LoRAError.badConfig("an adapter named '\(name)' is already loaded; give the new one another name or delete the old one first")
        }
        try config.validate(source: "adapter '\(name)'")
        var config = config
        if config.taskType == "SEQ_CLS", case .sequenceClassification = model.head {
            // PeftModelForSequenceClassification trains the new head whole: it adds both usual head names.
            let saved = config.modulesToSave ?? []
            config.modulesToSave = saved + ["classifier", "score"].filter { !saved.contains($0) }
        }
        var generator = SeededGenerator(seed: seed)
        var matched: [String] = []
        for (path, module) in model.namedModules() where !path.isEmpty {
            if Self.isInternal(path) { continue }
            guard config.targets(path, defaultTargets: plugin.defaultTargetModules, outputHeads: plugin.outputHeadModules) else { continue }
            let wrapper: LoRALinear
            if let existing = module as? LoRALinear { wrapper = existing }
            else if let linear = module as? any LinearLayer, !(module is ModulesToSaveWrapper) {
                wrapper = LoRALinear(wrapping: linear)
                // Each layer its own dropout stream (identical streams would drop the same features everywhere).
                wrapper.generator = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(matched.count + 1))
                model.replaceModule(at: path, with: wrapper)
            } else {
                if case .names = config.targetModules ?? .names([]) {
                    throw LoRAError.notLinear("target module '\(path)' is a \(type(of: module)), not a linear layer; LoRA wraps linear layers only")
                }
                continue
            }
            let rank = try config.checkedRank(for: path, inFeatures: wrapper.inFeatures, outFeatures: wrapper.outFeatures)
            try wrapper.addAdapter(name, rank: rank, scaling: config.scaling(for: path),
                                   dropout: config.loraDropout, useDoRA: config.useDoRA,
                                   initialization: config.initLoRAWeights, generator: &generator)
            matched.append(path)
        }
        guard !matched.isEmpty else {
            throw LoRAError.noTargets("target modules \(config.targetModules.map { "\($0)" } ?? "\(plugin.defaultTargetModules)") match no linear layer of the \(plugin.name) model")
        }
        for target in config.modulesToSave ?? [] {
            let found = model.namedModules().filter { !Self.isInternal($0.path) && ($0.path == target || $0.path.hasSuffix("." + target)) }
            // PEFT's SEQ_CLS adds both usual head names; a model has only one of them.
            let implied = config.taskType == "SEQ_CLS" && ["classifier", "score"].contains(target)
            if found.isEmpty && !implied {
                throw LoRAError.badConfig("modules_to_save '\(target)' names no module of the \(plugin.name) model")
            }
            for (path, module) in found {
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
    public func setActiveAdapter(_ name: String) { setActiveAdapters([name]) }

    /// Several adapters at once: forward adds every one's contribution (in this order) and all of them train.
    /// `activeAdapter` (the one saved and merged by default) becomes the first.
    public func setActiveAdapters(_ names: [String]) {
        precondition(!names.isEmpty, "at least one adapter must be active")
        activeAdapter = names[0]
        model.setTrainable(false)
        for (_, layer) in loraLayers {
            layer.activeAdapters = names.filter { layer.adapters[$0] != nil }
            for name in layer.activeAdapters {
                layer.loraA(name).setTrainable(true)
                layer.loraB(name).setTrainable(true)
                layer.magnitude(name)?.requiresGrad = true
                if configs[name]?.bias != Bias.none { layer.base.parameter("bias")?.requiresGrad = true }
            }
        }
        for (_, wrapper) in savedModules {
            // A head has one active copy (PEFT's ModulesToSaveWrapper): the first active adapter that has one.
            guard let name = names.first(where: { wrapper.copy($0) != nil }) else { wrapper.activeAdapter = nil; continue }
            wrapper.activeAdapter = name
            wrapper.copy(name)?.setTrainable(true)
        }
        if names.contains(where: { configs[$0]?.bias == .all }) {
            // PEFT: every parameter whose name contains "bias", the frozen original of a saved head included.
            for (path, t) in model.namedParameters() where path.contains("bias") {
                t.requiresGrad = true
            }
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

    /// (trainable, all) parameter counts as PEFT's get_nb_trainable_parameters: every tensor once (tied ones too),
    /// the frozen original of a modules_to_save head and its trainable copy both.
    public func parameterCounts() -> (trainable: Int, all: Int) {
        var seen = Set<ObjectIdentifier>()
        var (trainable, all) = (0, 0)
        for (_, t) in model.namedParameters() where seen.insert(ObjectIdentifier(t)).inserted {
            all += t.count
            if t.requiresGrad { trainable += t.count }
        }
        return (trainable, all)
    }

    /// PEFT's print_trainable_parameters line:
    /// `trainable params: {t:,d} || all params: {a:,d} || trainable%: {100 * t / a:.4f}`.
    public func trainableParametersSummary() -> String {
        let (trainable, all) = parameterCounts()
        let percent = all > 0 ? 100 * Double(trainable) / Double(all) : 0
        return "trainable params: \(Self.grouped(trainable)) || all params: \(Self.grouped(all)) || trainable%: \(String(format: "%.4f", percent))"
    }

    public func printTrainableParameters() { print(trainableParametersSummary()) }

    /// Python's `{:,d}`: thousands separated by commas whatever the locale.
    static func grouped(_ n: Int) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }
}
