// The LoRAKit library: one import for applications, re-exporting every layer.
@_exported import TensorCore
@_exported import NN
@_exported import ModelFormats
@_exported import ArchitectureKit
@_exported import LoRA
@_exported import Tokenizers
@_exported import ChatTemplates
@_exported import Assets
@_exported import Generation
@_exported import Training
@_exported import Recipes
import LlamaPlugin
import GPT2Plugin
import BERTPlugin
import FalconPlugin

/// Registers the architectures that ship with LoRAKit. Swift runs no code on import, so applications call this once.
public func registerBuiltinArchitectures(in registry: ArchitectureRegistry = .shared) {
    registry.register(LlamaArchitecture.self)
    registry.register(GPT2Architecture.self)
    registry.register(BERTArchitecture.self)
    registry.register(FalconArchitecture.self)
}
