import Foundation

/// Reading and writing adapter_config.json (and the `lora:` section of recipes) with PEFT's keys.
public struct LoRAConfigError: Error, CustomStringConvertible, Equatable {
    public let key: String
    public let message: String
    public let source: String
    public var description: String { "\(source): \"\(key)\": \(message)" }
}

extension LoRAConfig {
    public init(contentsOf url: URL) throws {
        let data = try Data(contentsOf: url)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LoRAConfigError(key: "", message: "expected a JSON object", source: url.path)
        }
        try self.init(json: object, source: url.path)
    }

    /// Decodes PEFT's keys; wrong types or values are errors naming the key, unknown keys are kept.
    public init(json: [String: Any], source: String = "adapter_config.json") throws {
        self.init()
        func fail(_ key: String, _ message: String) -> LoRAConfigError { LoRAConfigError(key: key, message: message, source: source) }
        func number(_ key: String) throws -> Double? {
            guard let v = json[key], !(v is NSNull) else { return nil }
            guard let n = v as? NSNumber, String(cString: n.objCType) != "c" else { throw fail(key, "expected a number, found \(v)") }
            return n.doubleValue
        }
        func integer(_ key: String) throws -> Int? {
            guard let d = try number(key) else { return nil }
            guard d == d.rounded() else { throw fail(key, "expected an integer, found \(d)") }
            return Int(d)
        }
        func flag(_ key: String) throws -> Bool? {
            guard let v = json[key], !(v is NSNull) else { return nil }
            guard let n = v as? NSNumber, String(cString: n.objCType) == "c" else { throw fail(key, "expected true or false, found \(v)") }
            return n.boolValue
        }
        func strings(_ key: String) throws -> [String]? {
            guard let v = json[key], !(v is NSNull) else { return nil }
            if let s = v as? String { return [s] }
            guard let a = v as? [Any], let s = a as? [String] else { throw fail(key, "expected a list of strings, found \(v)") }
            return s
        }
        func targets(_ key: String) throws -> TargetModules? {
            guard let v = json[key], !(v is NSNull) else { return nil }
            if let s = v as? String { return s == "all-linear" ? .allLinear : .regex(s) }
            guard let list = v as? [Any], let names = list as? [String] else { throw fail(key, "expected a list of module names or a regex string, found \(v)") }
            return .names(names)
        }
        if let v = try integer("r") {
            guard v > 0 else { throw fail("r", "the rank must be a positive integer, found \(v)") }
            r = v
        }
        if let v = try number("lora_alpha") {
            guard v.isFinite && v >= 0 else { throw fail("lora_alpha", "expected a finite number ≥ 0 (the LoRA scale is lora_alpha / r), found \(v)") }
            loraAlpha = v
        }
        if let v = try number("lora_dropout") {
            guard v >= 0 && v < 1 else { throw fail("lora_dropout", "expected a probability in [0, 1), found \(v)") }
            loraDropout = v
        }
        targetModules = try targets("target_modules")
        excludeModules = try targets("exclude_modules")
        if let v = json["bias"], !(v is NSNull) {
            guard let s = v as? String, let b = Bias(rawValue: s) else { throw fail("bias", "expected \"none\", \"all\" or \"lora_only\", found \(v)") }
            bias = b
        }
        // PEFT may list a head twice (SEQ_CLS adds "classifier" and "score" to the user's list); keep the first.
        modulesToSave = try strings("modules_to_save").map { names in
            var seen = Set<String>()
            return names.filter { seen.insert($0).inserted }
        }
        if let v = json["layers_to_transform"], !(v is NSNull) {
            if let n = v as? Int { layersToTransform = [n] }
            else if let a = v as? [Int] { layersToTransform = a }
            else { throw fail("layers_to_transform", "expected an integer or a list of integers, found \(v)") }
        }
        layersPattern = try strings("layers_pattern")
        if let v = json["rank_pattern"], !(v is NSNull) {
            guard let d = v as? [String: Any] else { throw fail("rank_pattern", "expected an object of module pattern → rank") }
            rankPattern = try d.mapValues { x in
                guard let n = x as? Int, n > 0 else { throw fail("rank_pattern", "ranks must be positive integers, found \(x)") }
                return n
            }
        }
        if let v = json["alpha_pattern"], !(v is NSNull) {
            guard let d = v as? [String: Any] else { throw fail("alpha_pattern", "expected an object of module pattern → alpha") }
            alphaPattern = try d.mapValues { x in
                guard let n = x as? NSNumber else { throw fail("alpha_pattern", "alphas must be numbers, found \(x)") }
                return n.doubleValue
            }
        }
        useRSLoRA = try flag("use_rslora") ?? false
        useDoRA = try flag("use_dora") ?? false
        fanInFanOut = try flag("fan_in_fan_out") ?? false
        inferenceMode = try flag("inference_mode") ?? false
        if let v = json["init_lora_weights"], !(v is NSNull) {
            if let n = v as? NSNumber, String(cString: n.objCType) == "c" { initLoRAWeights = n.boolValue ? .kaiming : .random }
            else if let s = v as? String {
                switch s {
                case "gaussian": initLoRAWeights = .gaussian
                // pissa_niter_N is PEFT's randomized SVD of the same factorisation; LoRAKit computes it exactly.
                case "pissa", _ where s.hasPrefix("pissa_niter_") && Int(s.dropFirst("pissa_niter_".count)) != nil:
                    initLoRAWeights = .pissa
                default: throw fail("init_lora_weights", "supported: true, false, \"gaussian\", \"pissa\", \"pissa_niter_<n>\"; found \"\(s)\"")
                }
            } else { throw fail("init_lora_weights", "expected true, false or a method name, found \(v)") }
        }
        if let v = json["peft_type"] as? String, v != "LORA" { throw fail("peft_type", "LoRAKit reads LORA adapters, found \(v)") }
        taskType = json["task_type"] as? String
        baseModelNameOrPath = json["base_model_name_or_path"] as? String
        revision = json["revision"] as? String
        try validateCombinations(json, fail)
        otherKeys = json.filter { !Self.configurationKeys.contains($0.key) }
    }

    /// The PEFT keys this decoder reads; adapter_config.json's other keys are kept as they are (`otherKeys`).
    public static let configurationKeys: Set<String> = [
        "r", "lora_alpha", "lora_dropout", "target_modules", "exclude_modules", "bias", "modules_to_save",
        "layers_to_transform", "layers_pattern", "rank_pattern", "alpha_pattern", "use_rslora", "use_dora",
        "init_lora_weights", "fan_in_fan_out", "task_type", "base_model_name_or_path", "revision", "inference_mode", "peft_type",
    ]

    /// PEFT's own consistency rules (LoraConfig.__post_init__), and the PEFT features LoRAKit does not implement:
    /// an adapter that uses one of them is refused rather than silently computed without it.
    private func validateCombinations(_ json: [String: Any], _ fail: (String, String) -> LoRAConfigError) throws {
        let stringTargets: Bool
        switch targetModules { case .regex?, .allLinear?: stringTargets = true; default: stringTargets = false }
        if stringTargets && layersToTransform != nil {
            throw fail("layers_to_transform", "cannot be used when target_modules is a string (a regex or \"all-linear\"); list the module names instead")
        }
        if stringTargets && layersPattern != nil {
            throw fail("layers_pattern", "cannot be used when target_modules is a string (a regex or \"all-linear\")")
        }
        if let p = layersPattern, !p.isEmpty, layersToTransform == nil {
            throw fail("layers_pattern", "needs layers_to_transform (the layer indices the pattern selects)")
        }
        for (key, feature) in Self.unsupportedFeatures {
            guard let v = json[key], Self.isSet(v) else { continue }
            throw fail(key, "\(feature) is not supported by LoRAKit (found \(v)); only plain LoRA, rsLoRA, DoRA and PiSSA adapters are")
        }
    }

    /// PEFT keys whose non-default value changes what the adapter computes, with what they enable.
    public static let unsupportedFeatures: [(String, String)] = [
        ("lora_bias", "a bias on lora_B (lora_bias)"), ("use_qalora", "QALoRA"), ("layer_replication", "layer replication"),
        ("target_parameters", "LoRA on nn.Parameter targets (target_parameters)"),
        ("trainable_token_indices", "trainable tokens"), ("alora_invocation_tokens", "activated LoRA (aLoRA)"),
        ("use_bdlora", "block-diagonal LoRA"), ("arrow_config", "Arrow routing"), ("monteclora_config", "MonteCLoRA"),
        ("velora_config", "VeLoRA"), ("kasa_config", "KaSA"), ("megatron_config", "Megatron parallel layers"),
    ]

    /// Whether a JSON value is anything but PEFT's "off": null, false, an empty list or object.
    static func isSet(_ v: Any) -> Bool {
        if v is NSNull { return false }
        if let n = v as? NSNumber, String(cString: n.objCType) == "c" { return n.boolValue }
        if let a = v as? [Any] { return !a.isEmpty }
        if let d = v as? [String: Any] { return !d.isEmpty }
        return true
    }

    /// adapter_config.json's object, PEFT's keys.
    public func jsonObject() throws -> [String: Any] {
        func encode(_ t: TargetModules?) -> Any {
            switch t {
            case .none: return NSNull()
            case .names(let n)?: return n
            case .regex(let r)?: return r
            case .allLinear?: return "all-linear"
            }
        }
        var o = otherKeys
        o["peft_type"] = "LORA"
        o["r"] = r
        o["lora_alpha"] = loraAlpha == loraAlpha.rounded() ? Int(loraAlpha) as Any : loraAlpha
        o["lora_dropout"] = loraDropout
        o["target_modules"] = encode(targetModules)
        o["exclude_modules"] = encode(excludeModules)
        o["bias"] = bias.rawValue
        o["modules_to_save"] = modulesToSave ?? NSNull() as Any
        o["layers_to_transform"] = layersToTransform ?? NSNull() as Any
        o["layers_pattern"] = layersPattern ?? NSNull() as Any
        o["rank_pattern"] = rankPattern
        o["alpha_pattern"] = alphaPattern.mapValues { $0 == $0.rounded() ? Int($0) as Any : $0 }
        o["use_rslora"] = useRSLoRA
        o["use_dora"] = useDoRA
        switch initLoRAWeights {
        case .kaiming: o["init_lora_weights"] = true
        case .random: o["init_lora_weights"] = false
        case .gaussian: o["init_lora_weights"] = "gaussian"
        case .pissa: o["init_lora_weights"] = "pissa"
        }
        o["fan_in_fan_out"] = fanInFanOut
        o["task_type"] = taskType ?? NSNull() as Any
        o["base_model_name_or_path"] = baseModelNameOrPath ?? NSNull() as Any
        o["revision"] = revision ?? NSNull() as Any
        o["inference_mode"] = inferenceMode
        return o
    }

    public func jsonData() throws -> Data {
        try JSONSerialization.data(withJSONObject: jsonObject(), options: [.prettyPrinted, .sortedKeys])
    }
}
