import Foundation
import ArchitectureKit
import ChatTemplates
import Assets
import Generation
import LoRA
import Tokenizers
import Training

/// Turns a recipe into the pieces the data pipeline and the trainer need: the model (with the head its task asks
/// for), the tokenizer (the recipe's override or the model's own) and the prompt format (`template`).
public enum RecipeSession {
    /// The model head a recipe's task needs.
    public static func head(_ recipe: Recipe) -> TaskHead {
        recipe.task.type == .classification ? .sequenceClassification(numLabels: recipe.task.labels.count) : .causalLM
    }

    /// Loads `model:` (a path relative to the recipe, an absolute path, or an alias).
    public static func loadModel(_ recipe: Recipe, registry: ArchitectureRegistry = .shared) throws -> LoadedModel {
        try PluginLoader.load(recipe.plugins.map(\.path), into: registry)
        return try ModelLoader.load(modelReference(recipe), head: head(recipe), quantization: recipe.storedQuantization, registry: registry)
    }

    /// `model:` as a loader (and PEFT's base_model_name_or_path) takes it: a path relative to the recipe becomes an
    /// absolute one; an absolute path or an alias stays as written.
    public static func modelReference(_ recipe: Recipe) -> String {
        let relative = recipe.directory.appendingPathComponent(recipe.model).standardized.path
        return !recipe.model.hasPrefix("/") && FileManager.default.fileExists(atPath: relative) ? relative : recipe.model
    }

    /// The tokenizer and prompt format a recipe asks for. `model` may be nil when the recipe names its tokenizer and
    /// a template that does not come from the model; otherwise it is loaded.
    public static func tokenizerAndFormat(_ recipe: Recipe, model: LoadedModel? = nil) throws
        -> (tokenizer: any Tokenizer, format: PromptFormat, model: LoadedModel?) {
        var model = model
        func loaded() throws -> LoadedModel {
            if let model { return model }
            let m = try loadModel(recipe)
            model = m
            return m
        }
        let tokenizer = try recipe.explicitTokenizer() ?? loaded().makeTokenizer()
        let format: PromptFormat
        switch recipe.template {
        case .alpaca: format = .alpaca
        case .chatml: format = try PromptFormat.chat(template: BuiltinTemplate.chatml.template(), tokenizer: tokenizer)
        case .llama3: format = try PromptFormat.chat(template: BuiltinTemplate.llama3.template(), tokenizer: tokenizer)
        case .custom(let source):
            do { format = try PromptFormat.chat(template: ChatTemplate(source: source), tokenizer: tokenizer) } catch {
                throw RecipeError(file: recipe.file.path, line: 0, column: 0, path: "template", message: "the template does not parse: \(error)")
            }
        case .model: format = try PromptFormat.chat(template: loaded().chatTemplate(), tokenizer: tokenizer)
        }
        return (tokenizer, format, model)
    }

    /// What `lorakit export` must write for an adapter trained with this recipe: the Jinja source the training text
    /// was rendered with (the Alpaca format as its built-in Jinja equivalent) and the special tokens, pad = `padID`.
    public static func adapterTokens(_ recipe: Recipe, model: LoadedModel?, tokenizer: any Tokenizer, padID: Int32) -> AdapterTokens {
        let name: String, source: String?
        switch recipe.template {
        case .alpaca: (name, source) = ("alpaca", BuiltinTemplate.alpaca.source)
        case .chatml: (name, source) = ("chatml", BuiltinTemplate.chatml.source)
        case .llama3: (name, source) = ("llama3", BuiltinTemplate.llama3.source)
        case .custom(let text): (name, source) = ("custom", text)
        // LoadedModel.chatTemplate() falls back to ChatML when the model ships none; record what was used.
        case .model: (name, source) = ("model", model?.chatTemplateSource ?? BuiltinTemplate.chatml.source)
        }
        func token(_ id: Int?) -> AdapterTokens.Token? {
            guard let id, let content = tokenizer.token(forID: id) else { return nil }
            return AdapterTokens.Token(id: id, content: content)
        }
        return AdapterTokens(chatTemplate: source, template: name, bosToken: token(tokenizer.bosTokenID), eosToken: token(tokenizer.eosTokenID),
                             padToken: token(Int(padID)), unkToken: token(tokenizer.unkTokenID))
    }

}
