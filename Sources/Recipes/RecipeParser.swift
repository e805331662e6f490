import Foundation
import LoRA
import TensorCore
import Training

extension Recipe {
    /// Reads a recipe file, applies `--set` overrides, and validates every key.
    public static func load(_ url: URL, overrides: [String] = []) throws -> Recipe {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw RecipeError(file: url.path, line: 0, column: 0, path: "", message: "cannot read the recipe: \(error.localizedDescription)")
        }
        return try parse(text, file: url, overrides: overrides)
    }

    public static func parse(_ text: String, file: URL, overrides: [String] = []) throws -> Recipe {
        var root = try RecipeNode.parse(text, file: file.path)
        for o in overrides { try root.apply(override: o) }
        var resolved = text
        if !overrides.isEmpty { resolved += "\n# --set overrides:\n" + overrides.map { "#   \($0)" }.joined(separator: "\n") + "\n" }
        return try decode(root, file: file, resolvedText: resolved)
    }

    static func decode(_ root: RecipeNode, file: URL, resolvedText: String) throws -> Recipe {
        var top = try SchemaReader(root, path: "")
        let dir = file.deletingLastPathComponent()
        func resolve(_ p: String) -> URL { p.hasPrefix("/") ? URL(fileURLWithPath: p) : dir.appendingPathComponent(p).standardizedFileURL }

        guard let model = try top.string("model") else {
            throw SchemaReader.error(root.location, "model", "missing: a model directory, GGUF file or alias (e.g. smollm2-135m-instruct)")
        }
        let tokenizer = try top.string("tokenizer")

        // template: a built-in name, `model`, or {source: text} / {file: path}.
        var template = TemplateChoice.model
        if let node = top.node("template") {
            switch node {
            case .scalar(let s, _, _):
                switch s {
                case "alpaca": template = .alpaca
                case "chatml": template = .chatml
                case "llama3": template = .llama3
                case "model": template = .model
                default:
                    throw SchemaReader.error(node.location, "template", "expected alpaca | chatml | llama3 | model | {source: …} | {file: …}, found '\(s)'"
                                             + SchemaReader.suggestion(s, ["alpaca", "chatml", "llama3", "model"]))
                }
            default:
                var t = try SchemaReader(node, path: "template")
                if let source = try t.string("source") { template = .custom(source) } else if let path = try t.string("file") {
                    guard let text = try? String(contentsOf: resolve(path), encoding: .utf8) else {
                        throw SchemaReader.error(node.location, "template.file", "cannot read \(resolve(path).path)")
                    }
                    template = .custom(text)
                } else {
                    throw SchemaReader.error(node.location, "template", "expected a 'source' (template text) or a 'file'")
                }
                try t.finish()
            }
        }

        // task: a type name, or {type, train_on, labels}.
        var task = TaskSettings(type: .sft, masking: .prompt)
        if let node = top.node("task") {
            var typeName: String?, trainOn: String?, labels: [String]?
            if case .scalar(let s, _, _) = node { typeName = s } else {
                var t = try SchemaReader(node, path: "task")
                typeName = try t.string("type", oneOf: TaskType.allCases.map(\.rawValue))
                trainOn = try t.string("train_on", oneOf: ["responses", "last_response", "all"])
                labels = try t.stringList("labels")
                try t.finish()
            }
            if let typeName {
                guard let type = TaskType(rawValue: typeName) else {
                    throw SchemaReader.error(node.location, "task", "expected causal_lm | sft | classification, found '\(typeName)'"
                                             + SchemaReader.suggestion(typeName, TaskType.allCases.map(\.rawValue)))
                }
                task.type = type
            }
            task.masking = switch trainOn {
            case "all": .none
            case "last_response": .allButLastResponse
            case "responses": .prompt
            default: task.type == .causalLM ? .none : .prompt
            }
            task.labels = labels ?? []
            if task.type == .classification && task.labels.count < 2 {
                throw SchemaReader.error(node.location, "task.labels", "classification needs the label names in class order (at least two)")
            }
        }

        // datasets: a list of {path, type, fields, filter, on_bad_line, validation_split | validation_file}.
        guard let datasetsNode = top.node("datasets") else {
            throw SchemaReader.error(root.location, "datasets", "missing: a list of datasets, each with a path and a type")
        }
        guard case .list(let items, _) = datasetsNode, !items.isEmpty else {
            throw SchemaReader.error(datasetsNode.location, "datasets", "expected a non-empty list of datasets")
        }
        let datasets = try items.enumerated().map { i, item -> DatasetSpec in
            var d = try SchemaReader(item, path: "datasets[\(i)]")
            guard let path = try d.string("path") else { throw SchemaReader.error(item.location, "datasets[\(i)].path", "missing: a JSONL file") }
            guard let typeName = try d.string("type", oneOf: DatasetType.allCases.map(\.rawValue)) else {
                throw SchemaReader.error(item.location, "datasets[\(i)].type", "missing: one of \(DatasetType.allCases.map(\.rawValue).joined(separator: " | "))")
            }
            let type = DatasetType(rawValue: typeName)!
            let fieldsNode = d.node("fields")
            let fields = try d.stringMap("fields") ?? [:]
            if let fieldsNode {
                for role in fields.keys where type.defaultFields[role] == nil {
                    throw SchemaReader.error(fieldsNode.location, "datasets[\(i)].fields.\(role)", "'\(type.rawValue)' datasets have no field role '\(role)'; "
                                             + "expected \(type.defaultFields.keys.sorted().joined(separator: ", "))" + SchemaReader.suggestion(role, Array(type.defaultFields.keys)))
                }
            }
            var filter: FilterExpression?
            let filterNode = d.node("filter")
            if let text = try d.string("filter") {
                do { filter = try FilterExpression(text) } catch let e as FilterError {
                    let at = filterNode!.location
                    throw RecipeError(file: at.file, line: at.line, column: at.column + e.column - 1, path: "datasets[\(i)].filter", message: e.description)
                }
            }
            let onBadLine = try d.string("on_bad_line", oneOf: BadLinePolicy.allCases.map(\.rawValue)).flatMap(BadLinePolicy.init) ?? .error
            let split = try d.double("validation_split", range: 0...0.9)
            let validationFile = try d.string("validation_file").map(resolve)
            try d.finish()
            if type == .classification && task.type != .classification || type != .classification && task.type == .classification {
                throw SchemaReader.error(item.location, "datasets[\(i)].type", "a '\(type.rawValue)' dataset does not fit task '\(task.type.rawValue)'")
            }
            return DatasetSpec(path: resolve(path), type: type, fields: fields, filter: filter, onBadLine: onBadLine,
                               validationFraction: split, validationPath: validationFile)
        }

        // lora: PEFT LoraConfig keys, type-checked here, decoded by the LoRA layer.
        var lora: [String: JSONValue] = [:]
        let loraNode = top.node("lora")
        if let node = loraNode {
            var l = try SchemaReader(node, path: "lora")
            if let v = try l.int("r", minimum: 1) { lora["r"] = .int(Int64(v)) }
            if let v = try l.double("lora_alpha", range: 0...1e6) { lora["lora_alpha"] = .double(v) }
            if let v = try l.double("lora_dropout", range: 0...0.99) { lora["lora_dropout"] = .double(v) }
            if let targetNode = l.node("target_modules") {
                if case .scalar(let s, _, _) = targetNode { lora["target_modules"] = .string(s) } else {
                    lora["target_modules"] = .array(try l.stringList("target_modules")!.map { .string($0) })
                }
            }
            if let v = try l.string("bias", oneOf: ["none", "all", "lora_only"]) { lora["bias"] = .string(v) }
            if let v = try l.bool("use_rslora") { lora["use_rslora"] = .bool(v) }
            if let v = try l.bool("use_dora") { lora["use_dora"] = .bool(v) }
            if let v = try l.stringList("modules_to_save") { lora["modules_to_save"] = .array(v.map { .string($0) }) }
            if let v = try l.bool("fan_in_fan_out") { lora["fan_in_fan_out"] = .bool(v) }
            if let v = try l.string("init_lora_weights", oneOf: ["true", "false", "gaussian"]) {
                lora["init_lora_weights"] = v == "gaussian" ? .string(v) : .bool(v == "true")
            }
            try l.finish()
        }
        let loraConfig: LoRAConfig
        do { loraConfig = try LoRAConfig(json: lora.mapValues(\.foundationObject), source: "lora") } catch let e as LoRAConfigError {
            throw SchemaReader.error(loraNode?.location ?? root.location, "lora.\(e.key)", e.message)
        }

        var training = TrainingSettings()
        if let node = top.node("training") {
            var t = try SchemaReader(node, path: "training")
            training.maxSteps = try t.int("max_steps", minimum: 1)
            training.epochs = try t.double("num_epochs", range: 0.001...1e6)
            if let v = try t.doubleOrAuto("learning_rate") { training.learningRate = v }
            if let v = try t.string("lr_scheduler", oneOf: LearningRateSchedule.allCases.map(\.rawValue)) { training.schedule = LearningRateSchedule(rawValue: v)! }
            training.warmupSteps = try t.int("warmup_steps", minimum: 0)
            training.warmupRatio = try t.double("warmup_ratio", range: 0...1)
            if let v = try t.intOrAuto("batch_size") { training.batchSize = v }
            if let v = try t.int("gradient_accumulation_steps", minimum: 1) { training.gradientAccumulationSteps = v }
            if let maxNormNode = t.node("max_grad_norm") {
                _ = maxNormNode
                training.maxGradNorm = try t.double("max_grad_norm", range: 0...1e9).flatMap { $0 > 0 ? $0 : nil }
            }
            if let v = try t.double("weight_decay", range: 0...10) { training.weightDecay = v }
            if let v = try t.double("adam_beta1", range: 0...0.999999) { training.adamBeta1 = v }
            if let v = try t.double("adam_beta2", range: 0...0.999999) { training.adamBeta2 = v }
            if let v = try t.double("adam_epsilon", range: 0...1) { training.adamEpsilon = v }
            if let v = try t.int("seed", minimum: 0) { training.seed = UInt64(v) }
            if let v = try t.int("max_seq_length", minimum: 8) { training.maxSeqLength = v }
            if let v = try t.bool("packing") { training.packing = v }
            if let v = try t.bool("gradient_checkpointing") { training.gradientCheckpointing = v }
            if let v = try t.string("precision", oneOf: WeightPrecision.allCases.map(\.rawValue)) { training.precision = WeightPrecision(rawValue: v)! }
            training.memoryBudgetGB = try t.double("memory_budget_gb", range: 0.1...1e5)
            try t.finish()
            if training.maxSteps != nil && training.epochs != nil {
                throw SchemaReader.error(node.location, "training", "give max_steps or num_epochs, not both")
            }
        }

        var eval = EvalSettings()
        if let node = top.node("eval") {
            var e = try SchemaReader(node, path: "eval")
            eval.every = try e.int("every", minimum: 1)
            eval.maxBatches = try e.int("max_batches", minimum: 1)
            try e.finish()
        }

        var save = SaveSettings(outputDir: resolve("outputs/\(file.deletingPathExtension().lastPathComponent)"))
        if let node = top.node("save") {
            var s = try SchemaReader(node, path: "save")
            if let dir = try s.string("output_dir") { save.outputDir = resolve(dir) }
            save.saveEvery = try s.int("save_every", minimum: 1)
            save.keepLast = try s.int("keep_last", minimum: 1)
            if let v = try s.bool("save_best") { save.saveBest = v }
            save.earlyStoppingPatience = try s.int("early_stopping_patience", minimum: 1)
            try s.finish()
        }

        var loggingEvery = 1
        if let node = top.node("logging") {
            var l = try SchemaReader(node, path: "logging")
            loggingEvery = try l.int("every", minimum: 1) ?? 1
            try l.finish()
        }

        var sample: SampleSettings?
        if let node = top.node("sample") {
            var s = try SchemaReader(node, path: "sample")
            guard let prompt = try s.string("prompt") else { throw SchemaReader.error(node.location, "sample.prompt", "missing: the prompt to generate from") }
            sample = SampleSettings(prompt: prompt, maxNewTokens: try s.int("max_new_tokens", minimum: 1) ?? 48)
            try s.finish()
        }
        try top.finish()
        return Recipe(file: file, resolvedText: resolvedText, model: model, tokenizer: tokenizer, template: template, datasets: datasets,
                      task: task, lora: lora, loraConfig: loraConfig, training: training, eval: eval, save: save, loggingEvery: loggingEvery, sample: sample)
    }
}
